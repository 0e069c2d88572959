"""Offer matching: what the customer owns elsewhere, what replaces it, and the plan (pure logic, no I/O).

Typical use::

    reference = SkuReferenceLoader(settings.sku_reference_url).get()
    inventory = Inventory.from_graph(subscriptions, subscribed_skus, partner_tenant_id)
    catalog = catalog_cache.for_customer(customer_id, country)
    holders = {line.sku_id: graph.list_users_with_sku(tenant, line.sku_id) for line in inventory.lines}
    plan = plan_transfer(inventory, catalog, reference, transfer.options, holders)
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
from .preflight import (
    Cutover,
    DisabledPlan,
    GroupShare,
    IssueReason,
    UserIssue,
    UserPreflight,
    check_users,
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
    "Cutover",
    "Decision",
    "DisabledPlan",
    "GroupShare",
    "Inventory",
    "IssueReason",
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
    "UserIssue",
    "UserPreflight",
    "check_users",
    "plan_transfer",
    "read_location",
]
