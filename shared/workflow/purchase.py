"""Buying a transfer's lines: one cart, each write's ``MS-RequestId`` persisted before it is sent.

Partner Center answers a repeated write with the same request id with its first answer, and a
cart can be checked out once; on top of that, a checkout whose answer was lost is reconciled
against the customer's orders before it is ever sent again, so no path buys twice. Waiting for
provisioning reads, and writes only the time of each poll.

The steps, in the order the runner's table reaches them: :func:`intend_purchase` (each item read
again from today's catalog, then the request ids and the lines being ordered, before any write),
:func:`create_cart` (whose answer names each line's ``error``: a cart with one is not checked out),
:func:`check_out`, :func:`await_provisioning`; and :func:`defer_purchases` when nothing is due yet.
A line Partner Center refuses fails with the reason; ``retry`` reads its items again and buys it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from shared import telemetry
from shared.clients.errors import (
    CartAlreadySubmittedError,
    OrderInProgressError,
    PartnerCenterError,
    call_details,
    said,
)
from shared.domain import (
    UNDECIDED,
    Change,
    HistoryEntry,
    Line,
    LineState,
    Purchase,
    TransferState,
    blocked_on_decisions,
    merged,
)
from shared.domain.events import TransferEvent
from shared.resources.commerce import CartCheckoutResult, CartLineItem, Subscription
from shared.store.records import TransferRecord
from shared.workflow.context import Next, StepContext
from shared.workflow.fresh_items import refresh_items
from shared.workflow.rules.cart import attesting, refused_items
from shared.workflow.rules.partner_transfer import needs_request

#: Polls for provisioning (after the first few, one every 15 minutes: about two days) before the
#: transfer fails with a reason; otherwise a subscription that never comes would be waited for always.
PROVISIONING_POLLS = 200


def intend_purchase(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """Read every item to buy again from today's catalog, then persist the purchase's request ids
    and mark the due lines as being ordered, before any write. A line decided again that now needs
    an admin blocks the transfer instead: nothing is bought."""
    at = ctx.now()
    due = [x for x in record.lines if x.purchase_is_due(at) or x.state is LineState.ORDERING]
    refreshed = refresh_items(ctx, record, due, at)
    transfer = replace(record.transfer, updated_at=at)
    if any(x.state in UNDECIDED for x in refreshed.lines):
        change = Change(transfer, refreshed.lines, refreshed.history)
        return Next(ctx.commit(record, blocked_on_decisions(change, at, "workflow", refreshed.lines)))
    history = list(refreshed.history)
    if transfer.state is not TransferState.PROVISIONING:
        transfer, entry = transfer.move(TransferState.PROVISIONING, at=at, actor="workflow")
        history.append(entry)
    purchase = Purchase.new(at)
    changed = {x.id: x for x in refreshed.lines}
    for line in merged(record.lines, refreshed.lines):
        if line.purchase_is_due(at):
            changed[line.id] = line.move(LineState.ORDERING, at=at, actor="workflow")[0]
    lines = list(changed.values())
    ordering = [x for x in merged(record.lines, lines) if x.state is LineState.ORDERING]
    history.append(
        HistoryEntry(
            at=at,
            action="purchase-intent",
            message=f"buying {len(ordering)} line(s) in one cart",
            details=(
                ("cartRequestId", purchase.cart_request_id),
                ("checkoutRequestId", purchase.checkout_request_id),
            ),
        )
    )
    transfer = replace(transfer, purchase=purchase, updated_at=at)
    return Next(ctx.commit(record, Change(transfer, tuple(lines), tuple(history))))


def create_cart(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """The cart; when Partner Center marks a line of it with an ``error`` it is not checked out."""
    transfer = record.transfer
    assert transfer.purchase is not None
    ordering = [x for x in record.lines if x.state is LineState.ORDERING]
    items = cart_items(ordering)
    cart = ctx.partner_center.create_cart(
        transfer.customer_tenant_id, items, request_id=transfer.purchase.cart_request_id
    )
    refused = refused_items(ordering, cart)
    if refused:
        again = _read_again(ctx, record, ordering)
        return Next(again or _fail_lines(ctx, record, attesting(ordering, cart), refused))
    at = ctx.now()
    changed = replace(transfer, purchase=replace(transfer.purchase, cart_id=cart.id), updated_at=at)
    entry = HistoryEntry(
        at=at,
        action="cart",
        message=f"the cart was created with {len(items)} item(s)",
        details=(("cartId", cart.id),),
    )
    return Next(ctx.commit(record, Change(changed, history=(entry,))))


def _read_again(ctx: StepContext, record: TransferRecord, ordering: Sequence[Line]) -> TransferRecord | None:
    """A cart refused items whose ids may come from a read another cart made minutes before
    (:data:`~shared.workflow.sources.FRESH_FOR`): read them now. When today's ids differ, they are
    bought in a new cart (its request ids persisted first; the refused one is never checked out);
    None when nothing changed, or a line must be decided again: the lines fail as refused."""
    ctx.planner.forget_today(record.transfer)
    at = ctx.now()
    refreshed = refresh_items(ctx, record, ordering, at)
    unchanged = [x.replacements for x in refreshed.lines] == [x.replacements for x in ordering]
    if unchanged or any(x.state is not LineState.ORDERING for x in refreshed.lines):
        return None
    entry = HistoryEntry(
        at=at,
        action="cart",
        message="the items as listed minutes before were refused: read again, a new cart buys them",
    )
    transfer = replace(record.transfer, purchase=Purchase.new(at), updated_at=at)
    return ctx.commit(record, Change(transfer, refreshed.lines, (*refreshed.history, entry)))


def check_out(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """Buy the cart once: count the attempt first; after an attempt whose answer was lost, look
    for the order before sending the checkout again (with the same ``MS-RequestId``)."""
    transfer = record.transfer
    purchase = transfer.purchase
    assert purchase is not None
    assert purchase.cart_id is not None
    ordering = [x for x in record.lines if x.state is LineState.ORDERING]
    if purchase.checkout_attempts:
        found = _orders_of_purchase(ctx, record, ordering)
        if found.orders:
            return Next(_record_orders(ctx, record, ordering, found))
    attempt = replace(purchase, checkout_attempts=purchase.checkout_attempts + 1)
    record = ctx.commit(record, Change(replace(transfer, purchase=attempt)))
    try:
        result = ctx.partner_center.checkout_cart(
            transfer.customer_tenant_id, purchase.cart_id, request_id=purchase.checkout_request_id
        )
    except CartAlreadySubmittedError as submitted:
        result = _orders_of_purchase(ctx, record, ordering)
        if not result.orders:
            # An earlier attempt bought the cart, but Partner Center does not list its order yet:
            # failing the lines now would let a retry buy them a second time.
            raise OrderInProgressError(
                "the cart was checked out but its order is not listed yet; reconciling again later",
                status=submitted.status,
                code=submitted.code,
                retryable=True,
            ) from submitted
    except PartnerCenterError as error:
        if error.retryable or error.status is None or error.status >= 500:
            raise
        return Next(
            _fail_lines(ctx, record, ordering, {}, f"checkout refused: {said(error)}", call_details(error))
        )
    return Next(_record_orders(ctx, record, ordering, result))


def _orders_of_purchase(
    ctx: StepContext, record: TransferRecord, ordering: Sequence[Line]
) -> CartCheckoutResult:
    """The customer's orders placed since the purchase began that hold only this cart's items."""
    purchase = record.transfer.purchase
    assert purchase is not None
    since = datetime.fromisoformat(purchase.started_at) - timedelta(minutes=5)
    known = {order_id for line in record.lines for order_id in line.order_ids}
    wanted = {r.catalog_item_id.lower() for line in ordering for r in line.replacements if not r.order_id}
    orders = tuple(
        order
        for order in ctx.partner_center.list_orders(record.transfer.customer_tenant_id)
        if order.id not in known
        and (order.created is None or order.created >= since)
        and order.line_items
        and all(item.offer_id.lower() in wanted for item in order.line_items)
    )
    return CartCheckoutResult(orders=orders)


def _record_orders(
    ctx: StepContext, record: TransferRecord, ordering: Sequence[Line], result: CartCheckoutResult
) -> TransferRecord:
    at = ctx.now()
    lines, history = ordered_lines(ordering, result, at)
    transfer = replace(record.transfer, purchase=None, updated_at=at)
    record = ctx.commit(record, Change(transfer, tuple(lines), tuple(history)))
    telemetry.count_purchases(len(result.orders))
    return record


def ordered_lines(
    ordering: Sequence[Line], result: CartCheckoutResult, at: datetime
) -> tuple[list[Line], list[HistoryEntry]]:
    """What a checkout bought, per replacement: a line is ordered once all of its are bought, and
    failed (buying only what is missing on retry) otherwise."""
    bought: dict[str, list[str]] = {}
    for order in result.orders:
        for item in order.line_items:
            bought.setdefault(item.offer_id.lower(), []).append(order.id)
    errors = "; ".join(f"{e.code} {e.description}" for e in result.order_errors) or "not in any order"
    lines, history = [], []
    for line in ordering:
        # Each replacement keeps the order that bought it, so a retry buys only what is missing.
        replacements = tuple(
            r
            if r.order_id or not bought.get(r.catalog_item_id.lower())
            else replace(r, order_id=bought[r.catalog_item_id.lower()].pop(0))
            for r in line.replacements
        )
        line = replace(
            line,
            replacements=replacements,
            order_ids=tuple(dict.fromkeys(r.order_id for r in replacements if r.order_id)),
        )
        if all(r.order_id for r in replacements):
            moved, entry = line.move(LineState.ORDERED, at=at, actor="workflow")
            entry = replace(entry, details=(("orderIds", ", ".join(moved.order_ids)),))
        else:
            missing = ", ".join(r.name for r in replacements if not r.order_id)
            reason = f"order failed for {missing}: {errors}; retry buys only these"
            moved, entry = line.move(LineState.FAILED, at=at, actor="workflow", reason=reason)
        lines.append(moved)
        history.append(entry)
    return lines, history


def _fail_lines(
    ctx: StepContext,
    record: TransferRecord,
    lines: Sequence[Line],
    refused: dict[str, str],
    reason: str = "not checked out: the cart also held items Partner Center refused",
    details: tuple[tuple[str, str], ...] = (),
) -> TransferRecord:
    """Nothing was bought: every line of the purchase fails (with what Partner Center said of its
    items), and so does the transfer, until ``retry`` reads the items again and buys them."""
    at = ctx.now()
    failed = [
        line.move(
            LineState.FAILED,
            at=at,
            actor="workflow",
            reason=f"Partner Center refused {refused[line.id]}" if line.id in refused else reason,
        )
        for line in lines
    ]
    why = "; ".join(f"{x.name}: {x.reason}" for x, _ in failed)
    transfer, entry = replace(record.transfer, purchase=None).move(
        TransferState.FAILED,
        at=at,
        actor="workflow",
        reason=f"{len(failed)} line(s) not bought: {why}; retry reads their items again and buys them",
    )
    history = (*(replace(e, details=details) for _, e in failed), entry)
    return ctx.commit(record, Change(transfer, tuple(x for x, _ in failed), history))


def await_provisioning(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """Every ordered line's subscriptions active and in the tenant, or come back later (backing off
    to one poll every 15 minutes); after :data:`PROVISIONING_POLLS` polls the transfer fails."""
    at = ctx.now()
    lines, history = [], []
    for line, subscriptions in _provisioned(ctx, record):
        moved, entry = line.move(LineState.ACTIVE, at=at, actor="workflow")
        windows = tuple(
            (s.id, s.cancellation_allowed_until.isoformat())
            for s in subscriptions
            if s.cancellation_allowed_until is not None
        )
        ids = tuple(s.id for s in subscriptions)
        lines.append(replace(moved, subscription_ids=ids, cancellation_windows=windows))
        until = f"; cancellable for a refund until {min(d for _, d in windows)}" if windows else ""
        message = f"line {line.name}: {len(ids)} new subscription(s) active{until}"
        history.append(replace(entry, message=message))
    after = merged(record.lines, lines)
    transfer = replace(record.transfer, updated_at=at)
    waiting = [x.name for x in after if x.state is LineState.ORDERED]
    if waiting:
        # Committed even when nothing changed: a fresh ``updated_at`` tells the timer that this
        # poll is alive, so it does not nudge the transfer into a second chain of polls.
        record = ctx.commit(record, Change(transfer, tuple(lines), tuple(history)))
        if event.attempt >= PROVISIONING_POLLS:
            return ctx.halt(
                record,
                f"bought but not provisioned after {event.attempt} polls: {', '.join(waiting)}; check the "
                "orders in Partner Center, then retry to poll again (nothing is bought again)",
                TransferState.FAILED,
            )
        return Next(
            record, wait_seconds=min(ctx.provisioning_poll_seconds * 2 ** min(event.attempt, 5), 900.0)
        )
    failed = [x for x in after if x.state is LineState.FAILED]
    if failed:
        reasons = "; ".join(f"{x.name}: {x.reason}" for x in failed)
        reason = f"{len(failed)} line(s) could not be bought: {reasons}; retry buys only those"
        transfer, entry = transfer.move(TransferState.FAILED, at=at, actor="workflow", reason=reason)
    else:
        transfer, entry = transfer.move(TransferState.PROVISIONED, at=at, actor="workflow")
    history.append(entry)
    return Next(ctx.commit(record, Change(transfer, tuple(lines), tuple(history))))


def _provisioned(ctx: StepContext, record: TransferRecord) -> list[tuple[Line, tuple[Subscription, ...]]]:
    """Ordered lines whose new subscriptions are all active and provisioned in the tenant.

    Each order's subscriptions come from one read (``?order_id=``); they are handed out to the
    lines one by one, so two lines buying the same offer (Teams Enterprise beside two suites)
    each get their own subscription. Only the tenant-side provisioning is read per subscription.
    """
    customer = record.transfer.customer_tenant_id
    ordered = [x for x in record.lines if x.state is LineState.ORDERED]
    order_ids = dict.fromkeys(order_id for line in ordered for order_id in line.order_ids)
    held = {s for line in record.lines for s in line.subscription_ids}  # already another line's
    pool = [
        subscription
        for o in order_ids
        for subscription in ctx.partner_center.list_subscriptions(customer, order_id=o)
        if subscription.id not in held
    ]
    ready = []
    for line in ordered:
        found = []
        for wanted in line.replacements:
            subscription = next(
                (
                    s
                    for s in pool
                    if s.offer_id.lower() == wanted.catalog_item_id.lower() and s.quantity == wanted.quantity
                ),
                None,
            )
            if subscription is None:
                break
            pool.remove(subscription)
            found.append(subscription)
        if len(found) == len(line.replacements) and all(_is_live(ctx, customer, s) for s in found):
            ready.append((line, tuple(found)))
    return ready


def _is_live(ctx: StepContext, customer: str, subscription: Subscription) -> bool:
    if subscription.status != "active":
        return False
    return ctx.partner_center.get_subscription_provisioning_status(customer, subscription.id).is_provisioned


def defer_purchases(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """Nothing is due yet (deferred timing, or lines waiting on a partner transfer): the transfer
    waits, Provisioned, for the timer to announce the originals' lapse."""
    at = ctx.now()
    transfer, entry = record.transfer.move(TransferState.PROVISIONED, at=at, actor="workflow")
    return Next(
        ctx.commit(record, Change(transfer, history=(replace(entry, message=waiting_for(record)),))),
        stop=True,
    )


def waiting_for(record: TransferRecord) -> str:
    """What a transfer with nothing to buy yet waits for, each part a whole clause."""
    due = [x for x in record.lines if x.state is LineState.PLANNED and x.purchase_due]
    clauses = []
    if due:
        dates = ", ".join(f"{x.name} on {x.purchase_due:%Y-%m-%d}" for x in due if x.purchase_due)
        clauses.append(f"each replacement is bought shortly before its original lapses ({dates})")
    if needs_request(record.transfer, record.lines) or any(
        x.state is LineState.TRANSFERRING for x in record.lines
    ):
        clauses.append("some lines wait for the current partner to answer the transfer request")
    return (
        "nothing to buy yet: " + "; ".join(clauses)
        if clauses
        else "nothing to buy yet; waiting for the originals to lapse"
    )


def cart_items(lines: Iterable[Line]) -> list[CartLineItem]:
    """The cart's items: every replacement not bought yet, numbered from zero."""
    return [
        CartLineItem(
            catalog_item_id=r.catalog_item_id,
            quantity=r.quantity,
            term_duration=r.term_duration,
            billing_cycle=r.billing_cycle,
            id=index,
            attestation_accepted=r.attestation,
        )
        for index, r in enumerate(r for line in lines for r in line.replacements if not r.order_id)
    ]
