"""The end of a transfer: the originals' lapse dates taken in, each line cut over as its original
is about to lapse, and the summary once every line is done.

An identical line moves no licence: the same SKU was bought, so its holders keep their licences as
long as the pool holds them (:func:`~shared.workflow.licenses.verify_identical`). An equivalent line
moves its holders to the replacement SKUs (:func:`~shared.workflow.licenses.run_cutover`), a bounded
number at a time, after the line is marked as moving (the intent) first. The originals are never
cancelled: cancelling is not refunded.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from shared import telemetry
from shared.catalog.plan import Decision
from shared.domain import Change, HistoryEntry, Line, LineState, Transfer, TransferState
from shared.domain.events import TransferEvent
from shared.store.records import TransferRecord
from shared.workflow.context import Next, StepContext
from shared.workflow.licenses import LineCutover, run_cutover, verify_identical
from shared.workflow.rules.originals import lapse_changes
from shared.workflow.rules.partner_transfer import TRANSFERRED
from shared.workflow.rules.progress import failed_ids, progressed


def track_originals(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """The timer announced that an original's lapse date moved or something is due: read the
    dates (one paged Graph read), record what moved, and go on to what is due."""
    now = ctx.now()
    transfer = record.transfer
    subscriptions = {s.id: s for s in ctx.graph.list_directory_subscriptions(transfer.customer_tenant_id)}
    lines, history = lapse_changes(transfer, record.lines, subscriptions, now)
    header = replace(
        transfer, originals_read_for=event.event_id, updated_at=now if lines else transfer.updated_at
    )
    return Next(ctx.commit(record, Change(header, tuple(lines), tuple(history))))


def cut_over(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """One due line: an identical line is checked, an equivalent line moves its holders."""
    now = ctx.now()
    line = next(x for x in record.lines if x.cutover_is_due(now, ctx.cutover_lead))
    transfer, history = record.transfer, []
    if transfer.state is not TransferState.CUTTING_OVER:
        transfer, entry = transfer.move(TransferState.CUTTING_OVER, at=now, actor="workflow")
        history.append(entry)
    if line.decision == Decision.IDENTICAL.value:
        return _check_identical(ctx, record, transfer, history, line)
    if line.state is LineState.ACTIVE:
        line, entry = line.move(LineState.MOVING_LICENSES, at=now, actor="workflow")
        record = ctx.commit(record, Change(transfer, (line,), (*history, entry)))
        transfer, history = record.transfer, []
    return _swap_licenses(ctx, record, transfer, history, line)


def _check_identical(
    ctx: StepContext, record: TransferRecord, transfer: Transfer, history: list[HistoryEntry], line: Line
) -> Next:
    now = ctx.now()
    seats = sum(r.quantity for r in line.replacements)
    check = verify_identical(ctx.graph, transfer.customer_tenant_id, line.source_sku_id, seats)
    if not check.ok:
        record = ctx.commit(record, Change(transfer, history=tuple(history)))
        return ctx.halt(record, f"{line.name}: {check.reason}; retry checks again")
    done, entry = line.move(LineState.COMPLETED, at=now, actor="workflow")
    message = f"{line.name}: the same SKU was bought; no licence changes"
    return Next(ctx.commit(record, Change(transfer, (done,), (*history, replace(entry, message=message)))))


def _swap_licenses(
    ctx: StepContext, record: TransferRecord, transfer: Transfer, history: list[HistoryEntry], line: Line
) -> Next:
    """One bounded run of the line's swap; the line is done once no holder is left to move."""
    run = run_cutover(
        ctx.graph, _line_cutover(ctx, transfer.customer_tenant_id, line), failed=failed_ids(line)
    )
    telemetry.count_license_swaps(run.moved)
    if run.retry_after is not None:  # Graph throttled: the rest of the line runs later
        telemetry.count_throttling_wait("cut_over")
    line = progressed(line, run)
    at = ctx.now()
    if run.retry_after is not None or not run.finished:
        record = ctx.commit(record, Change(replace(transfer, updated_at=at), (line,), tuple(history)))
        return Next(record, wait_seconds=run.retry_after or 0.0)
    if line.users_failed:
        reasons = Counter(f.reason for f in line.user_failures)
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
        reason = (
            f"{line.users_failed} user(s) of {line.name} could not be moved ({why}); "
            "they keep the old licence until it lapses: fix them and retry, which re-drives only them"
        )
        line, entry = line.move(LineState.FAILED, at=at, actor="workflow", reason=reason)
        transfer, halted = transfer.move(TransferState.FAILED, at=at, actor="workflow", reason=reason)
        # The line's row says why; the transfer's says what it means, not the same sentence again.
        halted = replace(
            halted, message=f"stopped until the failed users of {line.name} are fixed and retried"
        )
        return Next(ctx.commit(record, Change(transfer, (line,), (*history, entry, halted))), stop=True)
    line, entry = line.move(LineState.COMPLETED, at=at, actor="workflow")
    message = f"{line.name}: {line.users_moved} licence(s) moved to the replacement"
    change = Change(replace(transfer, updated_at=at), (line,), (*history, replace(entry, message=message)))
    return Next(ctx.commit(record, change))


def _line_cutover(ctx: StepContext, customer: str, line: Line) -> LineCutover:
    """The swap from the tenant's own SKUs: the replacements are bought and in the tenant by now.
    The plan's tier upgrades keep a plan the holder switched off switched off on its higher tier."""
    skus = {s.sku_id: s for s in ctx.graph.list_subscribed_skus(customer)}
    source = skus[line.source_sku_id.lower()]
    targets = [skus[sku] for sku in dict.fromkeys(r.sku_id.lower() for r in line.replacements)]
    return LineCutover.between(customer, source, targets, dict(line.upgraded_plans))


def complete(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """Every line done: the customer runs on the partner's subscriptions. Sum it up."""
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
    change = Change(counted, history=(replace(entry, message=summary),))
    return Next(ctx.store.commit(record, change), stop=True)
