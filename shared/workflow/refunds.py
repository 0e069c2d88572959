"""Cancelling a transfer that has bought: its new subscriptions cancelled for a refund, once.

New commerce lets a subscription be cancelled "within 7 days ... of purchase or renewal. After this
window has passed, subscriptions can no longer be canceled and the API will throw an error" (Learn
"Cancel a commercial marketplace or new commerce subscription using Partner Center APIs"); each
subscription says until when (``cancellationAllowedUntilDate``, recorded on its line when it became
active). Inside that window an admin may cancel a transfer with ``refundPurchases``.

Nothing of it runs twice: it holds the transfer's lease (no step, and no second admin, writes
meanwhile); the intent, one ``MS-RequestId`` per subscription, is persisted before any call; a
repeat after a crash reads each subscription before cancelling it (one already cancelled is not
sent again); and once settled, asking again answers the record as it is. A subscription Partner
Center refuses stays (and is billed); if it refuses them all, nothing changed and the answer is a
409 naming the date the window closed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import ClassVar

from shared.clients.errors import PartnerCenterError, brief
from shared.domain import (
    Change,
    HistoryEntry,
    IllegalTransitionError,
    Line,
    LineState,
    Refund,
    RefundItem,
)
from shared.domain.errors import ErrorKind
from shared.store.records import TransferRecord
from shared.workflow.context import StepContext
from shared.workflow.rules.partner_transfer import TRANSFERRED


class CancellationWindowClosedError(IllegalTransitionError):
    """A new subscription's cancellation window has passed: it can no longer be cancelled."""

    kind: ClassVar[ErrorKind] = ErrorKind.NOT_ALLOWED_NOW

    def __init__(self, subscription_id: str, until: str) -> None:
        super().__init__(
            f"the new subscription {subscription_id} could be cancelled for a refund only until {until} "
            "(new commerce allows it for 7 days after purchase); the transfer was not cancelled"
        )
        self.until = until


def cancel_with_refund(ctx: StepContext, transfer_id: str) -> TransferRecord:
    """Cancel the transfer's new subscriptions at Partner Center, then the transfer (see above)."""
    with ctx.store.leases.kept(transfer_id, uuid.uuid4().hex):
        record = ctx.store.get(transfer_id)
        refund = record.transfer.refund
        if refund is not None and refund.settled:
            return record  # cancelled before: nothing is sent again
        if refund is None:
            record = _intend(ctx, record)
        outcome = _cancel_each(ctx, record)
        return _settle(ctx, record, outcome)


def _intend(ctx: StepContext, record: TransferRecord) -> TransferRecord:
    transfer, now = record.transfer, ctx.now()
    if not transfer.is_active:
        raise IllegalTransitionError(f"a {transfer.state} transfer cannot be cancelled")
    ids = refundable(record.lines)
    windows = {s: d for line in record.lines for s, d in line.cancellation_windows}
    closed = sorted((d, s) for s, d in windows.items() if s in ids and datetime.fromisoformat(d) <= now)
    if closed:
        raise CancellationWindowClosedError(closed[0][1], closed[0][0])
    items = tuple(RefundItem(s, str(uuid.uuid4())) for s in ids)
    entry = HistoryEntry(
        at=now,
        action="refund-intent",
        actor="api",
        message=f"cancelling {len(items)} new subscription(s) for a refund: {', '.join(ids)}",
    )
    refund = Refund(now.isoformat(), items)
    return ctx.store.commit(
        record, Change(replace(transfer, refund=refund, updated_at=now), history=(entry,))
    )


def refundable(lines: Sequence[Line]) -> list[str]:
    """The subscriptions this transfer bought, or why they cannot be cancelled: a purchase still in
    flight, or licences already moved onto them (cancelling would leave those users unlicensed)."""
    blocked = [f"{x.source_sku_part_number} {why}" for x in lines if (why := _blocker(x))]
    if blocked:
        raise IllegalTransitionError(f"cannot cancel for a refund: {'; '.join(blocked)}")
    transferred = [x for x in lines if x.partner_transfer and x.partner_transfer.status == TRANSFERRED]
    ids = [s for x in lines if x not in transferred for s in x.subscription_ids]
    if not ids:
        raise IllegalTransitionError(
            "nothing was bought for this transfer: cancel it without refundPurchases"
        )
    return ids


def _blocker(line: Line) -> str | None:
    state = line.resume_state if line.state is LineState.FAILED and line.resume_state else line.state
    if state in (LineState.ORDERING, LineState.ORDERED):
        return "is being bought: wait until it is provisioned"
    if state is LineState.MOVING_LICENSES or line.users_moved:
        return "has licences moved to its replacement: cancelling it would leave those users unlicensed"
    return None


def _cancel_each(ctx: StepContext, record: TransferRecord) -> dict[str, tuple[str, str]]:
    """subscription id -> (cancelled | refused, detail) for each one still intended."""
    refund = record.transfer.refund
    assert refund is not None
    customer = record.transfer.customer_tenant_id
    outcome: dict[str, tuple[str, str]] = {}
    for item in refund.items:
        if item.status != "intended":
            continue
        try:
            ctx.partner_center.cancel_subscription(customer, item.subscription_id, request_id=item.request_id)
        except PartnerCenterError as error:
            if error.retryable or error.status is None or error.status >= 500:
                raise  # the intent stays: asking again reads each one before sending it again
            outcome[item.subscription_id] = ("refused", brief(error, 300))
            continue
        outcome[item.subscription_id] = ("cancelled", "")
    return outcome


def _settle(ctx: StepContext, record: TransferRecord, outcome: dict[str, tuple[str, str]]) -> TransferRecord:
    """Cancelled if anything was; if Partner Center refused every one, nothing changed: the intent
    is dropped and the refusal answered with the date the window closed."""
    refund = record.transfer.refund
    assert refund is not None
    items = tuple(
        replace(i, status=outcome[i.subscription_id][0], detail=outcome[i.subscription_id][1])
        if i.subscription_id in outcome
        else i
        for i in refund.items
    )
    at = ctx.now()
    history = [
        HistoryEntry(
            at=at,
            action="refund",
            actor="api",
            message=f"subscription {i.subscription_id}: "
            + ("cancelled for a refund" if i.status == "cancelled" else f"not cancelled ({i.detail})"),
        )
        for i in items
        if i.subscription_id in outcome
    ]
    if all(i.status == "refused" for i in items):
        first = items[0].subscription_id
        until = _window_of(record.lines, first) or "its cancellation window"
        entry = HistoryEntry(
            at=at, action="refund", actor="api", message="refund cancel refused: nothing changed"
        )
        ctx.store.commit(record, Change(replace(record.transfer, refund=None), history=(*history, entry)))
        raise CancellationWindowClosedError(first, until)
    transfer, entry = record.transfer.cancel(record.lines, at=at, actor="api", refunded=True)
    changed = replace(transfer, refund=replace(refund, items=items))
    return ctx.store.commit(record, Change(changed, history=(*history, entry)))


def _window_of(lines: Sequence[Line], subscription_id: str) -> str | None:
    return next((d for x in lines for s, d in x.cancellation_windows if s == subscription_id), None)
