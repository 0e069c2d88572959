"""What becomes of the lines a partner-to-partner transfer did not move, pure.

Lines the source partner left out, or that expire, fail or are cancelled with the request, and the
seats left out of a line moved in part, go back to the rebuy path as decided again against today's
catalog, bought shortly before the original's term end (the source partner bills until then).
Transferred subscriptions are matched by id, else (Microsoft gave them new ids) by offer, quantity
and term end, so a line moved in part counts what moved and only the rest is bought.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shared.catalog.plan import Decision
from shared.domain import Change, HistoryEntry, Line, LineState, LineTransfer, Transfer, blocked_on_decisions
from shared.resources.transfers import TransferLineItem, TransferStatus
from shared.workflow.rules.partner_transfer import (
    BY_REBUY,
    BY_TRANSFER,
    NOT_INCLUDED,
    PARTLY_TRANSFERRED,
    TRANSFERRED,
    is_license_based,
    source_of,
)

if TYPE_CHECKING:
    from shared.resources.commerce import Subscription
    from shared.store.records import TransferRecord


_FALLBACK_STATUS = {
    TransferStatus.EXPIRED: "Expired",
    TransferStatus.FAILED: "Failed",
    TransferStatus.CANCELLED: "Cancelled",
    TransferStatus.COMPLETED: NOT_INCLUDED,
}


def fallback_change(
    record: TransferRecord, status: TransferStatus, why: str, at: datetime, fresh: Mapping[str, Line]
) -> Change:
    """Every line still waiting for the transfer goes back to the rebuy path, as ``fresh`` (the lines
    decided again) has it; a line that now needs an admin blocks the transfer (a pure decision)."""
    transfer = record.transfer
    request = transfer.partner_transfer
    lines, history = [], []
    for line in record.lines:
        if line.state is LineState.TRANSFERRING:
            status_text = _FALLBACK_STATUS.get(status, "Failed")
            moved, entry = _fall_back(transfer, line, status_text, why, at, fresh.get(line.id))
            lines.append(moved)
            history.append(entry)
    header = replace(
        transfer, updated_at=at, partner_transfer=replace(request, status=status.value) if request else None
    )
    return blocked_on_decisions(Change(header, tuple(lines), tuple(history)), at, "partner-transfer")


def _fall_back(
    transfer: Transfer, line: Line, status: str, why: str, at: datetime, fresh: Line | None
) -> tuple[Line, HistoryEntry]:
    """Back to the rebuy path for ``line.quantity`` seats, as decided again (``fresh``: the identical
    offer, else an equivalent one, possibly needing approval, else blocked), bought
    ``purchaseLeadDays`` before the original's term end: until then the source partner bills it,
    and buying earlier would bill the customer twice."""
    lead = timedelta(days=transfer.options.purchase_lead_days)
    due = max(at, line.original_expires - lead) if line.original_expires else at
    decided = fresh or line
    state = decided.state if fresh else LineState.PLANNED
    moved, entry = line.move(state, at=at, actor="partner-transfer", reason=decided.reason)
    path = replace(
        line.partner_transfer or LineTransfer(BY_REBUY, status), path=BY_REBUY, status=status, reason=why
    )
    moved = replace(
        moved.decided_as(decided),
        quantity=line.quantity,
        reason=decided.reason if state is not LineState.PLANNED else None,
        resume_state=decided.resume_state,
        purchase_due=due,
        partner_transfer=path,
    )
    name = source_of(transfer).name
    when = (
        f"bought on {due:%Y-%m-%d}, before the original's term end, because {name} "
        "bills it until then (approve the line to buy at once)"
        if due > at
        else "bought now"
    )
    if state is not LineState.PLANNED:
        when = f"{state}: {decided.reason}; once decided, {when}"
    elif decided.decision == Decision.EQUIVALENT.value:
        when = f"by an equivalent offer, {when}"
    when += f"; ask {name} not to renew the original"
    return moved, replace(entry, message=f"{line.name}: {why}; falls back to the rebuy path, {when}")


def partial_rebuy(decided: Line | None, transferred: int) -> Line | None:
    """The rest of a line moved in part, bought as an equivalent offer, is left to an admin: its
    cutover would move every holder of the SKU, those on the transferred seats too."""
    if decided is None or decided.decision != Decision.EQUIVALENT.value:
        return decided
    reason = (
        f"{transferred} seats were transferred and keep the SKU; the rest would take an equivalent offer, "
        "whose cutover moves every holder of the SKU: buy it and move the chosen users by hand, then "
        "decline this line"
    )
    return replace(decided, state=LineState.BLOCKED, resume_state=LineState.PLANNED, reason=reason)


def moved_outside_the_request(
    record: TransferRecord, items: MovedItems, source: str, at: datetime
) -> tuple[list[Line], list[HistoryEntry]]:
    """What the source partner moved beyond the lines asked for is recorded, not dropped: an item of
    another product type (Azure, software, SaaS...) matching no line of ours is noted; one that moved
    a line on the rebuy path, with nothing bought yet, ends that line (buying it too bills twice)."""
    lines, notes = [], []
    for item in items.stray:  # a licence of ours whose id changed is matched by offer instead
        if is_moved(item) and not is_license_based(item.product_type):
            kind = item.product_type or "an unnamed product type"
            notes.append(
                HistoryEntry(
                    at=at,
                    action="partner-transfer",
                    message=f"{source} also transferred a subscription ({kind}, "
                    f"quantity {item.quantity if item.quantity is not None else 'not given'}); it is "
                    "none of this transfer's licence lines and is not tracked here",
                    details=(("subscriptionId", item.subscription_id),),
                )
            )
    for line in record.lines:
        done = [i for i in items.by_line.get(line.id, []) if is_moved(i.item)]
        if line.state in (LineState.TRANSFERRING, LineState.SKIPPED) or not done:
            continue
        kinds = ", ".join(sorted({i.item.product_type or "no product type" for i in done}))
        if line.state in (LineState.PLANNED, LineState.NEEDS_APPROVAL, LineState.BLOCKED):
            why = f"{source} transferred it after all ({kinds}); nothing is bought for it"
            moved, entry = line.move(LineState.SKIPPED, at=at, actor="partner-transfer")
            seats = sum(i.seats for i in done)
            path = LineTransfer(BY_TRANSFER, TRANSFERRED, why, done[0].item.id or None, seats)
            lines.append(replace(moved, reason=why, purchase_due=None, partner_transfer=path))
            notes.append(replace(entry, message=f"{line.name}: {why}"))
        else:
            notes.append(
                HistoryEntry(
                    at=at,
                    action="partner-transfer",
                    line_id=line.id,
                    message=f"{line.name}: {source} also transferred it ({kinds}) "
                    f"while it is {line.state} on the rebuy path: the customer may be billed twice; "
                    "cancel one of them in Partner Center",
                )
            )
    return lines, notes


def match_moved(
    line: Line, items: Sequence[TransferLineItem], pool: list[Subscription], ends: set[datetime]
) -> list[Subscription]:
    """The subscriptions now ours for a transferred line: by id, else (Microsoft gave them new ids) by
    offer and term end, gathered up to the line's seats, so a line moved in part counts what moved
    and only the rest is bought. A subscription whose term end is none of the originals' (``ends``)
    is never counted: it is not one that moved."""
    ids = {i.subscription_id for i in items}
    found = [s for s in pool if s.id in ids]
    if not found and line.replacements:
        offer = product_sku(line.replacements[0].catalog_item_id)
        left = line.quantity
        for s in sorted(pool, key=lambda s: -s.quantity):
            if (
                product_sku(s.offer_id) == offer
                and 0 < s.quantity <= left
                and (
                    not ends
                    or s.commitment_end is None
                    or any(abs(s.commitment_end - end) <= timedelta(days=1) for end in ends)
                )
            ):
                found.append(s)
                left -= s.quantity
    for s in found:
        pool.remove(s)
    return found


@dataclass(frozen=True, slots=True)
class MovedItem:
    item: TransferLineItem
    seats: int


@dataclass(frozen=True, slots=True)
class MovedItems:
    """A transfer's line items: per line (by its originals), and those matching no line; ``ends`` is
    each original's term end by its Graph id, to tell a moved subscription whose id changed."""

    by_line: dict[str, list[MovedItem]]
    stray: list[TransferLineItem]
    ends: dict[str, datetime]


def is_moved(item: TransferLineItem) -> bool:
    """A line item without a status follows its transfer's, which is complete when this is asked."""
    return item.status in (TransferStatus.COMPLETED, TransferStatus.UNKNOWN)


def transferred_ids(line: Line) -> tuple[str, ...]:
    return line.partner_transfer.subscription_ids if line.partner_transfer else ()


def product_sku(catalog_item_id: str) -> str:
    return ":".join(catalog_item_id.lower().split(":")[:2])


# -- a completed request: what moved of each line, and what is bought again -----------------------


@dataclass(frozen=True, slots=True)
class Moved:
    """What a completed request moved of one line: its items, the subscriptions now ours, the seats."""

    items: list[MovedItem]
    subscriptions: list[Subscription]
    seats: int


def moves_of(record: TransferRecord, items: MovedItems, pool: list[Subscription]) -> dict[str, Moved]:
    """Per line waiting for the transfer: the seats that moved, by the items' word or by what is now
    ours, whichever is larger, so nothing moved is bought again (``pool`` loses what is matched)."""
    moves = {}
    for line in record.lines:
        if line.state is LineState.TRANSFERRING and line.partner_transfer is not None:
            done = [i for i in items.by_line.get(line.id, []) if is_moved(i.item)]
            known = (*(items.ends.get(g) for g in line.original_subscription_ids), line.original_expires)
            terms = {end for end in known if end is not None}
            matched = match_moved(line, [i.item for i in done], pool, terms)
            seats = max(sum(i.seats for i in done), sum(s.quantity for s in matched))
            moves[line.id] = Moved(done, matched, min(seats, line.quantity))
    return moves


def left_to_rebuy(record: TransferRecord, moves: Mapping[str, Moved]) -> list[Line]:
    """The lines, or the rest of lines, that the request did not move: decided again for what is left."""
    return [
        replace(x, quantity=x.quantity - moves[x.id].seats)
        for x in record.lines
        if x.id in moves and moves[x.id].seats < x.quantity
    ]


def completion_change(
    record: TransferRecord,
    moves: Mapping[str, Moved],
    fresh: Mapping[str, Line],
    items: MovedItems,
    request_id: str,
    at: datetime,
) -> Change:
    """Match each line to what moved: a line moved whole is done; seats left out (a whole line, or
    part of one) fall back to the rebuy path, bought once; what moved outside the lines is noted."""
    transfer = record.transfer
    source = source_of(transfer).name
    lines: list[Line] = []
    history: list[HistoryEntry] = []
    for line in record.lines:
        if line.id in moves:
            moved, entry = _completed_line(transfer, line, moves[line.id], fresh.get(line.id), at)
            lines.append(moved)
            history.append(entry)
    also, notes = moved_outside_the_request(record, items, source, at)
    change = Change(replace(transfer, updated_at=at), (*lines, *also), (*history, *notes))
    change = blocked_on_decisions(change, at, "partner-transfer")
    entry = HistoryEntry(
        at=at,
        action="partner-transfer",
        message="the transfer request completed",
        details=(("transferRequestId", request_id),),
    )
    return replace(change, history=(*change.history, entry))


def _completed_line(
    transfer: Transfer, line: Line, moved: Moved, fresh: Line | None, at: datetime
) -> tuple[Line, HistoryEntry]:
    source = source_of(transfer).name
    ids = tuple(s.id for s in moved.subscriptions)
    listed = (("subscriptionIds", ", ".join(ids)),) if ids else ()
    kinds = sorted(
        {str(i.item.product_type) for i in moved.items if not is_license_based(i.item.product_type)}
    )
    sold_as = f" (submitted as {', '.join(kinds)})" if kinds else ""
    item_id = (moved.items[0].item.id if moved.items else None) or None
    seats = moved.seats
    if seats == 0:
        return _fall_back(transfer, line, NOT_INCLUDED, f"{source} left it out of the transfer", at, fresh)
    if seats < line.quantity:
        why = (
            f"{source} transferred {seats} of its {line.quantity} seats{sold_as}; "
            f"the other {line.quantity - seats} were left out"
        )
        rest = replace(line, quantity=line.quantity - seats)
        after, entry = _fall_back(transfer, rest, PARTLY_TRANSFERRED, why, at, partial_rebuy(fresh, seats))
        assert after.partner_transfer is not None
        path = replace(
            after.partner_transfer, transferred_quantity=seats, subscription_ids=ids, line_item_id=item_id
        )
        return replace(after, partner_transfer=path), replace(entry, details=listed)
    done, entry = line.move(LineState.COMPLETED, at=at, actor="partner-transfer")
    path = replace(
        line.partner_transfer or LineTransfer(BY_TRANSFER, TRANSFERRED),
        status=TRANSFERRED,
        transferred_quantity=seats,
        line_item_id=item_id,
    )
    ends = f"; the term still ends {line.original_expires:%Y-%m-%d}" if line.original_expires else ""
    message = f"{line.name}: transferred from {source}{sold_as}; nothing bought, no licence changed{ends}"
    return replace(done, subscription_ids=ids, partner_transfer=path), replace(
        entry, message=message, details=listed
    )
