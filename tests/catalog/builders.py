"""Doc-shaped Graph and Partner Center resources for the catalog tests, parsed with their from_json."""

from __future__ import annotations

from pathlib import Path

from shared.catalog.offers import CatalogItem
from shared.catalog.reference import SkuReference
from shared.resources.graph import CompanySubscription, SubscribedSku
from shared.resources.partner_center import Availability, Product, Sku

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SUBSET_CSV = FIXTURES / "licensing_service_plans_subset.csv"

PARTNER_TENANT = "4e6a7a3c-1f0b-4c39-9d0c-2b1e4f6a9a10"
OTHER_PARTNER_TENANT = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"

O365_E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"
O365_E3_NO_TEAMS = "46c3a859-c90d-40b3-9551-6178a48d5c18"
TEAMS_ENTERPRISE = "7e31c0d9-9551-471d-836f-32ee72be4a01"
O365_E1 = "18181a46-0d4e-45cd-891e-60aabd171b4e"
O365_E1_NO_TEAMS = "f8ced641-8e17-4dc5-b014-f5a2d53f6ac8"
FLOW_FREE = "f30db892-07e9-47e9-837c-80727f46fd3d"
POWER_BI_STANDARD = "a403ebcc-fae0-4ca2-8c8c-7a907fd6c235"
BUSINESS_STANDARD = "f245ecc8-75af-4f8e-b61f-27d8114de5f3"
BUSINESS_STANDARD_EEA_NO_TEAMS = "ffa3a2a0-3820-462a-aa81-8a4d741f0cba"
TEAMS_EEA = "7e74bd05-2c47-404e-829a-ba95c66fe8e5"
EXCHANGE_PLAN_1 = "4b9405b0-7788-4568-add1-99614e613b69"
EXCHANGE_PLAN_2 = "19ec0d23-8335-4cbd-94ac-6050e30712fa"
COPILOT_STUDIO_VIRAL = "606b54a9-78d8-4298-ad8b-df6ef4481c80"
MCOPSTN5 = ("54a152dc-90de-4996-93d2-bc47e670fc06", "d43177b5-475b-4880-92d4-d54c27b5efbd")

ONE_YEAR_TERMS = (("P1Y", "Monthly"), ("P1Y", "Annual"), ("P1M", "Monthly"))


def subset_reference() -> SkuReference:
    return SkuReference.load(SUBSET_CSV)


def offer(
    sku_id: str,
    title: str,
    *,
    country: str = "US",
    purchasable: bool = True,
    terms: tuple[tuple[str, str], ...] = ONE_YEAR_TERMS,
    maximum: int = 300,
    is_trial: bool = False,
    product_id: str | None = None,
) -> CatalogItem:
    """A catalog item shaped like Partner Center's new-commerce catalog (Learn, "Get a list of SKUs for a
    product", "Get a list of availabilities for a SKU"): a product, its SKU ``0001`` and one availability,
    the catalog item id being ``productId:skuId:availabilityId``."""
    product_id = product_id or f"CFQ7TTC0{sku_id[:4].upper()}"
    availability_id = f"CFQ7TTC0K{sku_id[4:7].upper()}"
    product = Product.from_json(
        {
            "id": product_id,
            "title": title,
            "productType": {"id": "OnlineServicesNCE", "displayName": "OnlineServicesNCE"},
            "isMicrosoftProduct": True,
        }
    )
    sku = Sku.from_json(
        {
            "id": "0001",
            "productId": product_id,
            "title": title,
            "minimumQuantity": 1,
            "maximumQuantity": maximum,
            "isTrial": is_trial,
            "supportedBillingCycles": ["annual", "monthly"],
            "dynamicAttributes": {"isAddon": False, "prerequisiteSkus": [], "provisioningId": sku_id},
        }
    )
    availability = Availability.from_json(
        {
            "id": availability_id,
            "productId": product_id,
            "skuId": "0001",
            "catalogItemId": f"{product_id}:0001:{availability_id}",
            "defaultCurrency": {"code": "USD", "symbol": "$"},
            "segment": "commercial",
            "country": country,
            "isPurchasable": purchasable,
            "isRenewable": True,
            "terms": [
                {"id": f"t{index}", "duration": duration, "billingCycle": cycle, "description": ""}
                for index, (duration, cycle) in enumerate(terms)
            ],
        }
    )
    return CatalogItem(product=product, sku=sku, availability=availability)


def subscription(
    sku_id: str,
    part_number: str,
    total: int,
    *,
    owner: str | None = None,
    status: str = "Enabled",
    trial: bool = False,
    next_lifecycle: str = "2026-12-31T00:00:00Z",
    subscription_id: str | None = None,
) -> CompanySubscription:
    """A ``companySubscription`` shaped like the example of Learn's "List subscriptions" (directory)."""
    return CompanySubscription.from_json(
        {
            "createdDateTime": "2025-01-01T00:00:00Z",
            "commerceSubscriptionId": f"c-{sku_id[:8]}-{total}-{owner or 'direct'}",
            "id": subscription_id or f"{sku_id[:8]}-{total}-{owner or 'direct'}-{status}-{trial}",
            "isTrial": trial,
            "nextLifecycleDateTime": next_lifecycle,
            "serviceStatus": [],
            "skuId": sku_id,
            "skuPartNumber": part_number,
            "status": status,
            "totalLicenses": total,
            "ownerId": "fe04f19f-d924-42b7-9dee-edf4e3fab7f6",
            "ownerTenantId": owner,
            "ownerType": "User",
        }
    )


def subscribed_sku(
    reference: SkuReference,
    sku_id: str,
    *,
    applies_to: str = "User",
    extra_plans: tuple[tuple[str, str], ...] = (),
) -> SubscribedSku:
    """A ``subscribedSku`` shaped like the example of Learn's "List subscribedSkus", with the reference's
    plans (plus extras)."""
    entry = reference.get(sku_id)
    assert entry is not None
    plans = [(plan.id, plan.name) for plan in entry.plans] + list(extra_plans)
    return SubscribedSku.from_json(
        {
            "accountName": "Contoso",
            "accountId": "f97aeefc-af85-414d-8ae4-b457f90efc40",
            "appliesTo": applies_to,
            "capabilityStatus": "Enabled",
            "consumedUnits": 1,
            "id": f"48a80680-7326-48cd-9935-b556b81d3a4e_{sku_id}",
            "prepaidUnits": {"enabled": 25, "lockedOut": 0, "suspended": 0, "warning": 0},
            "servicePlans": [
                {
                    "servicePlanId": plan_id,
                    "servicePlanName": name,
                    "provisioningStatus": "Success",
                    "appliesTo": "User",
                }
                for plan_id, name in plans
            ],
            "skuId": sku_id,
            "skuPartNumber": entry.part_number,
            "subscriptionIds": [],
        }
    )
