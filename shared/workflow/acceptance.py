"""From the customer's acceptance to a stored plan: the relationship confirmed, the region checked
again on the tenant's own country (:mod:`.rules.region`) once delegated access is verified, every
line decided.

Partner Center shows a new relationship to some calls before others, so a step that does not see
it yet waits and comes back (up to :data:`ACCEPTANCE_RETRIES` times) instead of failing. Planning
reads the customer's tenant, so it runs only once the product's delegated access there is set up
and verified (:mod:`shared.workflow.access`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from shared.catalog.plan import Plan
from shared.catalog.segments import describe
from shared.clients.errors import GdapRoleMissingError, NoRelationshipError, ServiceError, UnauthorizedError
from shared.domain import (
    UNDECIDED,
    Change,
    HistoryEntry,
    Line,
    LineState,
    Transfer,
    TransferState,
    blocked_on_decisions,
)
from shared.domain.events import TransferEvent
from shared.store.records import TransferRecord
from shared.workflow.context import Next, StepContext
from shared.workflow.customers import named
from shared.workflow.planning import line_from, preflight_warning
from shared.workflow.rules.region import check_region

LOG = logging.getLogger(__name__)

ACCEPTANCE_RETRIES = 20  # relationship not visible yet after the webhook: Partner Center lags
LINES_PER_COMMIT = 90  # Azure's 100 operations per transaction, less header and history


def confirm_acceptance(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """Partner Center lags after acceptance: until it shows the relationship, come back later."""
    customer = ctx.partner_center.related_customer(record.transfer.customer_tenant_id)
    if customer is None:
        if event.attempt >= ACCEPTANCE_RETRIES:
            LOG.info(
                "transfer %s: relationship still not visible; the timer will look again", event.transfer_id
            )
            return Next(record, stop=True)
        return Next(record, wait_seconds=lag_wait(event))
    named_transfer = named(record.transfer, customer.company_profile) if customer.company_profile else None
    transfer, entry = (named_transfer or record.transfer).move(
        TransferState.ACCEPTED, at=ctx.now(), actor=event.source
    )
    entry = replace(
        entry,
        message=f"the customer accepted the reseller relationship ({event.source})",
        event_id=event.event_id,
    )
    return Next(ctx.commit(record, Change(transfer, history=(entry,))))


_ACCESS_REFUSED = (GdapRoleMissingError, UnauthorizedError, NoRelationshipError)


def plan_lines(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """Check the region on the tenant's country (delegated access is verified by now), then plan
    every line; a tenant outside the partner's region stops here, before anything is bought. The
    company profile (its address) is read only when Graph gives no tenant country: the customer's
    names came with the customer read that confirmed the acceptance."""
    transfer = record.transfer
    try:
        tenant = _tenant_country(ctx, transfer)
    except _ACCESS_REFUSED as error:
        return _access_refused(ctx, record, error)
    address = None
    if not tenant:
        try:
            profile = ctx.partner_center.get_company_profile(transfer.customer_tenant_id)
        except NoRelationshipError:
            # Partner Center shows a new relationship to some calls before others: wait, don't fail.
            if event.attempt < ACCEPTANCE_RETRIES:
                return Next(record, wait_seconds=lag_wait(event))
            raise
        address = profile.address.country.upper() if profile.address and profile.address.country else None
        transfer = named(transfer, profile)
    region = check_region(ctx.partner.country, transfer.customer_country, tenant, address)
    if not region.allowed:
        return ctx.halt(replace(record, transfer=transfer), region.message)
    # The catalog is the one of the tenant's country, which may differ from the typed one.
    transfer = replace(transfer, customer_country=region.country)
    try:
        plan = ctx.planner.plan(transfer, identical_holders=False)  # nobody moves on those lines
    except _ACCESS_REFUSED as error:
        return _access_refused(ctx, record, error)
    checked = HistoryEntry(at=ctx.now(), action="region", message=region.message)
    return Next(_record_plan(ctx, replace(record, transfer=transfer), plan, checked))


def _tenant_country(ctx: StepContext, transfer: Transfer) -> str | None:
    """The tenant's country as the read that verified access found it, else read now."""
    gdap = transfer.gdap
    if gdap is not None and gdap.verified_at and gdap.tenant_country is not None:
        return gdap.tenant_country or None
    return ctx.graph.get_organization(transfer.customer_tenant_id).country_letter_code


def _access_refused(ctx: StepContext, record: TransferRecord, error: ServiceError) -> Next:
    return ctx.halt(
        record,
        f"delegated access to the customer's tenant was refused after it was verified ({error.code}): "
        "its GDAP relationship or access assignment changed; retry checks it again",
    )


def _record_plan(
    ctx: StepContext, record: TransferRecord, plan: Plan, region: HistoryEntry
) -> TransferRecord:
    """Store every line, a few transactions at a time for a long plan (the last one marks the
    transfer as planned, so a crash in between plans again), with what the admin should know."""
    at = ctx.now()
    lines = [line_from(record.transfer, p, at, plan.transfer_paths.get(p.source_sku_id)) for p in plan.lines]
    chunks = [tuple(lines[i : i + LINES_PER_COMMIT]) for i in range(0, len(lines), LINES_PER_COMMIT)]
    for chunk in chunks[:-1]:
        record = ctx.commit(record, Change(replace(record.transfer, updated_at=at), chunk))
    summary = _summary(lines)
    history = [region, HistoryEntry(at=at, action="plan", message=summary), _segment_entry(plan, at)]
    warning = preflight_warning(plan)
    if warning:
        history.append(HistoryEntry(at=at, action="preflight", message=warning))
    history.extend(_lapse_reminder(lines, at))
    # the plan's inventory read the originals' dates: the timer's next read goes from here
    header = replace(record.transfer, updated_at=at, planned=True, segment=plan.segment, originals_read_at=at)
    change = Change(header, chunks[-1] if chunks else (), tuple(history))
    change = blocked_on_decisions(change, at, "workflow", lines)
    to_buy = [x for x in lines if x.state in (LineState.PLANNED, LineState.TRANSFERRING)]
    if change.transfer.state is not TransferState.BLOCKED and not to_buy:
        # Said apart from the plan's row above it, which already counts the lines.
        reason = "nothing to buy: " + (
            "every line is skipped (see the plan)" if lines else "no subscriptions from other channels"
        )
        transfer, entry = change.transfer.move(TransferState.BLOCKED, at=at, actor="workflow", reason=reason)
        change = replace(change, transfer=transfer, history=(*change.history, entry))
    return ctx.commit(record, change)


def _segment_entry(plan: Plan, at: datetime) -> HistoryEntry:
    message = f"{describe(plan.segment)} availabilities of new-commerce offers only are bought"
    return HistoryEntry(at=at, action="segment", message=message)


def _summary(lines: Sequence[Line]) -> str:
    if not lines:
        return "planned: the customer holds nothing from other channels that this partner can replace"
    kinds = Counter(
        "by partner transfer" if x.state is LineState.TRANSFERRING else str(x.decision or x.state)
        for x in lines
    )
    return "planned: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))


def _lapse_reminder(lines: Sequence[Line], at: datetime) -> list[HistoryEntry]:
    """The originals are never cancelled: the customer must let them lapse, auto-renewal off."""
    lapsing = [
        x for x in lines if x.original_expires and (x.state is LineState.PLANNED or x.state in UNDECIDED)
    ]
    if not lapsing:
        return []
    dates = ", ".join(f"{x.name} {x.original_expires:%Y-%m-%d}" for x in lapsing)
    message = (
        f"the originals are never cancelled (no refund): they lapse on their own ({dates}); "
        "ask the customer to turn off their auto-renewal so that they do"
    )
    return [HistoryEntry(at=at, action="originals", message=message)]


def lag_wait(event: TransferEvent) -> float:
    """How long to wait for Partner Center to show an accepted relationship everywhere."""
    return min(30.0 * (event.attempt + 1), 300.0)
