"""Offer matching: what the customer owns elsewhere, what replaces it, and the plan (pure logic, no I/O).

Typical use::

    reference = SkuReferenceLoader(settings.sku_reference_url).get()
    inventory = Inventory.from_graph(subscriptions, subscribed_skus, partner_tenant_id)
    catalog = catalog_cache.for_customer(customer_id, country)
    plan = plan_transfer(inventory, catalog, reference, transfer.options)
"""

from .inventory import Inventory, SkippedSku, SkipReason, SourceLine
from .offers import Catalog, CatalogCache, CatalogItem, CatalogSource
from .plan import (
    BlockReason,
    Decision,
    Plan,
    PlanChange,
    PlanLine,
    TargetItem,
    plan_transfer,
)
from .reference import (
    SkuReference,
    SkuReferenceError,
    SkuReferenceLoader,
    read_location,
)

__all__ = [
    "BlockReason",
    "Catalog",
    "CatalogCache",
    "CatalogItem",
    "CatalogSource",
    "Decision",
    "Inventory",
    "Plan",
    "PlanChange",
    "PlanLine",
    "SkipReason",
    "SkippedSku",
    "SkuReference",
    "SkuReferenceError",
    "SkuReferenceLoader",
    "SourceLine",
    "TargetItem",
    "plan_transfer",
    "read_location",
]
