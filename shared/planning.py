"""The dry-run plan of a transfer from live data: inventory from Graph, catalog from Partner Center.

Nothing here buys anything, so an admin can ask for the plan as often as they like; the catalog
is shared per country and the SKU reference per process, so asking is cheap.

Graph reads per plan: ``directory/subscriptions`` and ``subscribedSkus`` (paged), then one paged
``users`` query per source line (up to 999 users a page) for the user pre-flight. Skipped SKUs
(trial, free, already with this partner...) are not read.
"""

from __future__ import annotations

from .catalog import CatalogCache, Inventory, Plan, SkuReferenceLoader, plan_transfer
from .domain import Transfer
from .graph import GraphClient


class Planner:
    def __init__(
        self,
        graph: GraphClient,
        catalogs: CatalogCache,
        references: SkuReferenceLoader,
        partner_tenant_id: str,
    ) -> None:
        self._graph = graph
        self._catalogs = catalogs
        self._references = references
        self._partner_tenant_id = partner_tenant_id

    def plan(self, transfer: Transfer) -> Plan:
        tenant = transfer.customer_tenant_id
        inventory = Inventory.from_graph(
            self._graph.list_directory_subscriptions(tenant),
            self._graph.list_subscribed_skus(tenant),
            self._partner_tenant_id,
        )
        catalog = self._catalogs.for_customer(tenant, transfer.customer_country)
        # Lazy: each query runs when plan_transfer reaches its line, and is read once.
        holders = {
            line.sku_id: self._graph.list_users_with_sku(tenant, line.sku_id) for line in inventory.lines
        }
        return plan_transfer(inventory, catalog, self._references.get(), transfer.options, holders)
