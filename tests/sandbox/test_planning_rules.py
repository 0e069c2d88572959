"""The sandbox enforces what the plan checks before money moves: per-customer seat caps (800089),
mutually exclusive plans at assignment, the tenant's own country, a company address Partner Center
shows only under some GDAP roles, and the current CSP region table."""

from __future__ import annotations

import uuid
from typing import Any

from sandbox.catalog import region_of
from sandbox.scenarios import CAPPED_HOLDERS
from tests.sandbox.conftest import ATTESTED, Api


def _cart(api: Api, customer: str, lines: list[tuple[str, int]]) -> dict[str, Any]:
    items = [  # attested: the no-Teams suites enforce it
        {
            "catalogItemId": item,
            "quantity": n,
            "termDuration": "P1Y",
            "billingCycle": "Monthly",
            "attestationAccepted": True,
        }
        for item, n in lines
    ]
    cart = api.pc("POST", f"/v1/customers/{customer}/carts", json={"lineItems": items, **ATTESTED}).json()
    headers = {"MS-RequestId": str(uuid.uuid4())}
    result: dict[str, Any] = api.pc(
        "POST", f"/v1/customers/{customer}/carts/{cart['id']}/checkout", headers=headers
    ).json()
    return result


def test_a_business_plan_past_300_seats_for_one_customer_is_refused_at_checkout_with_800089(sandbox, api):
    customer = sandbox.customer("relecloud")
    sandbox.accept_invitation(customer)
    sandbox.set_gdap(customer, roles=["Directory Readers", "License Administrator"], active=True)
    premium = sandbox.ids.catalog_items["BUSINESS_PREMIUM"]

    result = _cart(api, customer, [(premium, 300), (premium, 50)])  # each within a subscription's 300

    assert result["orders"] == []
    [error] = result["orderErrors"]
    assert error["code"] == 800089
    assert "exceeded the remaining limit of 300 assets allowed per customer" in error["description"]
    assert sandbox.purchases() == []


def test_seats_this_partner_already_sold_count_against_the_customer_cap(sandbox, api):
    customer = sandbox.customer("relecloud")
    sandbox.accept_invitation(customer)
    sandbox.set_gdap(customer, roles=["Directory Readers", "License Administrator"], active=True)
    premium = sandbox.ids.catalog_items["BUSINESS_PREMIUM"]
    assert _cart(api, customer, [(premium, 250)])["orderErrors"] == []

    order = {"lineItems": [{"lineItemNumber": 0, "offerId": premium, "quantity": 60}]}
    refused = api.pc("POST", f"/v1/customers/{customer}/orders", json=order)
    within = _cart(api, customer, [(premium, 50)])

    assert (refused.status_code, refused.json()["code"]) == (403, 800089)
    assert "remaining limit of 50 assets" in refused.json()["description"]
    assert within["orderErrors"] == []
    assert sum(line["quantity"] for p in sandbox.purchases() for line in p["lines"]) == 300


def test_the_350_seat_business_premium_customer_has_more_holders_than_the_cap(sandbox, api):
    customer = sandbox.customer("relecloud")
    sandbox.accept_invitation(customer)
    sandbox.set_gdap(customer, roles=["Directory Readers", "License Administrator"], active=True)

    pools = api.graph(customer, "GET", "/v1.0/subscribedSkus").json()["value"]

    [premium] = [p for p in pools if p["skuId"] == sandbox.ids.skus["BUSINESS_PREMIUM"]]
    assert premium["prepaidUnits"]["enabled"] == 350
    assert premium["consumedUnits"] == CAPPED_HOLDERS > 300


def test_only_offers_limited_per_customer_say_has_constraints(sandbox, api):
    customer = sandbox.customer("contoso")

    def constrained(name: str) -> bool:
        product, sku, _ = sandbox.ids.catalog_items[name].split(":")
        body = api.pc("GET", f"/v1/customers/{customer}/products/{product}/skus/{sku}").json()
        return bool(body["dynamicAttributes"]["hasConstraints"])

    assert constrained("BUSINESS_PREMIUM")
    assert constrained("BUSINESS_BASIC")
    assert not constrained("O365_E3_NO_TEAMS")


def test_the_bought_pair_that_shares_no_sharepoint_is_refused_at_assignment(sandbox, api):
    """Business Basic carries SharePoint (Plan 1), Microsoft 365 E3 (no Teams) SharePoint (Plan 2)."""
    customer = sandbox.customer("fabrikam")
    sandbox.accept_invitation(customer)
    sandbox.set_gdap(customer, roles=["Directory Readers", "License Administrator"], active=True)
    for name in ("BUSINESS_BASIC", "M365_E3_NO_TEAMS"):
        assert _cart(api, customer, [(sandbox.ids.catalog_items[name], 5)])["orderErrors"] == []
    user = sandbox.ids.users["fabrikam.direct_m365_e3"]
    body = {
        "addLicenses": [
            {"skuId": sandbox.ids.skus["BUSINESS_BASIC"], "disabledPlans": []},
            {"skuId": sandbox.ids.skus["M365_E3_NO_TEAMS"], "disabledPlans": []},
        ],
        "removeLicenses": [sandbox.ids.skus["M365_E3"]],
    }

    answer = api.graph(customer, "POST", f"/v1.0/users/{user}/assignLicense", json=body)

    assert answer.status_code == 400
    assert answer.json()["error"]["details"][0]["code"] == "MutuallyExclusiveViolation"
    assert "SHAREPOINT" in answer.json()["error"]["message"]


def test_the_organization_names_the_tenants_own_country_not_the_one_typed(sandbox, api):
    customer = sandbox.customer("lamna")
    sandbox.accept_invitation(customer)
    sandbox.set_gdap(customer, roles=["Directory Readers", "License Administrator"], active=True)

    [organization] = api.graph(customer, "GET", "/v1.0/organization").json()["value"]

    assert organization["countryLetterCode"] == "CA"


def test_the_company_address_shows_only_under_a_profile_role(sandbox, api):
    customer = sandbox.customer("contoso")  # Directory Readers and License Administrator

    hidden = api.pc("GET", f"/v1/customers/{customer}/profiles/company").json()
    sandbox.set_gdap(customer, roles=["Global Reader", "License Administrator"], active=True)
    shown = api.pc("GET", f"/v1/customers/{customer}/profiles/company").json()

    assert "address" not in hidden
    assert "email" not in hidden
    assert hidden["companyName"]
    assert shown["address"]["country"] == "US"


def test_guam_american_samoa_and_the_northern_mariana_islands_are_in_the_us_region():
    assert {"GU", "AS", "MP"} <= region_of("US")
