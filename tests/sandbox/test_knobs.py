"""Each knob and fault does what it says, and the extra Partner Center operations behave as documented."""

from __future__ import annotations

import time

import pytest
import requests

from sandbox.testing import SandboxError
from tests.sandbox.conftest import Api

pytestmark = pytest.mark.scenario("default", access="granted")  # not about access: it is pre-granted

EMS = "efccb6f7-5641-4e0e-bd10-b4976e1bf68e"


def test_lag_after_acceptance_lasts_the_given_seconds(sandbox, api: Api):
    customer = sandbox.customer("fabrikam")
    sandbox.accept_invitation(customer, lag_seconds=0.4)

    during = api.pc("GET", f"/v1/customers/{customer}")
    time.sleep(0.45)
    after = api.pc("GET", f"/v1/customers/{customer}")

    assert (during.status_code, during.json()["code"]) == (403, 20002)
    assert after.status_code == 200


def test_customer_scoped_rate_limit_keeps_other_customers_going(sandbox, api: Api):
    sandbox.set_knobs(rate_limits={"partner_center": {"limit": 2, "window_s": 60, "scope": "customer"}})
    contoso, wingtip = sandbox.customer("contoso"), sandbox.customer("wingtip")

    first = [api.pc("GET", f"/v1/customers/{contoso}").status_code for _ in range(3)]
    other = api.pc("GET", f"/v1/customers/{wingtip}").status_code

    assert first == [200, 200, 429]
    assert other == 200


def test_graph_throttling_answers_in_graph_shape(sandbox, api: Api):
    tenant = sandbox.customer("contoso")
    api.token(tenant, "https://graph.microsoft.com/.default")
    sandbox.set_knobs(rate_limits={"graph": {"limit": 1, "window_s": 30}})

    api.graph(tenant, "GET", "/v1.0/subscribedSkus")
    limited = api.graph(tenant, "GET", "/v1.0/subscribedSkus")

    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "TooManyRequests"
    assert 1 <= int(limited.headers["Retry-After"]) <= 30


def test_injected_error_uses_the_documented_body(sandbox, api: Api):
    sandbox.add_fault(
        "error", service="partner_center", method="POST", path="/orders$", status=409, code=800060
    )
    order = {
        "lineItems": [{"lineItemNumber": 0, "offerId": sandbox.ids.catalog_items["EMS_E3"], "quantity": 1}]
    }

    response = api.pc("POST", f"/v1/customers/{sandbox.customer('contoso')}/orders", json=order)

    assert response.status_code == 409
    assert response.json()["code"] == 800060
    assert response.json()["description"].startswith("Your order is in progress")
    assert sandbox.purchases() == []


def test_drop_without_commit_buys_nothing(sandbox, api: Api):
    sandbox.add_fault("drop", service="partner_center", method="POST", path="/orders$")
    order = {
        "lineItems": [{"lineItemNumber": 0, "offerId": sandbox.ids.catalog_items["EMS_E3"], "quantity": 1}]
    }

    with pytest.raises(requests.ConnectionError):
        api.pc("POST", f"/v1/customers/{sandbox.customer('contoso')}/orders", json=order)

    assert sandbox.purchases() == []
    assert sandbox.faults()[0]["fired"] == 1


def test_provisioning_delay_hides_the_purchase_from_graph_until_done(sandbox, api: Api):
    sandbox.set_knobs(provisioning_delay_s=900)
    customer = sandbox.customer("contoso")
    result = api.buy(customer, sandbox.ids.catalog_items["TEAMS_ENTERPRISE"], 4).json()
    order = result["orders"][0]
    sub_id = order["lineItems"][0]["subscriptionId"]

    pending = api.pc("GET", f"/v1/customers/{customer}/subscriptions/{sub_id}/provisioningstatus").json()
    graph_before = api.graph(
        customer, "GET", f"/v1.0/directory/subscriptions(commerceSubscriptionId='{sub_id}')"
    )
    sandbox.advance_clock(seconds=901)
    done = api.pc("GET", f"/v1/customers/{customer}/orders/{order['id']}/provisioningstatus").json()
    graph_after = api.graph(
        customer, "GET", f"/v1.0/directory/subscriptions(commerceSubscriptionId='{sub_id}')"
    )

    assert order["status"] == "pending"
    assert pending["status"] == "pending"
    assert graph_before.status_code == 404
    assert done["items"][0]["status"] == "fulfilled"
    assert graph_after.json()["totalLicenses"] == 4


def test_a_subscription_bought_elsewhere_shows_in_graph_but_not_in_partner_center(sandbox, api: Api):
    customer = sandbox.customer("contoso")

    added = sandbox.add_subscription(customer, EMS, 7, channel="other-partner")

    graph = api.graph(customer, "GET", f"/v1.0/directory/subscriptions/{added['id']}").json()
    own = api.pc("GET", f"/v1/customers/{customer}/subscriptions").json()["items"]
    assert graph["ownerTenantId"] == sandbox.ids.other_partner_tenant_id
    assert added["commerceSubscriptionId"] not in {s["id"] for s in own}


def test_partner_center_license_update_swaps_and_reports_out_of_licenses(sandbox, api: Api):
    tenant = sandbox.customer("wingtip")
    spare = sandbox.ids.users["wingtip.spare"]

    out_of_seats = api.pc(
        "POST",
        f"/v1/customers/{tenant}/users/{spare}/licenseupdates",
        json={"LicensesToAssign": [{"ExcludedPlans": None, "SkuId": EMS}], "LicensesToRemove": None},
    )
    holder = sandbox.ids.users["wingtip.full_ems"]
    moved = api.pc(
        "POST",
        f"/v1/customers/{tenant}/users/{holder}/licenseupdates",
        json={"LicensesToAssign": [], "LicensesToRemove": [EMS]},
    )
    assigned = api.pc(
        "POST",
        f"/v1/customers/{tenant}/users/{spare}/licenseupdates",
        json={"LicensesToAssign": [{"SkuId": EMS}]},
    )
    licenses = api.pc("GET", f"/v1/customers/{tenant}/users/{spare}/licenses").json()["items"]

    assert out_of_seats.status_code == 400
    assert out_of_seats.json()["code"] == 60012
    assert out_of_seats.json()["data"][0].startswith("LicenseQuotaExceededException")
    assert moved.status_code == 201
    assert assigned.json()["attributes"] == {"objectType": "LicenseUpdate"}
    assert [item["productSku"]["id"] for item in licenses] == [EMS]


def test_customer_users_page_like_customers(sandbox, api: Api):
    customer = sandbox.customer("contoso")

    first = api.pc("GET", f"/v1/customers/{customer}/users?size=5").json()
    token = first["links"]["next"]["headers"][0]["value"]
    second = api.pc(
        "GET",
        f"/v1/customers/{customer}/users?size=5&seekOperation=next",
        headers={"MS-ContinuationToken": token},
    ).json()

    assert len(first["items"]) == 5
    assert first["items"][0]["attributes"] == {"objectType": "CustomerUser"}
    assert not {u["id"] for u in first["items"]} & {u["id"] for u in second["items"]}


def test_unknown_knob_is_refused(sandbox):
    with pytest.raises(SandboxError, match="400"):
        sandbox.set_knobs(no_such_knob=1)


def test_fault_skips_the_first_matching_calls_then_fires(sandbox, api: Api):
    customer = sandbox.customer("contoso")
    sandbox.add_fault("status", service="partner_center", path=f"/customers/{customer}$", status=503, skip=1)

    statuses = [api.pc("GET", f"/v1/customers/{customer}").status_code for _ in range(3)]

    assert statuses == [200, 503, 200]


def test_a_fault_with_a_probability_fires_on_a_seeded_share_of_the_calls(sandbox, api: Api):
    customer = sandbox.customer("contoso")

    def pattern() -> list[int]:
        sandbox.clear_faults()
        sandbox.add_fault(
            "status",
            service="partner_center",
            path=f"/customers/{customer}$",
            times=-1,
            probability=0.3,
            seed=7,
        )
        return [api.pc("GET", f"/v1/customers/{customer}").status_code for _ in range(40)]

    first = pattern()

    assert set(first) == {200, 503}
    assert 4 <= first.count(503) <= 20
    assert pattern() == first  # the same seed replays the same failures


def test_a_probability_outside_zero_to_one_is_refused(sandbox):
    with pytest.raises(SandboxError, match="400"):
        sandbox.add_fault("status", probability=1.5)


def test_entra_fault_answers_in_oauth_shape_with_the_given_retry_after(sandbox):
    tenant = sandbox.partner_tenant_id
    sandbox.add_fault("status", service="entra", path="/oauth2/v2.0/token$", status=429, retry_after="inf")

    answer = sandbox.http_session().post(
        f"{sandbox.authority_host}/{tenant}/oauth2/v2.0/token", data={"grant_type": "client_credentials"}
    )

    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "inf"
    assert answer.json()["error"] == "temporarily_unavailable"
