"""The plan of a transfer from live data (inventory from Graph, catalog from Partner Center), and
the lines it becomes in the record.

Nothing here buys anything, so an admin can ask for the plan as often as they like; the catalog
is shared per country and the SKU reference per process, so asking is cheap.

Graph reads per plan: ``directory/subscriptions`` and ``subscribedSkus`` (paged), then one paged
``users`` query per source line (up to 999 users a page) for the user pre-flight. Skipped SKUs
(trial, free, already with this partner...) are not read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from shared.catalog.deciding import plan_transfer
from shared.catalog.inventory import Inventory, SourceLine
from shared.catalog.offers import Catalog
from shared.catalog.plan import Decision, Plan, PlanLine
from shared.clients.graph import GraphClient
from shared.domain import Line, LineState, LineTransfer, Replacement, Transfer
from shared.workflow.rules.partner_transfer import BY_TRANSFER, expected_paths
from shared.workflow.sources import CatalogCache, SkuReferenceLoader


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
        subscriptions = list(self._graph.list_directory_subscriptions(tenant))
        inventory = Inventory.from_graph(
            subscriptions, self._graph.list_subscribed_skus(tenant), self._partner_tenant_id
        )
        catalog = self._catalogs.for_customer(tenant, transfer.customer_country)
        plan = self._decide(transfer, inventory, catalog)
        if transfer.source_partner is None:
            return plan
        # Partner Center's catalog names each offer's product type; Graph shows none.
        kinds = {
            p.source_sku_id: {i.product.product_type for i in catalog.offers_for(p.source_sku_id)}
            for p in plan.lines
        }
        return replace(
            plan, transfer_paths=expected_paths(plan.lines, subscriptions, transfer.source_partner, kinds)
        )

    def rebuy_lines(self, transfer: Transfer, lines: Sequence[Line], now: datetime) -> Mapping[str, Line]:
        """The lines a partner transfer did not move, decided again for their ``quantity`` against
        today's catalog: an offer withdrawn since the plan takes the equivalent-offer path (with its
        approval rule and lost plans, then a cutover that moves the holders), like any other line."""
        tenant = transfer.customer_tenant_id
        pools = {s.sku_id: s for s in self._graph.list_subscribed_skus(tenant)}
        sources = tuple(
            SourceLine(
                sku_id=x.source_sku_id,
                sku_part_number=x.source_sku_part_number,
                quantity=x.quantity,
                subscription_ids=x.original_subscription_ids,
                next_lifecycle=x.original_expires,
                service_plans=pools[x.source_sku_id].service_plans if x.source_sku_id in pools else (),
            )
            for x in lines
        )
        inventory = Inventory(sources, (), {sku: pool.service_plans for sku, pool in pools.items()})
        catalog = self._catalogs.for_customer(tenant, transfer.customer_country)
        plan = self._decide(transfer, inventory, catalog)
        return {p.source_sku_id: line_from(transfer, p, now) for p in plan.lines}

    def _decide(self, transfer: Transfer, inventory: Inventory, catalog: Catalog) -> Plan:
        """The plan of ``inventory``, with each source line's holders for its user pre-flight."""
        tenant = transfer.customer_tenant_id
        # Lazy: each query runs when plan_transfer reaches its line, and is read once.
        holders = {
            line.sku_id: self._graph.list_users_with_sku(tenant, line.sku_id) for line in inventory.lines
        }
        return plan_transfer(inventory, catalog, self._references.get(), transfer.options, holders)


def line_from(transfer: Transfer, planned: PlanLine, now: datetime, path: LineTransfer | None = None) -> Line:
    replacements = tuple(
        Replacement(
            catalog_item_id=t.catalog_item_id,
            sku_id=t.provisioning_id,
            quantity=t.quantity,
            term_duration=t.term_duration,
            billing_cycle=t.billing_cycle,
            product_name=t.title or None,
        )
        for t in planned.targets
    )
    deferred = transfer.options.deferred and planned.decision in (Decision.IDENTICAL, Decision.EQUIVALENT)
    line = Line(
        transfer_id=transfer.id,
        source_sku_id=planned.source_sku_id,
        source_sku_part_number=planned.source_sku_part_number,
        source_product_name=planned.source_name,
        quantity=planned.quantity,
        original_expires=planned.next_lifecycle,
        purchase_due=transfer.options.purchase_due(planned.next_lifecycle, now) if deferred else None,
        decision=planned.decision.value,
        replacements=replacements,
        original_subscription_ids=planned.subscription_ids,
        explanation=planned.explanation[:4000],
        # Only an equivalent offer moves licences at cutover; the pre-flight counted who holds the SKU.
        users_to_move=planned.users.holders
        if planned.users and planned.decision is Decision.EQUIVALENT
        else 0,
        upgraded_plans=tuple((c.service_plan_id, c.covered_by) for c in planned.upgraded_plans),
    )
    line = replace(line, partner_transfer=path)
    if path is not None and path.path == BY_TRANSFER:
        # Asked of the source partner: nothing to buy, no licence to move, unless it falls back.
        return replace(line, state=LineState.TRANSFERRING, purchase_due=None, users_to_move=0)
    if planned.decision in (Decision.SKIPPED,):
        return replace(line, state=LineState.SKIPPED, reason=planned.reason or planned.explanation[:500])
    if planned.decision is Decision.BLOCKED:
        return replace(
            line,
            state=LineState.BLOCKED,
            resume_state=LineState.PLANNED,
            reason=planned.reason or planned.explanation[:500],
        )
    if planned.needs_approval:
        lost = ", ".join(p.service_plan_name for p in planned.lost_plans if p.data_bearing)
        return replace(line, state=LineState.NEEDS_APPROVAL, reason=f"the equivalent offer loses {lost}")
    return line


def preflight_warning(plan: Plan) -> str | None:
    """What the user pre-flight found that the cutover will trip over, for the record; ids only."""
    failing = Counter(issue.reason.value for p in plan.lines if p.users for issue in p.users.will_fail)
    short = [
        f"{p.source_name} by {p.users.seat_shortfall}"
        for p in plan.lines
        if p.users and p.users.seat_shortfall
    ]
    parts = []
    if failing:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(failing.items()))
        parts.append(f"{sum(failing.values())} user(s) would fail at cutover ({reasons})")
    if short:
        parts.append(f"seats short of the holders: {', '.join(short)}")
    if not parts:
        return None
    return "pre-flight: " + "; ".join(parts) + ". The plan (GET .../plan) names the users and groups."
