"""From the customer's acceptance to a stored plan: the relationship confirmed, the region checked
again, delegated access checked, every line decided.

Partner Center shows a new relationship to some calls before others, so a step that does not see
it yet waits and comes back (up to :data:`ACCEPTANCE_RETRIES` times) instead of failing. The GDAP
request that gives the product its roles in the customer's tenant is made at start, by the admin
use case, and asked again by ``retry`` when it could not be made then.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from shared.catalog.plan import Plan
from shared.clients.errors import (
    GdapRoleMissingError,
    NoRelationshipError,
    ServiceError,
    UnauthorizedError,
    call_details,
    said,
)
from shared.domain import (
    UNDECIDED,
    Change,
    GdapRequest,
    HistoryEntry,
    Line,
    LineState,
    TransferState,
    blocked_on_decisions,
)
from shared.domain.events import TransferEvent
from shared.domain.regions import region_of, same_region
from shared.store.records import TransferRecord
from shared.workflow.context import Next, StepContext
from shared.workflow.customers import named
from shared.workflow.planning import line_from, preflight_warning

LOG = logging.getLogger(__name__)

#: Roles the cutover needs in the customer's tenant: read users and subscriptions, assign licenses.
GDAP_ROLES = {
    "88d8e3e3-8f55-4a1e-953a-9b9898b8876b": "Directory Readers",
    "4d6ac14f-3453-41d0-bef9-a3e0c569773a": "License Administrator",
}
GDAP_APPROVAL_URL = (
    "https://admin.microsoft.com/AdminPortal/Home#/partners/invitation/granularAdminRelationships/{id}"
)
ACCEPTANCE_RETRIES = 20  # relationship not visible yet after the webhook: Partner Center lags
LINES_PER_COMMIT = 90  # Azure's 100 operations per transaction, less header and history


def confirm_acceptance(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """Partner Center lags after acceptance: until it shows the relationship, come back later."""
    customer = record.transfer.customer_tenant_id
    if not ctx.partner_center.has_relationship(customer):
        if event.attempt >= ACCEPTANCE_RETRIES:
            LOG.info(
                "transfer %s: relationship still not visible; the timer will look again", event.transfer_id
            )
            return Next(record, stop=True)
        return Next(record, wait_seconds=lag_wait(event))
    transfer, entry = record.transfer.move(TransferState.ACCEPTED, at=ctx.now(), actor=event.source)
    entry = replace(
        entry,
        message=f"the customer accepted the reseller relationship ({event.source})",
        event_id=event.event_id,
    )
    return Next(ctx.commit(record, Change(transfer, history=(entry,))))


def plan_lines(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """Re-check the region on the company profile (and take the customer's names from it), check
    delegated access, plan every line."""
    try:
        profile = ctx.partner_center.get_company_profile(record.transfer.customer_tenant_id)
    except NoRelationshipError:
        # Partner Center shows a new relationship to some calls before others: wait, don't fail.
        if event.attempt < ACCEPTANCE_RETRIES:
            return Next(record, wait_seconds=lag_wait(event))
        raise
    record = replace(record, transfer=named(record.transfer, profile))  # stored with the plan
    transfer = record.transfer
    country = profile.address.country.upper() if profile.address and profile.address.country else None
    partner = ctx.partner.country
    if country and not same_region(partner, country):
        return ctx.halt(
            record,
            f"the customer's company profile says {country} (CSP region {region_of(country)}), outside "
            f"the partner's region {region_of(partner)}; Microsoft would refuse the order",
        )
    try:
        plan = ctx.planner.plan(transfer)
    except (GdapRoleMissingError, UnauthorizedError, NoRelationshipError) as error:
        url = transfer.gdap.approval_url if transfer.gdap else None
        instructions = (
            f"the customer's admin must approve the GDAP request at {url}"
            if url
            else "ask the customer's admin to grant GDAP with Directory Readers and License Administrator"
        )
        return ctx.halt(
            record, f"no delegated access to the customer's tenant ({error.code}): {instructions}, then retry"
        )
    return Next(_record_plan(ctx, record, plan))


def _record_plan(ctx: StepContext, record: TransferRecord, plan: Plan) -> TransferRecord:
    """Store every line, a few transactions at a time for a long plan (the last one marks the
    transfer as planned, so a crash in between plans again), with what the admin should know."""
    at = ctx.now()
    lines = [line_from(record.transfer, p, at, plan.transfer_paths.get(p.source_sku_id)) for p in plan.lines]
    chunks = [tuple(lines[i : i + LINES_PER_COMMIT]) for i in range(0, len(lines), LINES_PER_COMMIT)]
    for chunk in chunks[:-1]:
        record = ctx.commit(record, Change(replace(record.transfer, updated_at=at), chunk))
    summary = _summary(lines)
    history = [HistoryEntry(at=at, action="plan", message=summary)]
    warning = preflight_warning(plan)
    if warning:
        history.append(HistoryEntry(at=at, action="preflight", message=warning))
    history.extend(_lapse_reminder(lines, at))
    change = Change(
        replace(record.transfer, updated_at=at, planned=True), chunks[-1] if chunks else (), tuple(history)
    )
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


def request_gdap(ctx: StepContext, record: TransferRecord) -> TransferRecord:
    """Ask for the roles the cutover needs; a name tied to the transfer makes a repeat find the first.

    A failure is recorded, not raised: the transfer is stored and its invitation link issued, and
    ``retry`` asks again.
    """
    transfer = record.transfer
    name = f"csp-transfer {transfer.id}"
    graph, partner = ctx.graph, ctx.partner.tenant_id
    try:
        relationship = graph.find_admin_relationship(partner, name)
        if relationship is None:
            relationship = graph.create_admin_relationship(
                partner, transfer.customer_tenant_id, name, sorted(GDAP_ROLES)
            )
        if relationship.status == "created":
            graph.lock_admin_relationship_for_approval(partner, relationship.id)
            relationship = replace(relationship, status="approvalPending")
    except ServiceError as error:
        message = f"the GDAP request could not be made ({said(error)}); retry asks again"
        return ctx.note(record, "gdap", message, actor="api", details=call_details(error))
    gdap = GdapRequest(
        relationship_id=relationship.id,
        approval_url=GDAP_APPROVAL_URL.format(id=relationship.id),
        roles=tuple(GDAP_ROLES[r] for r in sorted(GDAP_ROLES)),
        status=relationship.status,
    )
    at = ctx.now()
    message = f"GDAP relationship requested ({', '.join(gdap.roles)}); approval link issued"
    entry = HistoryEntry(at=at, action="gdap", actor="api", message=message)
    return ctx.commit(record, Change(replace(transfer, gdap=gdap, updated_at=at), history=(entry,)))


def lag_wait(event: TransferEvent) -> float:
    """How long to wait for Partner Center to show an accepted relationship everywhere."""
    return min(30.0 * (event.attempt + 1), 300.0)
