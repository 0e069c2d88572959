"""What Partner Center checks before it sells, as the sandbox enforces it: the customer's agreement,
its segment, traditional products beside new commerce, ids that change, attestations, headers."""

from __future__ import annotations

from typing import Any

import requests

from sandbox.testing import SandboxHandle
from tests.sandbox.conftest import ATTESTED, Api

MCA = "MicrosoftCustomerAgreement"
CONTACT = {
    "firstName": "Ada",
    "lastName": "Admin",
    "email": "ada@litware.example",
    "phoneNumber": "4255550100",
}


def accepted(sandbox: SandboxHandle, key: str) -> str:
    customer = sandbox.customer(key)
    sandbox.accept_invitation(customer)
    return customer


def cart(api: Api, customer: str, *lines: dict[str, Any], **body: Any) -> requests.Response:
    return api.pc(
        "POST", f"/v1/customers/{customer}/carts", json={"lineItems": list(lines), **ATTESTED, **body}
    )


def line(catalog_item_id: str, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "catalogItemId": catalog_item_id,
        "quantity": quantity,
        "termDuration": "P1Y",
        "billingCycle": "Monthly",
        **extra,
    }


def checkout(api: Api, customer: str, cart_id: str) -> dict[str, Any]:
    answer = api.pc("POST", f"/v1/customers/{customer}/carts/{cart_id}/checkout")
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def confirm(api: Api, customer: str, contact: dict[str, str] = CONTACT, **body: Any) -> requests.Response:
    template = api.pc("GET", f"/v1/agreements?agreementType={MCA}").json()["items"][0]["templateId"]
    agreement = {
        "primaryContact": contact,
        "templateId": template,
        "dateAgreed": "2025-03-01T00:00:00.000Z",
        "type": MCA,
        **body,
    }
    return api.pc("POST", f"/v1/customers/{customer}/agreements", json=agreement)


def availabilities(api: Api, customer: str, catalog_item_id: str, query: str = "") -> list[dict[str, Any]]:
    product, sku, _ = catalog_item_id.split(":")
    path = f"/v1/customers/{customer}/products/{product}/skus/{sku}/availabilities{query}"
    items: list[dict[str, Any]] = api.pc("GET", path).json()["items"]
    return items


# ---------------------------------------------------------------------- the customer agreement


def test_agreement_metadata_names_the_microsoft_customer_agreement_template(sandbox, api: Api):
    [metadata] = api.pc("GET", f"/v1/agreements?agreementType={MCA}").json()["items"]

    assert metadata["templateId"] == "117a77b0-9360-443b-8795-c6dedc750cf9"
    assert metadata["agreementType"] == MCA
    assert {"agreementLink", "versionRank"} <= set(metadata)


def test_a_customer_without_an_agreement_gets_no_order_until_the_partner_confirms_it(sandbox, api: Api):
    customer = accepted(sandbox, "litware")
    item = sandbox.ids.catalog_items["BUSINESS_PREMIUM"]
    assert api.pc("GET", f"/v1/customers/{customer}/agreements?agreementType={MCA}").json()["items"] == []
    status = api.pc("GET", f"/v1/customers/{customer}/directSignedMicrosoftCustomerAgreementStatus").json()
    assert status["isSigned"] is False

    refused = checkout(api, customer, cart(api, customer, line(item)).json()["id"])
    confirmed = confirm(api, customer)
    bought = checkout(api, customer, cart(api, customer, line(item)).json()["id"])

    assert refused["orders"] == []
    [error] = refused["orderErrors"]
    assert error["code"] == 800020
    assert "Microsoft Customer Agreement" in error["description"]
    assert confirmed.status_code == 201
    assert confirmed.json()["userId"]
    assert confirmed.json()["primaryContact"] == CONTACT
    listed = api.pc("GET", f"/v1/customers/{customer}/agreements?agreementType={MCA}").json()["items"]
    assert [a["primaryContact"]["email"] for a in listed] == [CONTACT["email"]]
    assert len(bought["orders"]) == 1
    assert len(sandbox.purchases()) == 1


def test_the_same_contact_confirmed_twice_is_refused_as_already_existing(sandbox, api: Api):
    customer = accepted(sandbox, "litware")

    first = confirm(api, customer)
    second = confirm(api, customer)
    other = confirm(api, customer, {**CONTACT, "phoneNumber": "4255550199"})

    assert first.status_code == 201
    assert second.status_code == 400
    assert second.json()["code"] == 600061
    assert other.status_code == 201  # another contact value: another agreement


def test_a_confirmation_needs_the_template_the_names_and_the_email(sandbox, api: Api):
    customer = accepted(sandbox, "litware")

    wrong_template = confirm(api, customer, templateId="00000000-0000-0000-0000-000000000000")
    no_email = confirm(api, customer, {"firstName": "Ada", "lastName": "Admin"})
    no_date = confirm(api, customer, dateAgreed="yesterday")

    assert [r.status_code for r in (wrong_template, no_email, no_date)] == [400, 400, 400]
    assert sandbox.agreements(customer)["agreements"] == []


def test_agreement_calls_refuse_app_only_tokens(sandbox, api: Api):
    customer = sandbox.customer("contoso")

    for path in (f"/agreements?agreementType={MCA}", "/directSignedMicrosoftCustomerAgreementStatus"):
        refused = api.pc("GET", f"/v1/customers/{customer}{path}", app_only=True)
        assert refused.status_code == 403


def test_a_customer_that_signed_directly_is_sold_without_a_partner_confirmation(sandbox, api: Api):
    customer = accepted(sandbox, "fabrikam")

    status = api.pc("GET", f"/v1/customers/{customer}/directSignedMicrosoftCustomerAgreementStatus").json()
    result = checkout(
        api, customer, cart(api, customer, line(sandbox.ids.catalog_items["EMS_E3"])).json()["id"]
    )

    assert status["isSigned"] is True
    assert sandbox.agreements(customer)["agreements"] == []
    assert len(result["orders"]) == 1


# ---------------------------------------------------------------------- segments and product types


def test_qualifications_name_the_education_customer_and_none_for_a_commercial_one(sandbox, api: Api):
    school = accepted(sandbox, "fineartschool")

    assert api.pc("GET", f"/v1/customers/{school}/qualifications").json() == [
        {"qualification": "Education", "vettingStatus": "Approved"}
    ]
    assert api.pc("GET", f"/v1/customers/{sandbox.customer('contoso')}/qualifications").json() == []


def test_other_segments_and_traditional_products_sort_before_the_commercial_new_commerce_offer(
    sandbox, api: Api
):
    customer = sandbox.customer("contoso")
    premium = sandbox.ids.catalog_items["BUSINESS_PREMIUM"]

    listed = availabilities(api, customer, premium)
    nonprofit = availabilities(api, customer, premium, "?targetSegment=nonprofit")
    products = api.pc("GET", f"/v1/customers/{customer}/products?targetView=OnlineServices").json()["items"]

    ids = sorted(a["catalogItemId"] for a in listed)
    assert [a["segment"] for a in sorted(listed, key=lambda a: a["catalogItemId"])] == [
        "education",
        "government",
        "commercial",
    ]
    assert ids[-1] == premium
    assert [a["segment"] for a in nonprofit] == ["nonprofit"]
    premiums = sorted(
        (p["id"], p["productType"]["id"]) for p in products if p["title"] == "Microsoft 365 Business Premium"
    )
    assert [kind for _, kind in premiums] == ["OnlineServices", "OnlineServicesNCE"]


def test_a_commercial_customer_buying_an_education_availability_gets_a_line_error_and_no_order(
    sandbox, api: Api
):
    customer = sandbox.customer("contoso")
    [education] = [
        a
        for a in availabilities(api, customer, sandbox.ids.catalog_items["EMS_E3"])
        if a["segment"] == "education"
    ]

    created = cart(api, customer, line(education["catalogItemId"])).json()
    result = checkout(api, customer, created["id"])

    assert created["lineItems"][0]["error"]["errorCode"] == 10006
    assert result["orders"] == []
    assert result["orderErrors"][0]["code"] == 800020
    assert sandbox.purchases() == []


def test_the_education_customer_buys_its_education_availability_and_the_ledger_says_so(sandbox, api: Api):
    customer = accepted(sandbox, "fineartschool")
    [education] = availabilities(
        api, customer, sandbox.ids.catalog_items["EXCHANGE_PLAN_1"], "?targetSegment=education"
    )

    created = cart(api, customer, line(education["catalogItemId"])).json()
    result = checkout(api, customer, created["id"])

    assert "error" not in created["lineItems"][0]
    assert len(result["orders"]) == 1
    [purchase] = sandbox.purchases()
    assert [(x["segment"], x["productType"]) for x in purchase["lines"]] == [
        ("education", "OnlineServicesNCE")
    ]


def test_an_offer_made_ineligible_stays_listed_but_its_cart_line_has_an_error(sandbox, api: Api):
    customer = sandbox.customer("contoso")
    sandbox.set_eligible(sandbox.ids.skus["EMS_E3"], False)

    [listed] = availabilities(api, customer, sandbox.ids.catalog_items["EMS_E3"], "?targetSegment=commercial")
    created = cart(api, customer, line(sandbox.ids.catalog_items["EMS_E3"])).json()
    result = checkout(api, customer, created["id"])

    assert listed["isPurchasable"] is True
    assert created["lineItems"][0]["error"]["errorCode"] == 10006
    assert result["orderErrors"][0]["code"] == 800020
    assert sandbox.purchases() == []


# ---------------------------------------------------------------------- ids that change


def test_availability_ids_change_at_a_month_boundary_and_the_old_one_is_refused_at_checkout(
    sandbox, api: Api
):
    customer = sandbox.customer("contoso")
    before = sandbox.ids.catalog_items["EMS_E3"]

    sandbox.advance_to_next_month()
    [current] = availabilities(api, customer, before, "?targetSegment=commercial")
    stale = cart(api, customer, line(before)).json()
    refused = checkout(api, customer, stale["id"])
    bought = checkout(api, customer, cart(api, customer, line(current["catalogItemId"])).json()["id"])

    assert current["catalogItemId"] != before
    assert current["catalogItemId"].rsplit(":", 1)[0] == before.rsplit(":", 1)[0]  # same product and SKU
    assert stale["lineItems"][0]["catalogItemId"] == before
    assert stale["lineItems"][0]["error"]["errorCode"] == 10001
    assert refused["orders"] == []
    assert refused["orderErrors"][0]["code"] == 800020
    assert len(bought["orders"]) == 1
    assert [x["catalogItemId"] for p in sandbox.purchases() for x in p["lines"]] == [current["catalogItemId"]]


# ---------------------------------------------------------------------- attestations and headers


def test_a_sku_that_enforces_attestation_is_bought_only_with_the_line_attested(sandbox, api: Api):
    customer = sandbox.customer("contoso")
    item = sandbox.ids.catalog_items["O365_E3_NO_TEAMS"]
    product, sku, _ = item.split(":")
    found = api.pc("GET", f"/v1/customers/{customer}/products/{product}/skus/{sku}").json()

    unattested = cart(api, customer, line(item)).json()
    refused = checkout(api, customer, unattested["id"])
    bought = checkout(api, customer, cart(api, customer, line(item, attestationAccepted=True)).json()["id"])

    assert found["attestationProperties"]["enforceAttestation"] is True
    assert unattested["lineItems"][0]["error"]["errorCode"] == 10012
    assert refused["orderErrors"][0]["code"] == 800009
    assert len(bought["orders"]) == 1


def test_a_cart_without_the_partner_on_record_attestation_is_refused(sandbox, api: Api):
    customer = sandbox.customer("contoso")
    item = sandbox.ids.catalog_items["EMS_E3"]

    missing = api.pc("POST", f"/v1/customers/{customer}/carts", json={"lineItems": [line(item)]})
    declined = cart(api, customer, line(item), partnerOnRecordAttestationAccepted=False)

    assert (missing.status_code, declined.status_code) == (400, 400)
    assert "PartnerOnRecordAttestationAccepted" in missing.json()["description"]


def test_a_partner_center_call_without_the_contract_version_is_refused(sandbox, api: Api):
    customer = sandbox.customer("contoso")

    missing = api.pc("GET", f"/v1/customers/{customer}", headers={"MS-Contract-Version": ""})
    other = api.pc("GET", f"/v1/customers/{customer}", headers={"MS-Contract-Version": "v9"})
    fine = api.pc("GET", f"/v1/customers/{customer}")

    assert (missing.status_code, other.status_code, fine.status_code) == (400, 400, 200)
    assert "MS-Contract-Version" in missing.json()["description"]
