"""The plan of a transfer from live data (inventory from Graph, catalog from Partner Center), and
the lines it becomes in the record.

Nothing here buys anything, so an admin can ask for the plan as often as they like; the catalog
is shared per country and segment and the SKU reference per process, so asking is cheap. The
customer's segment is read once, with its qualifications, and kept on the record from the plan on.

Graph reads per plan: ``directory/subscriptions`` and ``subscribedSkus`` (paged), then one paged
``users`` query per source line (up to 999 users a page) for the user pre-flight. Skipped SKUs
(trial, free, already with this partner...) are not read, nor, in the workflow's plan, the holders
of a line bought as its identical offer: nobody moves on it at cutover.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from shared.catalog.deciding import plan_transfer
from shared.catalog.inventory import Inventory, SourceLine
from shared.catalog.offers import Catalog
from shared.catalog.plan import Decision, Plan, PlanLine, PlanOption, TargetItem
from shared.catalog.segments import COMMERCIAL, segment_of
from shared.clients.graph import GraphClient
from shared.domain import NAMED_USERS, Line, LineChoice, LineState, LineTransfer, Replacement, Transfer
from shared.resources.agreements import Qualification
from shared.resources.partner_center import Availability
from shared.workflow.rules.partner_transfer import BY_TRANSFER, expected_paths
from shared.workflow.sources import CatalogCache, SkuReferenceLoader


class QualificationSource(Protocol):
    def list_qualifications(self, customer_id: str) -> Iterable[Qualification]: ...


class Planner:
    def __init__(
        self,
        graph: GraphClient,
        catalogs: CatalogCache,
        references: SkuReferenceLoader,
        partner_tenant_id: str,
        qualifications: QualificationSource | None = None,
    ) -> None:
        self._graph = graph
        self._catalogs = catalogs
        self._references = references
        self._partner_tenant_id = partner_tenant_id
        self._qualifications = qualifications

    def segment_of(self, transfer: Transfer) -> str:
        """The customer's segment: as recorded with the plan, else read from its qualifications."""
        if transfer.segment:
            return transfer.segment
        if self._qualifications is None:
            return COMMERCIAL
        return segment_of(self._qualifications.list_qualifications(transfer.customer_tenant_id))

    def catalog_for(self, transfer: Transfer) -> Catalog:
        """Today's catalog of the customer's country and segment (cached)."""
        segment = self.segment_of(transfer)
        return self._catalogs.for_customer(transfer.customer_tenant_id, transfer.customer_country, segment)

    def refresh_catalog(self, transfer: Transfer) -> None:
        """Read the catalog again next time: Partner Center no longer sells as it said."""
        self._catalogs.invalidate(transfer.customer_country, self.segment_of(transfer))

    def sold_today(
        self, transfer: Transfer, product_id: str, sku_id: str, at: datetime
    ) -> list[Availability] | None:
        """What the customer's country and segment can buy of a product and SKU right now (read
        shortly before ``at``, shared by every customer of them); ``None``: no longer listed."""
        return self._catalogs.sold_today(
            transfer.customer_tenant_id,
            transfer.customer_country,
            self.segment_of(transfer),
            product_id,
            sku_id,
            at,
        )

    def forget_today(self, transfer: Transfer) -> None:
        """Read the availabilities again before the next cart of the customer's country and segment."""
        self._catalogs.forget_today(transfer.customer_country, self.segment_of(transfer))

    def plan(self, transfer: Transfer, *, identical_holders: bool = True) -> Plan:
        """The transfer's plan; without ``identical_holders`` (the workflow's plan) the holders of a
        line bought as its identical offer are not read: only an admin's look at the plan shows them."""
        tenant = transfer.customer_tenant_id
        subscriptions = list(self._graph.list_directory_subscriptions(tenant))
        inventory = Inventory.from_graph(
            subscriptions, self._graph.list_subscribed_skus(tenant), self._partner_tenant_id
        )
        catalog = self.catalog_for(transfer)
        plan = self._decide(transfer, inventory, catalog, identical_holders=identical_holders)
        if transfer.source_partner is None:
            return plan
        # Partner Center's catalog names each offer's product type; Graph shows none.
        kinds = {p.source_sku_id: catalog.product_types(p.source_sku_id) for p in plan.lines}
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
        catalog = self.catalog_for(transfer)
        plan = self._decide(transfer, inventory, catalog)
        return {p.source_sku_id: line_from(transfer, p, now) for p in plan.lines}

    def _decide(
        self, transfer: Transfer, inventory: Inventory, catalog: Catalog, *, identical_holders: bool = True
    ) -> Plan:
        """The plan of ``inventory``, with each source line's holders for its user pre-flight."""
        tenant = transfer.customer_tenant_id
        # Lazy: each query runs when plan_transfer reaches its line, and is read once.
        holders = {
            line.sku_id: self._graph.list_users_with_sku(tenant, line.sku_id) for line in inventory.lines
        }
        return plan_transfer(
            inventory,
            catalog,
            self._references.get(),
            transfer.options,
            holders,
            identical_holders=identical_holders,
        )


def line_from(transfer: Transfer, planned: PlanLine, now: datetime, path: LineTransfer | None = None) -> Line:
    replacements = _replacements(planned.targets)
    buys = planned.decision in (Decision.IDENTICAL, Decision.EQUIVALENT) or bool(planned.options)
    deferred = transfer.options.deferred and buys
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
    if planned.options:  # above a seat cap per customer: an admin approves it with a choice
        choices = tuple(_choice(option) for option in planned.options)
        return replace(line, state=LineState.NEEDS_APPROVAL, choices=choices, reason=planned.approval)
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
        return replace(
            line, state=LineState.NEEDS_APPROVAL, reason=f"the equivalent offer: {planned.approval}"
        )
    return line


def _replacements(targets: Sequence[TargetItem]) -> tuple[Replacement, ...]:
    return tuple(
        Replacement(
            catalog_item_id=t.catalog_item_id,
            sku_id=t.provisioning_id,
            quantity=t.quantity,
            term_duration=t.term_duration,
            billing_cycle=t.billing_cycle,
            attestation=t.attestation,
            product_name=t.title or None,
        )
        for t in targets
    )


def _choice(option: PlanOption) -> LineChoice:
    """An option as the record keeps it: what it buys, who moves at cutover, who is left out."""
    planned = option.line
    moves = planned.decision is Decision.EQUIVALENT  # an identical option moves no licence
    return LineChoice(
        name=option.choice.value,
        decision=planned.decision.value,
        replacements=_replacements(planned.targets),
        users_to_move=planned.users.holders if moves and planned.users else 0,
        upgraded_plans=tuple((c.service_plan_id, c.covered_by) for c in planned.upgraded_plans),
        users_without_seat=option.users_without_seat[:NAMED_USERS],
        unnamed=max(0, len(option.users_without_seat) - NAMED_USERS),
    )


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
