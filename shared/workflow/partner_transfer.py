"""Partner-to-partner transfers: moving new-commerce subscriptions from the customer's current CSP
partner to us without buying them again.

Microsoft moves the billing of what the source partner submits: nothing is bought twice, the term
end is kept, and no licence assignment changes. Lines the source partner does not submit (or that
expire, fail or are cancelled with the request), and the seats it leaves out of a line it submits in
part, fall back to the rebuy path, decided again against today's catalog (the identical offer, else
an equivalent one with its approval rule), bought by default shortly before the original's term end,
because the source partner bills it until then.

One Partner Center transfer per transfer. Its ``MS-RequestId`` is persisted before the POST and its
id stored the moment Partner Center names it; before any POST the customer's transfers are listed,
and an open one from the same source partner is adopted, so a retry or a restart never asks twice.
Webhooks and the timer only announce that the request may have changed; reading it
(:func:`follow_request`) is the one step that moves lines. The decisions themselves, pure, are in
:mod:`shared.workflow.rules.partner_transfer` and :mod:`shared.workflow.rules.fallback`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace

from shared.clients.errors import PartnerCenterError, said
from shared.domain import (
    Change,
    HistoryEntry,
    IllegalTransitionError,
    LineState,
    PartnerTransferRequest,
    Transfer,
)
from shared.domain.events import TransferEvent
from shared.resources.transfers import PartnerTransfer, TransferRequest, TransferStatus
from shared.store.records import TransferRecord
from shared.workflow.context import Next, StepContext
from shared.workflow.rules.fallback import (
    MovedItem,
    MovedItems,
    completion_change,
    fallback_change,
    left_to_rebuy,
    moves_of,
    transferred_ids,
)
from shared.workflow.rules.partner_transfer import (
    IN_PROGRESS,
    REQUESTED,
    WARN_AFTER,
    first_read_after,
    overdue,
    source_of,
)

LOG = logging.getLogger(__name__)
TRANSFER_TYPE = 5  # "transferType": new commerce (license-based) subscriptions


def request_transfer(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """Persist the intent, then find an open request or create one; its id is stored at once."""
    transfer = record.transfer
    at = ctx.now()
    if transfer.partner_transfer is None:
        intent = PartnerTransferRequest.new(at)
        waiting = sum(x.state is LineState.TRANSFERRING for x in record.lines)
        message = f"asking {source_of(transfer).name} to transfer {waiting} line(s)"
        entry = HistoryEntry(
            at=at,
            action="partner-transfer-intent",
            message=message,
            details=(("requestId", intent.request_id),),
        )
        change = Change(replace(transfer, partner_transfer=intent, updated_at=at), history=(entry,))
        return Next(ctx.commit(record, change))
    found = _find_open(ctx, transfer)
    if found is not None:
        return Next(
            _adopt(ctx, record, found, "an open transfer request for the customer was found and reused")
        )
    request = transfer.partner_transfer
    record = ctx.commit(
        record, Change(replace(transfer, partner_transfer=replace(request, attempts=request.attempts + 1)))
    )
    body = TransferRequest(
        source_partner_tenant_id=source_of(transfer).tenant_id,
        source_partner_name=source_of(transfer).name,
        customer_email=transfer.contact_email or "",
        transfer_type=TRANSFER_TYPE,
    )
    try:
        created = ctx.partner_center.create_transfer(
            transfer.customer_tenant_id, body, request_id=request.request_id
        )
    except PartnerCenterError as error:
        if error.retryable or error.status is None or error.status >= 500:
            raise  # maybe created: the next attempt lists before it POSTs again
        found = _find_open(ctx, transfer)  # 900101: an earlier attempt's request is open after all
        if found is not None:
            return Next(
                _adopt(ctx, record, found, "the transfer request made by an earlier attempt was reused")
            )
        why = f"Partner Center refused the transfer request: {said(error)}"
        return Next(ctx.commit(record, fallback(ctx, record, TransferStatus.FAILED, why)))
    return Next(_adopt(ctx, record, created, "transfer request created; waiting for the source partner"))


def _find_open(ctx: StepContext, transfer: Transfer) -> PartnerTransfer | None:
    source = source_of(transfer).tenant_id
    for found in ctx.partner_center.list_transfers(transfer.customer_tenant_id):
        incoming = found.transfer_direction in (None, 1)
        if found.is_open and incoming and found.source_partner_tenant_id in (None, source):
            return found
    return None


def _adopt(ctx: StepContext, record: TransferRecord, found: PartnerTransfer, message: str) -> TransferRecord:
    at = ctx.now()
    transfer = record.transfer
    assert transfer.partner_transfer is not None
    request = replace(
        transfer.partner_transfer,
        transfer_id=found.id,
        status=found.status.value,
        created_at=(found.created or at).isoformat(),
        checked_at=at.isoformat(),
    )
    lines = tuple(
        replace(x, partner_transfer=replace(x.partner_transfer, status=REQUESTED))
        for x in record.lines
        if x.state is LineState.TRANSFERRING and x.partner_transfer is not None
    )
    entry = HistoryEntry(
        at=at, action="partner-transfer", message=message, details=(("transferRequestId", found.id),)
    )
    return ctx.commit(
        record, Change(replace(transfer, partner_transfer=request, updated_at=at), lines, (entry,))
    )


def follow_request(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """Read the request and its line items: move what completed, fall back what cannot come; the
    workflow goes on only once lines have left the transfer path."""
    transfer = record.transfer
    request = transfer.partner_transfer
    assert request is not None
    assert request.transfer_id is not None
    found = ctx.partner_center.get_transfer(transfer.customer_tenant_id, request.transfer_id)
    at = ctx.now()
    status, note = found.status, None
    if status is TransferStatus.UNKNOWN:
        LOG.warning(
            "transfer %s: Partner Center transfer status %r not understood", transfer.id, found.status_text
        )
        note = f"Partner Center reports the unknown status {found.status_text!r}; still waiting"
    if status is TransferStatus.PENDING and overdue(request, at):
        status, note = (
            TransferStatus.EXPIRED,
            "no answer from the source partner for 30 days: the request expired",
        )
    checked = replace(request, status=status.value, checked_at=at.isoformat())
    record = replace(record, transfer=replace(transfer, partner_transfer=checked))
    if status is TransferStatus.COMPLETED:
        return Next(_complete(ctx, record, found))
    if status.finished:
        why = note or f"the transfer request ended {status.value.lower()} ({found.status_text})"
        return Next(ctx.commit(record, fallback(ctx, record, status, why)))
    lines = _in_progress(ctx, record, found)
    messages = [note or f"transfer request {status.value}"] if status.value != request.status else []
    if status is TransferStatus.PENDING and first_read_after(request, WARN_AFTER, at):
        expires = request.expires
        messages.append(
            f"{source_of(transfer).name} has not acted on the transfer request; it expires on "
            f"{expires:%Y-%m-%d}: ask it to submit, or its lines will be bought again"
        )
    history = tuple(HistoryEntry(at=at, action="partner-transfer", message=m) for m in messages)
    return Next(
        ctx.commit(record, Change(replace(record.transfer, updated_at=at), lines, history)), stop=True
    )


def _in_progress(ctx: StepContext, record: TransferRecord, found: PartnerTransfer) -> tuple:  # type: ignore[type-arg]
    """Lines the source partner put in the request show it as in progress."""
    if not found.line_items:
        return ()
    included = _items(ctx, record, found).by_line
    changed = []
    for line in record.lines:
        path = line.partner_transfer
        if (
            line.state is LineState.TRANSFERRING
            and path
            and line.id in included
            and path.status != IN_PROGRESS
        ):
            item = included[line.id][0].item
            changed.append(
                replace(
                    line, partner_transfer=replace(path, status=IN_PROGRESS, line_item_id=item.id or None)
                )
            )
    return tuple(changed)


def _items(ctx: StepContext, record: TransferRecord, found: PartnerTransfer) -> MovedItems:
    """Line items per line, of any product type: an item's ``subscriptionId`` is the source
    partner's subscription id, which Graph shows as the original's ``commerceSubscriptionId``; its
    seats are the item's quantity, else the original's."""
    subscriptions = list(ctx.graph.list_directory_subscriptions(record.transfer.customer_tenant_id))
    originals = {(s.commerce_subscription_id or "").lower(): s for s in subscriptions}
    ends = {s.id: s.next_lifecycle for s in subscriptions if s.next_lifecycle is not None}
    items = MovedItems({}, [], ends)
    for item in found.line_items:
        original = originals.get(item.subscription_id)
        graph_id = original.id if original else item.subscription_id
        seats = item.quantity if item.quantity is not None else (original.total_licenses if original else 0)
        line = next((x for x in record.lines if graph_id in x.original_subscription_ids), None)
        if line is None:
            items.stray.append(item)
        else:
            items.by_line.setdefault(line.id, []).append(MovedItem(item, seats))
    return items


def _complete(ctx: StepContext, record: TransferRecord, found: PartnerTransfer) -> TransferRecord:
    """What moved is matched to the lines (the subscriptions now ours, read once); what did not is
    decided again against today's catalog and falls back to the rebuy path."""
    at = ctx.now()
    transfer = record.transfer
    items = _items(ctx, record, found)
    held = {s for x in record.lines for s in (*x.subscription_ids, *transferred_ids(x))}
    pool = [s for s in ctx.partner_center.list_subscriptions(transfer.customer_tenant_id) if s.id not in held]
    moves = moves_of(record, items, pool)
    left = left_to_rebuy(record, moves)
    fresh = ctx.planner.rebuy_lines(transfer, left, at) if left else {}
    return ctx.commit(record, completion_change(record, moves, fresh, items, found.id, at))


def fallback(ctx: StepContext, record: TransferRecord, status: TransferStatus, why: str) -> Change:
    """Every line still waiting for the transfer goes back to the rebuy path, decided again against
    today's catalog."""
    at = ctx.now()
    waiting = [x for x in record.lines if x.state is LineState.TRANSFERRING]
    fresh = ctx.planner.rebuy_lines(record.transfer, waiting, at) if waiting else {}
    return fallback_change(record, status, why, at, fresh)


def cancel_request(ctx: StepContext, record: TransferRecord) -> PartnerTransfer | None:
    """Cancel the open request at Partner Center; refused once the source partner submitted it."""
    transfer = record.transfer
    request = transfer.partner_transfer
    if request is None or TransferStatus.read(request.status).finished:
        return None
    customer = transfer.customer_tenant_id
    found = (
        ctx.partner_center.get_transfer(customer, request.transfer_id)
        if request.transfer_id
        else _find_open(ctx, transfer)
    )
    if found is None or found.status.finished:
        return found
    if found.status is not TransferStatus.PENDING:
        raise IllegalTransitionError(
            f"the source partner has already submitted transfer request {found.id} "
            f"({found.status_text}); Partner Center cancels a request only while it is pending"
        )
    cancelled = ctx.partner_center.cancel_transfer(
        customer,
        found.id,
        source=source_of(transfer).tenant_id,
        target=ctx.partner.tenant_id.lower(),
        request_id=str(uuid.uuid4()),
    )
    return replace(cancelled, status=TransferStatus.CANCELLED) if cancelled.is_open else cancelled
