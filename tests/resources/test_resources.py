"""Parsing the documented response shapes into the typed resources the core uses."""

import pytest

from shared.clients.errors import GdapRoleMissingError
from shared.clients.graph import assign_license_body, batch_item_error
from shared.resources import MalformedResourceError
from shared.resources.commerce import CartCheckoutResult, CartLineItem, SubscriptionProvisioningStatus
from shared.resources.graph import AssignedLicense, BatchResult, User
from shared.resources.partner_center import Customer, PartnerCenterSubscribedSku, WebhookRegistration

E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"


def test_customer_country_comes_from_company_address_then_billing_address():
    company_only = Customer.from_json(
        {
            "id": "EEBD1B55-0000-0000-0000-000000000001",
            "companyProfile": {"tenantId": "t", "address": {"country": "de"}},
        }
    )
    billing_only = Customer.from_json(
        {
            "id": "c2",
            "billingProfile": {"id": "b", "defaultAddress": {"country": "FR"}},
            "relationshipToPartner": "Reseller",
        }
    )

    assert company_only.country == "DE"
    assert company_only.id == "eebd1b55-0000-0000-0000-000000000001"
    assert company_only.relationship_to_partner == "none"
    assert billing_only.country == "FR"
    assert billing_only.relationship_to_partner == "reseller"


def test_webhook_registration_reads_the_service_pascal_case():
    registration = WebhookRegistration.from_json(
        {"SubscriberId": "s-1", "WebhookUrl": "https://example.test/hook", "WebhookEvents": ["test-created"]}
    )

    assert registration == WebhookRegistration("https://example.test/hook", ("test-created",), "s-1")


def test_cart_line_round_trips_through_its_json():
    line = CartLineItem(
        "CFQ7TTC0LH18:0001:CFQ7TTC0K971", 5, "P1Y", "monthly", custom_term_end_date="2027-01-31"
    )

    echoed = CartLineItem.from_json({**line.to_json(), "id": 0, "orderGroup": "0"})

    assert (echoed.catalog_item_id, echoed.quantity, echoed.term_duration, echoed.billing_cycle) == (
        line.catalog_item_id,
        5,
        "P1Y",
        "monthly",
    )
    assert echoed.custom_term_end_date == "2027-01-31"
    assert echoed.order_group == "0"


def test_checkout_result_keeps_orders_and_per_group_errors():
    result = CartCheckoutResult.from_json(
        {
            "orders": [
                {
                    "id": "o-1",
                    "status": "Pending",
                    "lineItems": [
                        {"lineItemNumber": 0, "offerId": "X:0001:Y", "quantity": 5, "subscriptionId": "S-1"}
                    ],
                }
            ],
            "orderErrors": [{"orderGroupId": 1, "code": 800070, "description": "not in country"}],
        }
    )

    assert result.orders[0].status == "pending"
    assert result.orders[0].line_items[0].subscription_id == "s-1"
    assert (result.order_errors[0].order_group_id, result.order_errors[0].code) == ("1", "800070")


def test_partner_center_subscribed_sku_and_provisioning_status_use_the_entra_sku_id():
    pool = PartnerCenterSubscribedSku.from_json(
        {
            "activeUnits": 5,
            "consumedUnits": 1,
            "productSku": {"id": E3.upper(), "skuPartNumber": "ENTERPRISEPACK"},
        }
    )
    status = SubscriptionProvisioningStatus.from_json(
        {"skuId": E3.upper(), "status": "Success", "quantity": 5}
    )

    assert pool.product_sku.id == E3
    assert status.sku_id == E3
    assert status.is_provisioned


def test_user_tells_direct_from_group_assignments():
    user = User.from_json(
        {
            "id": "U-1",
            "usageLocation": "us",
            "assignedLicenses": [{"skuId": E3, "disabledPlans": []}],
            "licenseAssignmentStates": [
                {"skuId": E3, "assignedByGroup": None, "state": "Active", "error": "None"},
                {"skuId": E3, "assignedByGroup": "G-1", "state": "Active", "error": "None"},
            ],
        }
    )

    assert user.holds(E3.upper())
    assert user.usage_location == "US"
    assert [s.is_direct for s in user.license_assignment_states] == [True, False]
    assert user.license_assignment_states[1].assigned_by_group == "g-1"
    assert user.license_assignment_states[0].error is None


def test_malformed_user_names_the_field():
    with pytest.raises(MalformedResourceError, match="'id'"):
        User.from_json({"assignedLicenses": []})


def test_assign_license_body_always_has_both_arrays():
    only_add = assign_license_body([E3], [])
    swap = assign_license_body([AssignedLicense(E3, ("p-1",))], [E3.upper()])

    assert only_add == {"addLicenses": [{"skuId": E3, "disabledPlans": []}], "removeLicenses": []}
    assert swap["removeLicenses"] == [E3]
    assert swap["addLicenses"][0]["disabledPlans"] == ["p-1"]


def test_assign_license_body_refuses_a_non_guid_sku():
    with pytest.raises(ValueError, match="not a GUID"):
        assign_license_body(["6fd2c87f) or true"], [])


def test_failed_batch_item_becomes_its_typed_error():
    denied = BatchResult.from_json(
        {
            "id": "1",
            "status": 403,
            "body": {"error": {"code": "Authorization_RequestDenied", "message": "no"}},
        }
    )
    fine = BatchResult.from_json({"id": "2", "status": 200, "body": {}})

    assert isinstance(batch_item_error(denied), GdapRoleMissingError)
    assert batch_item_error(fine) is None
