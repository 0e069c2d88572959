"""Every item a cart buys, read again from today's catalog right before the cart.

"Product resources": an availability id "can change over time. Partners should only rely on this
value within a short time span after retrieving it". A line is planned at acceptance but may be
bought days (an approval), weeks (``beforeLapse``) or months (a partner transfer's fallback) later,
so right before each cart every replacement not bought yet is looked up again: its SKU's
availabilities of the customer's segment, as read at most minutes before (one read per product and
SKU, shared by the carts of every customer of the same country and segment in that span, see
:data:`~shared.workflow.sources.FRESH_FOR`; a cart that refuses an item reads its items again at
once, :func:`shared.workflow.purchase.create_cart`). The same product, SKU and term still sold: it
is bought under today's availability id (the attestation its SKU enforces is the plan's, from the
catalog; a cart that asks for one anyway has it on the retry). Gone (the SKU, every purchasable
availability of the segment, or the term): the line is decided again against a freshly read catalog,
as a plan decides it (the identical offer, else an equivalent with its approval rule, else blocked),
and the history says so. A line bought in part is not decided again: it waits for an admin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from shared.domain import HistoryEntry, Line, LineState, Replacement, Transfer
from shared.store.records import TransferRecord
from shared.workflow.context import StepContext


@dataclass(frozen=True, slots=True)
class Refreshed:
    """The due lines as they will be bought (or now wait for an admin), and what changed."""

    lines: tuple[Line, ...]
    history: tuple[HistoryEntry, ...]


class _Today:
    """Today's availabilities of each product and SKU, read shortly before (shared per country and
    segment, :data:`~shared.workflow.sources.FRESH_FOR`)."""

    def __init__(self, ctx: StepContext, transfer: Transfer, at: datetime) -> None:
        self._ctx, self._transfer, self._at = ctx, transfer, at

    def current(self, replacement: Replacement) -> Replacement | None:
        """The replacement under today's id; None when its offer or term is gone."""
        parts = replacement.catalog_item_id.split(":")
        availabilities = (
            self._ctx.planner.sold_today(self._transfer, parts[0], parts[1], self._at)
            if len(parts) == 3
            else None
        )
        if availabilities is None:
            return None
        wanted = (replacement.term_duration.upper(), replacement.billing_cycle.lower())
        selling = sorted(
            (a for a in availabilities if wanted in {(t.duration.upper(), t.billing_cycle) for t in a.terms}),
            key=lambda a: (a.catalog_item_id != replacement.catalog_item_id, a.catalog_item_id),
        )
        if not selling:
            return None
        return replace(replacement, catalog_item_id=selling[0].catalog_item_id)


def refresh_items(ctx: StepContext, record: TransferRecord, due: Sequence[Line], at: datetime) -> Refreshed:
    """``due`` with each replacement not yet bought under today's id, or decided again."""
    transfer = record.transfer
    today = _Today(ctx, transfer, at)
    lines: list[Line] = []
    history: list[HistoryEntry] = []
    gone: list[Line] = []
    for line in due:
        current = _current(today, line)
        if current is None:
            gone.append(line)
            continue
        moved = [
            f"{old.catalog_item_id} is now {new.catalog_item_id}"
            for old, new in zip(line.replacements, current, strict=True)
            if old.catalog_item_id != new.catalog_item_id
        ]
        if moved:
            message = (
                f"line {line.source_sku_part_number}: today's catalog lists it anew ({'; '.join(moved)})"
            )
            history.append(HistoryEntry(at=at, action="catalog", line_id=line.id, message=message))
        lines.append(replace(line, replacements=current))
    if gone:
        decided, notes = _decide_again(ctx, today, transfer, gone, at)
        lines.extend(decided)
        history.extend(notes)
    return Refreshed(tuple(lines), tuple(history))


def _current(today: _Today, line: Line) -> tuple[Replacement, ...] | None:
    found = [r if r.order_id else today.current(r) for r in line.replacements]
    if any(r is None for r in found):
        return None
    return tuple(r for r in found if r is not None)


def _decide_again(
    ctx: StepContext, today: _Today, transfer: Transfer, gone: Sequence[Line], at: datetime
) -> tuple[list[Line], list[HistoryEntry]]:
    """Lines whose offer or term is gone, decided against a freshly read catalog."""
    ctx.planner.refresh_catalog(transfer)
    unbought = [x for x in gone if not any(r.order_id for r in x.replacements)]
    fresh = ctx.planner.rebuy_lines(transfer, unbought, at) if unbought else {}
    lines, history = [], []
    for line in gone:
        was = ", ".join(r.catalog_item_id for r in line.replacements if not r.order_id)
        decided = fresh.get(line.id)
        current = _current(today, decided) if decided is not None else None
        if decided is None or current is None:
            why = "it is bought in part" if decided is None else "today's catalog sells nothing for it"
            reason = f"{was} is no longer sold as planned and {why}: decline the line, or buy it by hand"
            moved, entry = line.move(LineState.BLOCKED, at=at, actor="workflow", reason=reason)
        else:
            moved, entry = _redecided(line, replace(decided, replacements=current), was, at)
        lines.append(moved)
        history.append(entry)
    return lines, history


def _redecided(line: Line, decided: Line, was: str, at: datetime) -> tuple[Line, HistoryEntry]:
    """The line as decided again: its decision and replacements; an admin's decision if it needs one."""
    state = decided.state
    moved = line
    if state is not LineState.PLANNED:
        moved, _ = line.move(state, at=at, actor="workflow", reason=decided.reason)
    moved = moved.decided_as(decided)
    now = ", ".join(r.catalog_item_id for r in decided.replacements)
    message = (
        f"line {line.source_sku_part_number}: {was} is no longer sold as planned; decided again against "
        f"today's catalog: {decided.decision} ({now})"
    )
    if state is not LineState.PLANNED:
        message += f"; {state}: {decided.reason}"
    return moved, HistoryEntry(
        at=at,
        action="line-state" if state is not LineState.PLANNED else "catalog",
        actor="workflow",
        line_id=line.id,
        from_state=line.state if state is not LineState.PLANNED else None,
        to_state=state if state is not LineState.PLANNED else None,
        message=message,
    )
