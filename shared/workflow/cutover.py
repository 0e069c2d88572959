"""The end of a transfer: the originals' lapse dates taken in, each line cut over as its original
is about to lapse, and the summary once every line is done.

An identical line moves no licence: the same SKU was bought, so its holders keep their licences as
long as the pool holds them (:func:`~shared.workflow.licenses.check_pool`). An equivalent line
moves its holders to the replacement SKUs (:func:`~shared.workflow.licenses.run_cutover`), a bounded
number at a time, after the line is marked as moving (the intent) first; the members of a group it
changed are then read until each shows the replacement or an error
(:mod:`shared.workflow.groups`). Each line goes on by itself: one whose users could not all be moved
fails alone, and once no line is due the transfer fails naming every failed line
(:func:`halt_failed_lines`). The originals are never cancelled: cancelling is not refunded; they
are watched until they have really lapsed (:mod:`shared.workflow.rules.originals`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from shared import telemetry
from shared.catalog.plan import Decision
from shared.domain import Change, HistoryEntry, Line, LineState, Transfer, TransferState
from shared.domain.events import TransferEvent
from shared.resources.graph import SubscribedSku
from shared.store.records import TransferRecord
from shared.workflow.access_ending import end_after_watch
from shared.workflow.context import Next, StepContext
from shared.workflow.groups import check_groups
from shared.workflow.licenses import LineCutover, check_pool, refill_seconds, run_batches, run_cutover
from shared.workflow.rules.originals import attend, watching
from shared.workflow.rules.partner_transfer import TRANSFERRED
from shared.workflow.rules.progress import (
    CutoverProgress,
    failed_at_cutover,
    failed_ids,
    progressed,
    verified,
)

#: Reads of a group's members (backing off to one every 15 minutes: about two days) before its line
#: fails: Entra "may take more than 24 hours" only for groups of tens of thousands.
GROUP_POLLS = 200
GROUP_QUICK_READS = 4  # small groups are processed in seconds: read them at the first pace this often


def track_originals(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """The timer announced that the originals are due a read (their last read is
    ``ORIGINALS_READ_HOURS`` old, or a stored date has come: a lapse, a reminder, a lapse risk) or
    that a purchase or a cutover is due: read the dates (one paged Graph read), record what they
    call for and when they were read, tell the alert, and go on."""
    now = ctx.now()
    transfer = record.transfer
    subscriptions = {s.id: s for s in ctx.graph.list_directory_subscriptions(transfer.customer_tenant_id)}
    seen = attend(transfer, record.lines, subscriptions, now, ctx.cutover_lead)
    header = replace(
        transfer,
        originals_read_for=event.event_id,
        originals_read_at=now,
        lapse_risk_on=seen.lapse_risk_on,
        updated_at=now if seen.lines else transfer.updated_at,
    )
    record = ctx.commit(record, Change(header, seen.lines, seen.history))
    for notice, line_id, lapses_on in seen.notices:
        telemetry.original_notice(transfer.id, line_id, notice, lapses_on)
    if transfer.state is TransferState.COMPLETED and not watching(record.lines):
        ctx.store.watched.remove(transfer.id)
        record = end_after_watch(ctx, record)  # nothing left to read in the tenant
    return Next(record)


def cut_over(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """The due lines, from one read of the tenant's SKUs: every identical line is checked, then
    one equivalent line moves its holders (a run of them)."""
    now = ctx.now()
    due = [x for x in record.lines if x.cutover_is_due(now, ctx.cutover_lead)]
    transfer, history = record.transfer, []
    if transfer.state is not TransferState.CUTTING_OVER:
        transfer, entry = transfer.move(TransferState.CUTTING_OVER, at=now, actor="workflow")
        history.append(entry)
    skus = {s.sku_id: s for s in ctx.graph.list_subscribed_skus(transfer.customer_tenant_id)}
    identical = [x for x in due if x.decision == Decision.IDENTICAL.value]
    checked = tuple(_check_identical(skus, line, now) for line in identical)
    moving = [x for x in due if x.decision != Decision.IDENTICAL.value][:1]
    if moving and moving[0].state is LineState.ACTIVE:
        line, entry = moving[0].move(LineState.MOVING_LICENSES, at=now, actor="workflow")
        checked, moving = (*checked, (line, entry)), [line]
    if checked:
        lines = tuple(line for line, _ in checked)
        entries = (*history, *(entry for _, entry in checked))
        record = ctx.commit(record, Change(replace(transfer, updated_at=now), lines, entries))
        transfer, history = record.transfer, []
    if not moving:
        return Next(record)
    return _swap_licenses(ctx, record, transfer, history, moving[0], skus)


def _check_identical(
    skus: Mapping[str, SubscribedSku], line: Line, now: datetime
) -> tuple[Line, HistoryEntry]:
    """An identical line done, or failed when the pool does not hold its users."""
    check = check_pool(skus, line.source_sku_id, sum(r.quantity for r in line.replacements))
    if not check.ok:
        reason = f"{line.name}: {check.reason}; retry checks again"
        return line.move(LineState.FAILED, at=now, actor="workflow", reason=reason)
    done, entry = line.move(LineState.COMPLETED, at=now, actor="workflow")
    return done, replace(entry, message=f"{line.name}: the same SKU was bought; no licence changes")


def _swap_licenses(
    ctx: StepContext,
    record: TransferRecord,
    transfer: Transfer,
    history: list[HistoryEntry],
    line: Line,
    skus: Mapping[str, SubscribedSku],
) -> Next:
    """One bounded run of the line's swap; once no holder is left to move, its groups' members are
    verified, then the line is done. The next run waits for Graph's write quota to refill. A tenant
    that no longer lists the original's SKU (its subscriptions deleted, nobody holding it: say once
    a group of a cutover run long after the lapse is processed) has nobody left to move."""
    if line.source_sku_id.lower() not in skus:
        return _after_swaps(ctx, record, transfer, history, line)
    locate = transfer.options.usage_location_from_tenant
    cutover = _line_cutover(skus, transfer.customer_tenant_id, line)
    batches = run_batches(ctx.graph_write_quota)
    run = run_cutover(ctx.graph, cutover, failed=failed_ids(line), locate=locate, max_batches=batches)
    telemetry.count_license_swaps(run.moved)
    if run.retry_after is not None:  # Graph throttled: the rest of the line runs later
        telemetry.count_throttling_wait("cut_over")
    line = progressed(line, run)
    at = ctx.now()
    history = [*history, *_located(run, line, at)]
    if run.retry_after is not None or not run.finished:
        record = ctx.commit(record, Change(replace(transfer, updated_at=at), (line,), tuple(history)))
        refilled = refill_seconds(run.writes, ctx.graph_write_quota)
        return Next(record, wait_seconds=max(run.retry_after or 0.0, refilled))
    return _after_swaps(ctx, record, transfer, history, line)


def _after_swaps(
    ctx: StepContext, record: TransferRecord, transfer: Transfer, history: list[HistoryEntry], line: Line
) -> Next:
    if line.groups_to_verify:
        return _verify_groups(ctx, record, transfer, history, line)
    return _finish_line(ctx, record, transfer, history, line)


def _located(run: CutoverProgress, line: Line, at: datetime) -> list[HistoryEntry]:
    """A row per user given a usage location (an object id, never a name)."""
    return [
        HistoryEntry(
            at=at,
            action="usage-location",
            line_id=line.id,
            message=f"user {user}: usage location set to {run.country}, the tenant's country "
            "(option usageLocationFromTenant)",
        )
        for user in run.located
    ]


def _verify_groups(
    ctx: StepContext,
    record: TransferRecord,
    transfer: Transfer,
    history: list[HistoryEntry],
    line: Line,
) -> Next:
    """Every member of the line's changed groups seen with the replacement or an error, or come
    back later (Entra processes a group's change in the background); errors are the members'."""
    targets = {r.sku_id for r in line.replacements}
    groups = line.groups_to_verify
    check = check_groups(ctx.graph, transfer.customer_tenant_id, line.source_sku_id, targets, groups)
    line = verified(line, check.settled, check.failures)
    at = ctx.now()
    for group in check.settled:
        failed = Counter(f.reason for f in check.failures if f.group_id == group)
        outcome = ", ".join(f"{n} {why}" for why, n in sorted(failed.items()))
        message = "a licensing group's change is applied: " + (
            f"Entra could not license member(s): {outcome}"
            if failed
            else "every member holds the replacement"
        )
        details = (("groupId", group),)
        history.append(
            HistoryEntry(at=at, action="group-verified", line_id=line.id, message=message, details=details)
        )
    if not line.groups_to_verify:
        return _finish_line(ctx, record, transfer, history, line)
    if line.group_reads >= GROUP_POLLS:
        reason = (
            f"Entra has not processed the change of group(s) {', '.join(line.groups_to_verify)} "
            f"after {line.group_reads} reads ({check.pending} member(s) waiting); retry reads them again"
        )
        failed_line, entry = line.move(LineState.FAILED, at=at, actor="workflow", reason=reason)
        return Next(
            ctx.commit(record, Change(replace(transfer, updated_at=at), (failed_line,), (*history, entry)))
        )
    record = ctx.commit(record, Change(replace(transfer, updated_at=at), (line,), tuple(history)))
    backoff = 2 ** min(max(line.group_reads - GROUP_QUICK_READS, 0), 8)  # a few quick reads, then slower
    return Next(record, wait_seconds=min(ctx.group_poll_seconds * backoff, 900.0))


def _finish_line(
    ctx: StepContext, record: TransferRecord, transfer: Transfer, history: list[HistoryEntry], line: Line
) -> Next:
    """Completed, or failed alone: the other due lines go on (see :func:`halt_failed_lines`)."""
    at = ctx.now()
    if line.users_failed:
        reasons = Counter(f.reason for f in line.user_failures)
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
        reason = (
            f"{line.users_failed} user(s) of {line.name} could not be moved ({why}); "
            "those assigned directly keep the old license until it lapses, group members Entra could not "
            "license have neither: fix them and retry, which re-drives only them"
        )
        line, entry = line.move(LineState.FAILED, at=at, actor="workflow", reason=reason)
        return Next(ctx.commit(record, Change(replace(transfer, updated_at=at), (line,), (*history, entry))))
    line, entry = line.move(LineState.COMPLETED, at=at, actor="workflow")
    message = f"{line.name}: {line.users_moved} licence(s) moved to the replacement"
    change = Change(replace(transfer, updated_at=at), (line,), (*history, replace(entry, message=message)))
    return Next(ctx.commit(record, change))


def halt_failed_lines(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """No line is due any more and some failed at cutover: the transfer fails, naming each."""
    failed = [x for x in record.lines if failed_at_cutover(x)]
    reasons = "; ".join(f"{x.name}: {x.reason}" for x in failed)
    reason = f"{len(failed)} line(s) could not be cut over: {reasons}"
    transfer, halted = record.transfer.move(
        TransferState.FAILED, at=ctx.now(), actor="workflow", reason=reason
    )
    # The lines' rows say why; the transfer's says what it means, not the same sentences again.
    names = " and ".join(x.name for x in failed)
    halted = replace(halted, message=f"stopped until the failed users of {names} are fixed and retried")
    return Next(ctx.commit(record, Change(transfer, history=(halted,))), stop=True)


def _line_cutover(skus: Mapping[str, SubscribedSku], customer: str, line: Line) -> LineCutover:
    """The swap from the tenant's own SKUs: the replacements are bought and in the tenant by now.
    The plan's tier upgrades keep a plan the holder switched off switched off on its higher tier."""
    source = skus[line.source_sku_id.lower()]
    targets = [skus[sku] for sku in dict.fromkeys(r.sku_id.lower() for r in line.replacements)]
    return LineCutover.between(customer, source, targets, dict(line.upgraded_plans))


def complete(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """Every line done: the customer runs on the partner's subscriptions. Sum it up, and keep
    watching the originals that have not lapsed yet (the watch is added before the commit, so a
    crash in between leaves a watch too many, never one too few)."""
    at = ctx.now()
    moved = [x for x in record.lines if x.state is LineState.COMPLETED]
    bought = [x for x in moved if not (x.partner_transfer and x.partner_transfer.status == TRANSFERRED)]
    transferred = len(moved) - len(bought)
    skipped = len(record.lines) - len(moved)
    lapses = ", ".join(f"{x.name} {x.original_expires:%Y-%m-%d}" for x in bought if x.original_expires)
    transfer, entry = record.transfer.move(TransferState.COMPLETED, at=at, actor="workflow")
    counted = replace(transfer, api_calls=transfer.api_calls + ctx.calls_so_far())
    summary = (
        f"completed: {sum(len(x.subscription_ids) for x in bought)} subscription(s) bought for {len(bought)} "
        f"line(s), {transferred} transferred from the partner ({skipped} skipped); "
        f"{sum(x.users_moved for x in bought)} license(s) moved; originals "
        f"lapse {lapses or 'on their own'}; {counted.api_calls} Partner Center and Graph calls"
    )
    if watching(record.lines):
        ctx.store.watched.add(record.transfer.id)
    change = Change(counted, history=(replace(entry, message=summary),))
    return Next(ctx.store.commit(record, change), stop=True)
