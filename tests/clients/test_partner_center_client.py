"""PartnerCenterClient on the sandbox over HTTPS: retries, throttling, idempotent purchase, paging, auth."""

import logging
import time
import uuid

import pytest

from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from shared.clients.auth import PartnerCredential
from shared.clients.errors import (
    AppUserRequiredError,
    CallIds,
    NoRelationshipError,
    PartnerCenterError,
    PartnerCenterRetryLaterError,
    TokenAcquisitionError,
    UnauthorizedError,
    partner_center_error,
)
from shared.clients.partner_center import PartnerCenterClient
from shared.clients.pipeline import ThrottleRetryPolicy
from shared.resources.commerce import CartLineItem
from shared.settings import Settings
from tests.fixtures.clients import api_calls, make_credential

pytestmark = pytest.mark.scenario("default", access="granted")  # not about access: it is pre-granted

REPLACEMENT = "O365_E3_NO_TEAMS"  # on sale; the with-Teams E3 is not purchasable any more


def e3_line(sandbox: SandboxHandle, quantity: int = 2) -> CartLineItem:
    # The no-Teams suite's SKU enforces attestation: its cart line accepts it.
    return CartLineItem(
        sandbox.ids.catalog_items[REPLACEMENT], quantity, "P1Y", "monthly", attestation_accepted=True
    )


def test_short_retry_after_is_slept_then_the_call_succeeds(sandbox, partner_center, sleeps):
    contoso = sandbox.customer("contoso")
    sandbox.set_knobs(rate_limits={"partner_center": {"limit": 2, "window_s": 2}})
    partner_center.get_customer(contoso)
    partner_center.get_customer(contoso)

    customer = partner_center.get_customer(contoso)

    assert customer.id == contoso
    assert sleeps.waits == [1.0]
    assert [r["status"] for r in api_calls(sandbox, "partner_center", contoso)] == [200, 200, 429, 200]


def test_long_retry_after_surfaces_as_retry_later_without_sleeping(sandbox, partner_center, sleeps):
    contoso = sandbox.customer("contoso")
    sandbox.set_knobs(rate_limits={"partner_center": {"limit": 1, "window_s": 600}})
    partner_center.get_customer(contoso)

    with pytest.raises(PartnerCenterRetryLaterError) as caught:
        partner_center.get_customer(contoso)

    assert caught.value.retry_after == 600
    assert caught.value.retryable
    assert sleeps.waits == []
    assert [r["status"] for r in api_calls(sandbox, "partner_center", contoso)] == [200, 429]


def test_server_errors_are_retried_then_the_call_succeeds(sandbox, partner_center, sleeps):
    contoso = sandbox.customer("contoso")
    sandbox.add_fault("status", service="partner_center", status=503, path=f"/customers/{contoso}$", times=2)

    assert partner_center.get_customer(contoso).id == contoso
    assert [r["status"] for r in api_calls(sandbox, "partner_center", contoso)] == [503, 503, 200]
    assert len(sleeps.waits) == 2
    assert sleeps.waits[0] < sleeps.waits[1] <= 0.1


def test_a_read_timeout_is_retried(sandbox, credential, retry, caplog):
    contoso = sandbox.customer("contoso")
    caplog.set_level(logging.INFO, logger="shared.http")
    sandbox.add_fault("delay", service="partner_center", path=f"/customers/{contoso}$", delay_s=1.0)
    endpoint = sandbox.partner_center_endpoint
    with PartnerCenterClient(
        endpoint, credential, verify=sandbox.ca_bundle, retry=retry, read_timeout=0.3
    ) as pc:
        pc.get_relationship_request_url()  # token first: only the customer read is slowed

        assert pc.get_customer(contoso).id == contoso

    attempts = [r.getMessage() for r in caplog.records if "/v1/customers/{customer_id}" in r.getMessage()]
    assert len(attempts) == 2
    assert "ServiceResponseTimeoutError" in attempts[0]
    assert "-> 200" in attempts[1]
    # The sandbox records the abandoned attempt only once its delay is over; wait for it, so the
    # record cannot land in the next test's ledger.
    deadline = time.monotonic() + 5
    while len(api_calls(sandbox, "partner_center", contoso)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(api_calls(sandbox, "partner_center", contoso)) == 2


def test_retries_are_bounded_and_end_in_a_retryable_error(sandbox, partner_center):
    contoso = sandbox.customer("contoso")
    sandbox.add_fault("status", service="partner_center", status=503, path=f"/customers/{contoso}$", times=-1)

    with pytest.raises(PartnerCenterError) as caught:
        partner_center.get_customer(contoso)

    assert caught.value.status == 503
    assert caught.value.retryable
    assert len(api_calls(sandbox, "partner_center", contoso)) == 4


def test_purchase_dropped_after_commit_is_retried_with_the_same_request_id_and_buys_once(
    sandbox, partner_center
):
    contoso = sandbox.customer("contoso")
    cart = partner_center.create_cart(contoso, [e3_line(sandbox)], request_id=str(uuid.uuid4()))
    sandbox.add_fault("drop_after_commit", service="partner_center", method="POST", path="/checkout$")

    result = partner_center.checkout_cart(contoso, cart.id, request_id=str(uuid.uuid4()))

    purchases = sandbox.purchases()
    assert len(purchases) == 1
    assert result.order_errors == ()
    assert [o.id for o in result.orders] == [purchases[0]["order_id"]]
    assert [r["status"] for r in api_calls(sandbox, "partner_center", "/checkout")] == [0, 201]


def test_the_same_request_id_on_a_later_retry_does_not_buy_again(sandbox, partner_center):
    contoso = sandbox.customer("contoso")
    request_id = str(uuid.uuid4())
    cart = partner_center.create_cart(contoso, [e3_line(sandbox)], request_id=str(uuid.uuid4()))

    first = partner_center.checkout_cart(contoso, cart.id, request_id=request_id)
    again = partner_center.checkout_cart(contoso, cart.id, request_id=request_id)

    assert again == first
    assert len(sandbox.purchases()) == 1


def test_bought_subscription_is_listed_and_provisioned(sandbox, partner_center):
    contoso = sandbox.customer("contoso")
    cart = partner_center.create_cart(contoso, [e3_line(sandbox, 3)], request_id=str(uuid.uuid4()))
    order = partner_center.checkout_cart(contoso, cart.id, request_id=str(uuid.uuid4())).orders[0]
    subscription_id = order.line_items[0].subscription_id
    assert subscription_id is not None

    [subscription] = [s for s in partner_center.list_subscriptions(contoso) if s.id == subscription_id]
    status = partner_center.get_subscription_provisioning_status(contoso, subscription_id)

    assert subscription.quantity == 3
    assert subscription.offer_id == sandbox.ids.catalog_items[REPLACEMENT]
    [listed] = [o for o in partner_center.list_orders(contoso) if o.id == order.id]
    assert listed.line_items[0].quantity == 3
    assert status.sku_id == sandbox.ids.skus[REPLACEMENT]


def test_catalog_walk_reaches_a_purchasable_catalog_item(sandbox, partner_center):
    contoso = sandbox.customer("contoso")
    wanted = sandbox.ids.catalog_items[REPLACEMENT]
    product_id, sku_id, _ = wanted.split(":")

    products = {p.id for p in partner_center.list_products(contoso)}
    skus = list(partner_center.list_skus(contoso, product_id))
    availabilities = list(partner_center.list_availabilities(contoso, product_id, sku_id))

    assert product_id in products
    assert sandbox.ids.skus[REPLACEMENT] in {s.provisioning_id for s in skus}
    assert wanted in {a.catalog_item_id for a in availabilities if a.is_purchasable}


def test_customers_are_listed_lazily_page_by_page(sandbox, partner_center):
    customers = partner_center.list_customers(page_size=1)

    first = next(customers)
    pages_after_first = len(api_calls(sandbox, "partner_center", "/v1/customers"))
    rest = list(customers)

    assert pages_after_first == 1
    listed = {first.id, *(c.id for c in rest)}
    pending = (
        "fabrikam",
        "adatum",
        "relecloud",
        "lamna",
        "litware",
        "fineartschool",
        "treyresearch",
    )  # invitations pending
    accepted = {v for k, v in sandbox.ids.customers.items() if k not in pending}
    assert listed == accepted
    assert len(api_calls(sandbox, "partner_center", "/v1/customers")) >= 3


def test_expired_token_is_refreshed_once_and_the_call_succeeds(sandbox, retry):
    contoso = sandbox.customer("contoso")
    sandbox.set_knobs(token_lifetime_s=2)  # whole seconds: valid for at least one after it is issued
    frozen = time.time()  # the client believes its token is fresh; the service knows it expired
    credential = make_credential(sandbox, clock=lambda: frozen, refresh_margin=0)
    with PartnerCenterClient(
        sandbox.partner_center_endpoint, credential, verify=sandbox.ca_bundle, retry=retry
    ) as pc:
        pc.get_customer(contoso)
        time.sleep(2.1)

        assert pc.get_customer(contoso).id == contoso

    assert [r["status"] for r in api_calls(sandbox, "partner_center", contoso)] == [200, 401, 200]
    assert len(api_calls(sandbox, "entra", "/oauth2/v2.0/token")) == 2


def test_a_token_refused_twice_is_a_clear_unauthorized_error(sandbox, partner_center):
    contoso = sandbox.customer("contoso")
    sandbox.set_knobs(token_lifetime_s=0)

    with pytest.raises(UnauthorizedError) as caught:
        partner_center.get_customer(contoso)

    assert caught.value.status == 401
    assert not caught.value.retryable
    assert [r["status"] for r in api_calls(sandbox, "partner_center", contoso)] == [401, 401]


def test_app_user_operations_use_the_refresh_token_flow(sandbox, partner_center):
    url = partner_center.get_relationship_request_url()
    profile = partner_center.get_company_profile(sandbox.customer("contoso"))

    assert "partner-invitation" in url
    assert profile.tenant_id == sandbox.customer("contoso")


def test_refused_app_only_token_is_named(sandbox):
    token = sandbox.mint_token(tenant_id=sandbox.partner_tenant_id, app_only=True)
    session = sandbox.http_session()
    headers = {"Authorization": f"Bearer {token}", "MS-Contract-Version": "v1"}
    answer = session.get(
        f"{sandbox.partner_center_endpoint}/v1/customers/relationshiprequests", headers=headers
    )
    assert isinstance(
        partner_center_error(answer.status_code, answer.content, CallIds()), AppUserRequiredError
    )


def test_customer_without_relationship_is_no_relationship_error(sandbox, partner_center):
    with pytest.raises(NoRelationshipError) as caught:
        partner_center.get_customer(sandbox.customer("fabrikam"))

    assert caught.value.code == "20002"
    assert caught.value.request_id


def test_webhook_registration_is_created_then_updated(sandbox, partner_center):
    url = "https://127.0.0.1:7071/api/webhooks/partner-center"
    created = partner_center.create_or_update_webhook_registration(url, ["test-created"])
    updated = partner_center.create_or_update_webhook_registration(
        url, ["test-created", "reseller-relationship-accepted-by-customer"]
    )

    assert created.webhook_events == ("test-created",)
    assert partner_center.get_webhook_registration() == updated
    assert set(updated.webhook_events) == {"test-created", "reseller-relationship-accepted-by-customer"}
    assert partner_center.send_test_webhook()


def test_logs_name_the_operation_without_ids_or_tokens(sandbox, partner_center, caplog):
    contoso = sandbox.customer("contoso")
    caplog.set_level(logging.INFO, logger="shared.http")

    partner_center.get_customer(contoso)

    text = caplog.text
    assert "GET /v1/customers/{customer_id} -> 200" in text
    assert contoso not in text
    assert "Bearer" not in text
    assert "eyJ" not in text


def test_requests_ca_bundle_elsewhere_does_not_replace_the_given_ca(
    sandbox, credential, monkeypatch, tmp_path
):
    empty = tmp_path / "other-ca.pem"
    empty.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(empty))
    retry = ThrottleRetryPolicy(max_attempts=1)
    with PartnerCenterClient(
        sandbox.partner_center_endpoint, credential, verify=sandbox.ca_bundle, retry=retry
    ) as pc:
        assert pc.get_customer(sandbox.customer("contoso")).relationship_to_partner == "reseller"


def test_composition_root_reaches_both_services_with_one_credential(sandbox, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox.ca_bundle)
    clients = Services(Settings(sandbox.env()))
    try:
        contoso = sandbox.customer("contoso")

        assert clients.partner_center.get_customer(contoso).id == contoso
        assert list(clients.graph.list_subscribed_skus(contoso))
    finally:
        clients.close()


def test_refused_secret_is_a_token_error_that_does_not_repeat_the_secret(sandbox, retry):
    credential = PartnerCredential(
        tenant_id=sandbox.partner_tenant_id,
        client_id=sandbox.client_id,
        client_secret="not-the-secret",
        authority_host=sandbox.authority_host,
        verify=sandbox.ca_bundle,
    )
    with (
        PartnerCenterClient(
            sandbox.partner_center_endpoint, credential, verify=sandbox.ca_bundle, retry=retry
        ) as pc,
        pytest.raises(TokenAcquisitionError) as caught,
    ):
        pc.get_customer(sandbox.customer("contoso"))

    assert caught.value.error == "invalid_client"
    assert "not-the-secret" not in str(caught.value)
    assert api_calls(sandbox, "partner_center", "/v1/customers/" + sandbox.customer("contoso")) == []
