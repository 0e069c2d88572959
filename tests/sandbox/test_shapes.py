"""Every resource carries at least the fields of the example its Learn page shows (Partner Center's
REST reference, Microsoft Graph's v1.0 reference), spelled the same way."""

from __future__ import annotations

import pytest

from tests.sandbox.conftest import ATTESTED, Api

pytestmark = pytest.mark.scenario("default", access="granted")  # not about access: it is pre-granted

SKU_EXAMPLE = {
    "id",
    "productId",
    "title",
    "minimumQuantity",
    "maximumQuantity",
    "isTrial",
    "supportedBillingCycles",
    "purchasePrerequisites",
    "dynamicAttributes",
    "links",
}
SKU_DYNAMIC = {
    "isMicrosoftProduct",
    "hasConstraints",
    "isAddon",
    "prerequisiteSkus",
    "upgradeTargetOffers",
    "provisioningId",
}
AVAILABILITY_EXAMPLE = {
    "id",
    "productId",
    "skuId",
    "catalogItemId",
    "defaultCurrency",
    "segment",
    "country",
    "isPurchasable",
    "isRenewable",
    "renewalInstructions",
    "terms",
}
TERM_EXAMPLE = {"id", "duration", "description", "billingCycle", "cancellationPolicies"}
PRODUCT_EXAMPLE = {
    "id",
    "title",
    "description",
    "productType",
    "isMicrosoftProduct",
    "publisherName",
    "links",
}
CART_EXAMPLE = {
    "id",
    "creationTimestamp",
    "lastModifiedTimestamp",
    "expirationTimestamp",
    "lastModifiedUser",
    "status",
    "lineItems",
    "links",
}
CART_LINE = {
    "id",
    "catalogItemId",
    "quantity",
    "currencyCode",
    "billingCycle",
    "termDuration",
    "provisioningContext",
    "orderGroup",
}
ORDER_EXAMPLE = {
    "id",
    "alternateId",
    "referenceCustomerId",
    "billingCycle",
    "currencyCode",
    "currencySymbol",
    "lineItems",
    "creationDate",
    "status",
    "transactionType",
    "links",
}
ORDER_LINE = {
    "lineItemNumber",
    "offerId",
    "subscriptionId",
    "termDuration",
    "transactionType",
    "friendlyName",
    "quantity",
}
SUBSCRIPTION_EXAMPLE = {
    "id",
    "offerId",
    "offerName",
    "productType",
    "quantity",
    "unitType",
    "commitmentEndDate",
    "status",
    "autoRenewEnabled",
    "billingType",
    "billingCycle",
    "termDuration",
    "refundOptions",
    "links",
}
COMPANY_SUBSCRIPTION = {
    "commerceSubscriptionId",
    "createdDateTime",
    "id",
    "isTrial",
    "nextLifecycleDateTime",
    "ownerId",
    "ownerTenantId",
    "ownerType",
    "serviceStatus",
    "skuId",
    "skuPartNumber",
    "status",
    "totalLicenses",
}
SUBSCRIBED_SKU_PC = {
    "availableUnits",
    "activeUnits",
    "consumedUnits",
    "suspendedUnits",
    "totalUnits",
    "warningUnits",
    "productSku",
    "servicePlans",
    "capabilityStatus",
    "attributes",
}
LICENSE_STATE = {"assignedByGroup", "disabledPlans", "error", "lastUpdatedDateTime", "skuId", "state"}


def test_catalog_resources_have_the_documented_fields(sandbox, api: Api):
    customer = sandbox.customer("contoso")
    product_id, sku_id, _ = sandbox.ids.catalog_items["BUSINESS_BASIC"].split(":")
    base = f"/v1/customers/{customer}/products"

    [product] = [
        p for p in api.pc("GET", f"{base}?targetView=OnlineServices").json()["items"] if p["id"] == product_id
    ]
    sku = api.pc("GET", f"{base}/{product_id}/skus/{sku_id}").json()
    # The SKU is also listed for education, government and nonprofit: its commercial availability.
    [availability] = api.pc(
        "GET", f"{base}/{product_id}/skus/{sku_id}/availabilities?targetSegment=commercial"
    ).json()["items"]

    assert product_id == "CFQ7TTC0LH18"
    assert set(product) >= PRODUCT_EXAMPLE
    assert product["productType"]["id"] == "OnlineServicesNCE"
    assert set(sku) >= SKU_EXAMPLE
    assert set(sku["dynamicAttributes"]) >= SKU_DYNAMIC
    assert sku["dynamicAttributes"]["provisioningId"] == "3b555118-da6a-4418-894f-7df1e2096870"
    assert set(availability) >= AVAILABILITY_EXAMPLE
    assert availability["catalogItemId"] == "CFQ7TTC0LH18:0001:CFQ7TTC0K971"
    assert availability["defaultCurrency"] == {"code": "USD", "symbol": "$"}
    assert all(set(term) >= TERM_EXAMPLE for term in availability["terms"])


def test_purchase_resources_have_the_documented_fields(sandbox, api: Api):
    customer = sandbox.customer("contoso")
    line = {
        "catalogItemId": sandbox.ids.catalog_items["EMS_E3"],
        "quantity": 2,
        "termDuration": "P1M",
        "billingCycle": "Monthly",
    }

    cart = api.pc("POST", f"/v1/customers/{customer}/carts", json={"lineItems": [line], **ATTESTED}).json()
    order = api.pc("POST", f"/v1/customers/{customer}/carts/{cart['id']}/checkout").json()["orders"][0]
    sub_id = order["lineItems"][0]["subscriptionId"]
    subscription = api.pc("GET", f"/v1/customers/{customer}/subscriptions/{sub_id}").json()
    status = api.pc("GET", f"/v1/customers/{customer}/subscriptions/{sub_id}/provisioningstatus").json()

    assert set(cart) >= CART_EXAMPLE
    assert cart["status"] == "Active"
    assert set(cart["lineItems"][0]) >= CART_LINE
    assert set(order) >= ORDER_EXAMPLE
    assert set(order["lineItems"][0]) >= ORDER_LINE
    assert set(subscription) >= SUBSCRIPTION_EXAMPLE
    assert subscription["offerId"] == line["catalogItemId"]
    assert subscription["billingCycle"] == "monthly"
    assert subscription["termDuration"] == "P1M"
    assert {"skuId", "status", "quantity", "endDate"} <= set(status)


def test_license_resources_have_the_documented_fields(sandbox, api: Api):
    customer = sandbox.customer("contoso")
    user = sandbox.ids.users["contoso.group_e3_a"]

    pc_skus = api.pc("GET", f"/v1/customers/{customer}/subscribedskus").json()
    graph_subs = api.graph(customer, "GET", "/v1.0/directory/subscriptions").json()["value"]
    states = api.graph(
        customer, "GET", f"/v1.0/users/{user}", params={"$select": "licenseAssignmentStates"}
    ).json()

    assert pc_skus["attributes"] == {"objectType": "Collection"}
    assert all(set(item) >= SUBSCRIBED_SKU_PC for item in pc_skus["items"])
    assert all(set(s) == COMPANY_SUBSCRIPTION for s in graph_subs)
    assert all(set(s) == LICENSE_STATE for s in states["licenseAssignmentStates"])
