"""Partner Center: documented shapes, purchases seen by both APIs, idempotency and the error codes."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from typing import Any

import pytest
import requests

from tests.sandbox.conftest import ATTESTED, PC_HEADERS, Api

pytestmark = pytest.mark.scenario("default", access="granted")  # not about access: it is pre-granted


def test_customer_has_the_documented_shape(sandbox, api: Api):
    customer = sandbox.customer("contoso")
    # The address, e-mail and custom domains show only under Global Reader, Directory Writers or
    # Global Administrator (see the test below); contoso's partner holds Directory Readers only.
    sandbox.set_gdap(customer, roles=["Global Reader", "License Administrator"])

    body = api.pc("GET", f"/v1/customers/{customer}", app_only=True).json()

    assert body["id"] == customer
    assert body["relationshipToPartner"] == "reseller"
    assert body["attributes"] == {"objectType": "Customer"}
    assert body["companyProfile"]["tenantId"] == customer
    assert body["companyProfile"]["address"]["country"] == "US"
    assert body["billingProfile"]["defaultAddress"]["country"] == "US"
    assert body["billingProfile"]["attributes"]["objectType"] == "CustomerBillingProfile"
    assert {"commerceId", "allowDelegatedAccess", "customDomains"} <= set(body)


@pytest.mark.scenario("large", customers=25, users=5, access="granted")
def test_customers_page_with_the_continuation_token(sandbox, api: Api):
    seen: list[str] = []
    page = api.pc("GET", "/v1/customers?size=10").json()
    while True:
        seen += [c["id"] for c in page["items"]]
        assert page["totalCount"] == len(page["items"])
        following = page["links"].get("next")
        if following is None:
            break
        [header] = following["headers"]
        assert header["key"] == "MS-ContinuationToken"
        page = api.pc(
            "GET",
            "/v1/customers?size=10&seekOperation=next",
            headers={"MS-ContinuationToken": header["value"]},
        ).json()

    assert len(seen) == len(set(seen)) == 25 + 5  # the generated customers plus default's accepted ones


def test_a_stale_continuation_token_is_refused_with_code_2000(sandbox, api: Api):
    response = api.pc(
        "GET", "/v1/customers?size=1&seekOperation=next", headers={"MS-ContinuationToken": "bogus"}
    )

    assert response.status_code == 400
    assert response.json()["code"] == 2000


def test_pending_customer_is_refused_until_accepted_and_then_lags(sandbox, api: Api):
    customer = sandbox.customer("fabrikam")
    before = api.pc("GET", f"/v1/customers/{customer}")

    sandbox.accept_invitation(customer, lag_requests=2)
    lagging = [api.pc("GET", f"/v1/customers/{customer}").status_code for _ in range(2)]
    after = api.pc("GET", f"/v1/customers/{customer}")

    assert before.status_code == 403
    assert before.json()["code"] == 20002
    assert lagging == [403, 403]
    assert after.status_code == 200
    assert after.json()["relationshipToPartner"] == "reseller"


def test_relationship_request_url_names_the_partner(sandbox, api: Api):
    body = api.pc("GET", "/v1/customers/relationshiprequests").json()

    assert f"partnerId={sandbox.partner_tenant_id}" in body["url"]
    assert body["attributes"] == {"objectType": "RelationshipRequest"}


def test_catalog_sku_carries_the_entra_sku_as_provisioning_id(sandbox, api: Api):
    customer = sandbox.customer("contoso")
    product, sku, availability = sandbox.ids.catalog_items["O365_E3_NO_TEAMS"].split(":")

    skus = api.pc("GET", f"/v1/customers/{customer}/products/{product}/skus").json()
    items = api.pc("GET", f"/v1/customers/{customer}/products/{product}/skus/{sku}/availabilities").json()[
        "items"
    ]

    [found] = skus["items"]
    assert found["dynamicAttributes"]["provisioningId"] == sandbox.ids.skus["O365_E3_NO_TEAMS"]
    assert found["productId"] == product
    assert found["id"] == sku
    assert items[0]["catalogItemId"] == f"{product}:{sku}:{availability}"
    assert items[0]["isPurchasable"] is True
    assert items[0]["country"] == "US"
    assert {t["duration"] for t in items[0]["terms"]} == {"P1M", "P1Y"}


def test_retired_suite_is_listed_but_not_purchasable_and_names_its_successors(sandbox, api: Api):
    customer = sandbox.customer("contoso")
    product, sku, _ = sandbox.ids.catalog_items["O365_E3"].split(":")

    found = api.pc("GET", f"/v1/customers/{customer}/products/{product}/skus/{sku}").json()
    [availability] = api.pc(  # its commercial availability (education and government are listed too)
        "GET",
        f"/v1/customers/{customer}/products/{product}/skus/{sku}/availabilities?targetSegment=commercial",
    ).json()["items"]

    assert availability["isPurchasable"] is False
    successors = found["dynamicAttributes"]["upgradeTargetOffers"]
    assert sandbox.ids.catalog_items["O365_E3_NO_TEAMS"].rsplit(":", 1)[0] in successors
    assert sandbox.ids.catalog_items["TEAMS_ENTERPRISE"].rsplit(":", 1)[0] in successors


def test_eea_only_offer_is_absent_from_a_us_customer_catalog(sandbox, api: Api):
    product = sandbox.ids.catalog_items["TEAMS_EEA"].split(":")[0]

    us = api.pc("GET", f"/v1/customers/{sandbox.customer('contoso')}/products/{product}")
    de = api.pc("GET", f"/v1/customers/{sandbox.customer('northwind')}/products/{product}")

    assert us.status_code == 404
    assert us.json()["code"] == 400013
    assert de.status_code == 200


def test_checkout_shows_up_in_partner_center_and_in_graph(sandbox, api: Api):
    customer = sandbox.customer("contoso")
    sku = sandbox.ids.skus["O365_E3_NO_TEAMS"]

    result = api.buy(customer, sandbox.ids.catalog_items["O365_E3_NO_TEAMS"], 25, str(uuid.uuid4()))

    assert result.status_code == 201
    body = result.json()
    assert body["orderErrors"] == []
    assert body["attributes"]["objectType"] == "CartCheckoutResult"
    [line] = body["orders"][0]["lineItems"]
    subscription = api.pc("GET", f"/v1/customers/{customer}/subscriptions/{line['subscriptionId']}").json()
    assert subscription["quantity"] == 25
    assert subscription["status"] == "active"
    assert subscription["productType"]["id"] == "OnlineServicesNCE"
    graph_subs = api.graph(customer, "GET", "/v1.0/directory/subscriptions").json()["value"]
    [bought] = [s for s in graph_subs if s["commerceSubscriptionId"] == line["subscriptionId"]]
    assert bought["ownerTenantId"] == sandbox.partner_tenant_id
    assert bought["skuId"] == sku
    [pool] = [
        s for s in api.graph(customer, "GET", "/v1.0/subscribedSkus").json()["value"] if s["skuId"] == sku
    ]
    assert pool["prepaidUnits"]["enabled"] == 25
    status = api.pc(
        "GET", f"/v1/customers/{customer}/subscriptions/{line['subscriptionId']}/provisioningstatus"
    )
    assert status.json()["skuId"].lower() == sku
    assert status.json()["status"] == "success"


def test_repeated_checkout_with_the_same_request_id_buys_once(sandbox, api: Api):
    customer = sandbox.customer("contoso")
    request_id = str(uuid.uuid4())
    cart = api.pc(
        "POST",
        f"/v1/customers/{customer}/carts",
        json={
            "LineItems": [
                {
                    "CatalogItemId": sandbox.ids.catalog_items["TEAMS_ENTERPRISE"],
                    "Quantity": 5,
                    "TermDuration": "P1Y",
                    "BillingCycle": "Monthly",
                }
            ],
            "PartnerOnRecordAttestationAccepted": True,
        },
    ).json()
    path = f"/v1/customers/{customer}/carts/{cart['id']}/checkout"

    first = api.pc("POST", path, headers={"MS-RequestId": request_id})
    second = api.pc("POST", path, headers={"MS-RequestId": request_id})

    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert len(sandbox.purchases()) == 1


def test_with_idempotency_off_a_repeated_order_buys_twice(sandbox, api: Api):
    sandbox.set_knobs(idempotency=False)
    customer = sandbox.customer("contoso")
    order = {
        "lineItems": [
            {
                "lineItemNumber": 0,
                "offerId": sandbox.ids.catalog_items["EMS_E3"],
                "quantity": 2,
                "termDuration": "P1Y",
                "billingCycle": "Monthly",
            }
        ]
    }

    for _ in range(2):
        assert (
            api.pc(
                "POST", f"/v1/customers/{customer}/orders", json=order, headers={"MS-RequestId": "same"}
            ).status_code
            == 201
        )

    assert len(sandbox.purchases()) == 2


def test_dropped_response_after_commit_still_bought_and_retry_returns_it(sandbox, api: Api):
    customer = sandbox.customer("contoso")
    sandbox.add_fault("drop_after_commit", service="partner_center", method="POST", path="/checkout$")
    cart = api.pc(
        "POST",
        f"/v1/customers/{customer}/carts",
        json={
            "lineItems": [
                {"catalogItemId": sandbox.ids.catalog_items["EMS_E3"], "quantity": 3, "termDuration": "P1Y"}
            ],
            **ATTESTED,
        },
    ).json()
    path = f"/v1/customers/{customer}/carts/{cart['id']}/checkout"

    with pytest.raises(requests.ConnectionError):
        api.pc("POST", path, headers={"MS-RequestId": "rid-1"})
    retry = api.pc("POST", path, headers={"MS-RequestId": "rid-1"})

    [purchase] = sandbox.purchases()
    assert retry.status_code == 201
    assert retry.json()["orders"][0]["id"] == purchase["order_id"]


def test_a_retry_while_the_first_call_still_runs_gets_800060(sandbox, api: Api):
    customer = sandbox.customer("contoso")
    sandbox.add_fault("delay", service="partner_center", method="POST", path="/orders$", delay_s=1.0)
    order = {
        "lineItems": [{"lineItemNumber": 0, "offerId": sandbox.ids.catalog_items["EMS_E3"], "quantity": 1}]
    }
    slow: list[requests.Response] = []
    first = threading.Thread(
        target=lambda: slow.append(
            api.sb.http_session().post(
                f"{sandbox.partner_center_endpoint}/v1/customers/{customer}/orders",
                json=order,
                headers={"MS-RequestId": "r", "Authorization": api.pc_auth(), **PC_HEADERS},
            )
        )
    )
    first.start()
    time.sleep(0.3)
    second = api.pc("POST", f"/v1/customers/{customer}/orders", json=order, headers={"MS-RequestId": "r"})
    first.join()

    assert second.status_code == 409
    assert second.json()["code"] == 800060
    assert slow[0].status_code == 201
    assert len(sandbox.purchases()) == 1


def test_a_delay_longer_than_the_read_timeout_is_a_client_timeout(sandbox, api: Api):
    sandbox.add_fault("delay", service="partner_center", path="^/v1/customers$", delay_s=1.0)

    with pytest.raises(requests.ReadTimeout):
        api.pc("GET", "/v1/customers", timeout=0.3)


def test_checkout_reports_an_order_error_per_failing_order_group(sandbox, api: Api):
    customer = sandbox.customer("contoso")
    lines = [
        {"catalogItemId": sandbox.ids.catalog_items["O365_E3"], "quantity": 1, "termDuration": "P1M"},
        {
            "catalogItemId": sandbox.ids.catalog_items["TEAMS_ENTERPRISE"],
            "quantity": 1,
            "termDuration": "P1Y",
            "billingCycle": "Annual",
        },
    ]
    cart = api.pc("POST", f"/v1/customers/{customer}/carts", json={"lineItems": lines, **ATTESTED}).json()

    result = api.pc("POST", f"/v1/customers/{customer}/carts/{cart['id']}/checkout").json()
    again = api.pc("POST", f"/v1/customers/{customer}/carts/{cart['id']}/checkout")

    assert [line["orderGroup"] for line in cart["lineItems"]] == ["0", "1"]
    assert len(result["orders"]) == 1
    assert result["orderErrors"] == [
        {"orderGroupId": "0", "code": 800020, "description": "The catalog item is not eligible for purchase."}
    ]
    assert again.status_code == 400
    assert again.json()["code"] == 800065


@pytest.mark.parametrize(
    ("customer_key", "item", "status", "code"),
    [
        ("contoso", "TEAMS_EEA", 400, 800070),
        ("northwind", "BUSINESS_STANDARD", 403, 2030),
    ],
)
def test_orders_the_partner_may_not_place_are_refused(sandbox, api: Api, customer_key, item, status, code):
    order = {"lineItems": [{"lineItemNumber": 0, "offerId": sandbox.ids.catalog_items[item], "quantity": 1}]}

    response = api.pc("POST", f"/v1/customers/{sandbox.customer(customer_key)}/orders", json=order)

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert sandbox.purchases() == []


def test_subscriptions_list_only_what_this_partner_sold(sandbox, api: Api):
    customer = sandbox.customer("contoso")

    body = api.pc("GET", f"/v1/customers/{customer}/subscriptions", app_only=True).json()

    assert [s["id"] for s in body["items"]] == [sandbox.ids.commerce_subscriptions["contoso.partner_exo1"]]
    assert body["items"][0]["partnerId"]


def test_patching_quantity_changes_the_graph_subscription_too(sandbox, api: Api):
    customer = sandbox.customer("contoso")
    sub_id = sandbox.ids.commerce_subscriptions["contoso.partner_exo1"]
    current = api.pc("GET", f"/v1/customers/{customer}/subscriptions/{sub_id}").json()

    updated = api.pc(
        "PATCH", f"/v1/customers/{customer}/subscriptions/{sub_id}", json={**current, "quantity": 9}
    )

    assert updated.json()["quantity"] == 9
    graph = api.graph(
        customer, "GET", f"/v1.0/directory/subscriptions(commerceSubscriptionId='{sub_id}')"
    ).json()
    assert graph["totalLicenses"] == 9


def test_subscribed_skus_count_every_channel(sandbox, api: Api):
    body = api.pc("GET", f"/v1/customers/{sandbox.customer('contoso')}/subscribedskus").json()

    [e3] = [i for i in body["items"] if i["productSku"]["id"] == sandbox.ids.skus["O365_E3"]]
    assert e3["productSku"]["skuPartNumber"] == "ENTERPRISEPACK"
    assert (e3["activeUnits"], e3["consumedUnits"], e3["availableUnits"], e3["totalUnits"]) == (25, 7, 18, 25)
    assert e3["capabilityStatus"] == "Enabled"
    assert e3["servicePlans"][0].keys() == {
        "displayName",
        "serviceName",
        "id",
        "capabilityStatus",
        "targetType",
    }


def test_rate_limit_answers_429_with_retry_after(sandbox, api: Api):
    sandbox.set_knobs(rate_limits={"partner_center": {"limit": 3, "window_s": 60, "scope": "partner"}})

    statuses = [api.pc("GET", "/v1/customers").status_code for _ in range(4)]
    limited = api.pc("GET", "/v1/customers")

    assert statuses == [200, 200, 200, 429]
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["statusCode"] == 429


def test_injected_server_error_fires_the_given_number_of_times(sandbox, api: Api):
    sandbox.add_fault("status", service="partner_center", status=503, times=2)

    statuses = [api.pc("GET", "/v1/customers").status_code for _ in range(3)]

    assert statuses == [503, 503, 200]


def test_latency_knob_slows_every_call(sandbox, api: Api):
    api.pc("GET", "/v1/customers")
    sandbox.set_knobs(latency_ms=150)

    started = time.perf_counter()
    api.pc("GET", "/v1/customers")

    assert time.perf_counter() - started >= 0.15


def test_every_call_is_in_the_request_ledger(sandbox, api: Api):
    sandbox.clear_ledger()
    api.pc("GET", f"/v1/customers/{sandbox.customer('contoso')}")

    rows = [r for r in sandbox.requests() if r["service"] == "partner_center"]

    assert [(r["method"], r["status"]) for r in rows] == [("GET", 200)]
    assert rows[0]["latencyMs"] >= 0


def _bought_subscription(sandbox, api: Api, customer: str) -> dict[str, Any]:
    checkout = api.buy(customer, sandbox.ids.catalog_items["EMS_E3"], 2)
    assert checkout.status_code == 201, checkout.text
    [order] = checkout.json()["orders"]
    sub_id = order["lineItems"][0]["subscriptionId"]
    body: dict[str, Any] = api.pc("GET", f"/v1/customers/{customer}/subscriptions/{sub_id}").json()
    return body


def test_a_new_subscription_is_cancelled_within_its_window_and_refused_after_it(sandbox, api: Api):
    customer = sandbox.customer("contoso")
    early = _bought_subscription(sandbox, api, customer)
    late = _bought_subscription(sandbox, api, customer)
    window = dt.datetime.fromisoformat(early["cancellationAllowedUntilDate"])
    assert window - dt.datetime.fromisoformat(early["creationDate"]) == dt.timedelta(days=7)

    cancelled = api.pc(
        "PATCH", f"/v1/customers/{customer}/subscriptions/{early['id']}", json={**early, "status": "deleted"}
    )
    sandbox.advance_clock(days=8)
    refused = api.pc(
        "PATCH", f"/v1/customers/{customer}/subscriptions/{late['id']}", json={**late, "status": "deleted"}
    )

    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "deleted")
    assert refused.status_code == 400
    assert "within 7 days" in refused.json()["description"]
    assert api.pc("GET", f"/v1/customers/{customer}/subscriptions/{late['id']}").json()["status"] == "active"
