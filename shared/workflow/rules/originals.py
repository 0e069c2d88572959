"""When each original lapses, pure: read from the tenant's subscriptions, never cancelled.

The timer uses it to tell whether a transfer needs its ``subscription-expiring`` announcement (a
lapse date moved, or a purchase or a cutover is due); the step that takes the announcement uses it
to record what moved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from shared.domain import HistoryEntry, Line, LineState, Transfer

if TYPE_CHECKING:
    from shared.resources.graph import CompanySubscription


def lapse_of(line: Line, subscriptions: Mapping[str, CompanySubscription], now: datetime) -> datetime | None:
    """When the line's originals stop serving: the earliest renewal date of those still enabled,
    or now when one was deprovisioned early or is already past its end (Warning, Suspended...)."""
    originals = [subscriptions.get(s) for s in line.original_subscription_ids]
    if any(o is None or o.status.lower() != "enabled" for o in originals):
        return now
    dates = [o.next_lifecycle for o in originals if o is not None and o.next_lifecycle is not None]
    return min(dates) if dates else None


def lapse_changes(
    transfer: Transfer,
    lines: Sequence[Line],
    subscriptions: Mapping[str, CompanySubscription],
    now: datetime,
) -> tuple[list[Line], list[HistoryEntry]]:
    """The lines whose originals' lapse date moved (a deferred purchase moves with it), each with a
    history row; a line already known to have lapsed stays as it is."""
    changed, history = [], []
    for line in lines:
        if line.state in (LineState.COMPLETED, LineState.SKIPPED) or not line.original_subscription_ids:
            continue
        lapses = lapse_of(line, subscriptions, now)
        known = line.original_expires
        if lapses is None or lapses == known or (known is not None and known <= now and lapses <= now):
            continue
        due = transfer.options.purchase_due(lapses, now) if line.purchase_due else None
        changed.append(replace(line, original_expires=lapses, purchase_due=due))
        was = f"{known:%Y-%m-%d}" if known else "unknown"
        history.append(
            HistoryEntry(
                at=now,
                action="originals",
                line_id=line.id,
                message=f"the originals of {line.name} lapse on {lapses:%Y-%m-%d} "
                f"(was {was}); nothing is cancelled",
            )
        )
    return changed, history
