"""When each original lapses, pure: read from the tenant's subscriptions, never cancelled.

The timer uses :func:`read_due` to tell, from the stored dates alone, whether a transfer's originals
are due a read (the step that takes its ``subscription-expiring`` announcement reads them, and uses
:func:`attend` to record what moved). The tenant is read every ``every`` and as soon as a
stored date comes (a lapse, the cutover lead before it), not on every scan: a transfer waits weeks
for its originals, and a read on every five-minute scan was 288 Graph reads a day for each.
``every`` (the setting ``ORIGINALS_READ_HOURS``) bounds how late a lapse date the customer moved,
or an original deprovisioned early, is seen.

An original is watched until it has really lapsed (neither Enabled nor in its Warning grace), even
after its line is cut over: left on auto-renew, it renews (its lapse date jumps a term ahead) and
the customer pays for it beside the replacement. Before each lapse date the customer is reminded to
turn auto-renew off; a line not moved yet whose original lapses within the cutover lead while its
transfer is Blocked or Failed is flagged: its users would be left on the lapsing licence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from shared.domain import HistoryEntry, Line, LineState, Transfer, TransferState
from shared.workflow.rules.partner_transfer import TRANSFERRED

if TYPE_CHECKING:
    from shared.resources.graph import CompanySubscription

_MOVED = (LineState.COMPLETED, LineState.SKIPPED)

_LIVE = frozenset({"enabled", "warning"})  # the customer's users still have it (Warning: grace)
HALTED = frozenset({TransferState.BLOCKED, TransferState.FAILED})


class Notice(StrEnum):
    """What the alert is told (the structured record :func:`shared.telemetry.original_notice`)."""

    LAPSE_AT_RISK = "lapse-at-risk"
    RENEWED = "renewed"
    RENEWAL_REMINDER = "renewal-reminder"


@dataclass(frozen=True, slots=True)
class Attention:
    """What the originals call for now: the lines that change, their history rows, the notices for
    the alert (kind, line id, date), and the transfer's lapse risk (see ``Transfer.lapse_risk_on``)."""

    lines: tuple[Line, ...]
    history: tuple[HistoryEntry, ...]
    notices: tuple[tuple[Notice, str, datetime], ...]
    lapse_risk_on: datetime | None

    def needed(self, transfer: Transfer) -> bool:
        return bool(self.lines) or self.lapse_risk_on != transfer.lapse_risk_on


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
        renewed = "renewed: they now " if known is not None and lapses > known else ""
        history.append(
            HistoryEntry(
                at=now,
                action="originals",
                line_id=line.id,
                message=f"the originals of {line.name} {renewed}lapse on {lapses:%Y-%m-%d} "
                f"(was {was}); nothing is cancelled",
            )
        )
    return changed, history


def attend(
    transfer: Transfer,
    lines: Sequence[Line],
    subscriptions: Mapping[str, CompanySubscription],
    now: datetime,
    lead: timedelta,
) -> Attention:
    """Everything the originals call for now (see the module docstring), once each: a reminder
    per lapse date, a renewal per jump, a lapse risk per change of its date."""
    moved, history = lapse_changes(transfer, lines, subscriptions, now)
    before = {x.id: x for x in lines}
    current = before | {x.id: x for x in moved}
    notices: list[tuple[Notice, str, datetime]] = [
        (Notice.RENEWED, x.id, x.original_expires)
        for x in moved
        if x.original_expires is not None and _later(x.original_expires, before[x.id].original_expires)
    ]
    for line in list(current.values()):
        if line.state is LineState.COMPLETED and _watched(line):
            line = current[line.id] = _after_cutover(line, subscriptions, now, history, notices)
        if _watched(line):
            current[line.id] = _reminded(line, now, lead, history, notices)
    at_risk = _at_risk(transfer, list(current.values()), now, lead)
    risk = _risk_on(at_risk)
    if risk is not None and risk != transfer.lapse_risk_on:
        for line in at_risk:
            notices.append((Notice.LAPSE_AT_RISK, line.id, line.original_expires or risk))
            history.append(_risk_entry(now, transfer, line))
    changed = tuple(x for x in current.values() if x != before[x.id])
    return Attention(changed, tuple(history), tuple(notices), risk)


def _later(new: datetime, known: datetime | None) -> bool:
    return known is not None and new > known


def _risk_entry(now: datetime, transfer: Transfer, line: Line) -> HistoryEntry:
    return _entry(
        now,
        line,
        f"line {line.source_sku_part_number}: its originals lapse on {line.original_expires:%Y-%m-%d} "
        f"while the transfer is {transfer.state}; its users keep only the lapsing licence until an "
        "admin acts (retry, approve or cancel)",
    )


def read_due(
    transfer: Transfer, lines: Sequence[Line], now: datetime, lead: timedelta, every: timedelta
) -> bool:
    """Whether the originals are due a read now, from what is stored: never read, read ``every``
    ago, a stored lapse date (or the cutover lead before it, when reminders and lapse risks begin)
    come since the last read, or a lapse risk the record does not show yet (or shows, and is gone:
    the transfer resumed)."""
    watched = [x for x in lines if _watched(x)]
    last = transfer.originals_read_at
    if not watched:
        return False
    if last is None or now - last >= every:
        return True
    dates = [x.original_expires for x in watched if x.original_expires is not None]
    if any(last < moment <= now for date in dates for moment in (date - lead, date)):
        return True
    return _risk_on(_at_risk(transfer, lines, now, lead)) != transfer.lapse_risk_on


def watching(lines: Sequence[Line]) -> bool:
    """Whether any original is still to be watched (until it has really lapsed)."""
    return any(_watched(x) for x in lines)


def _at_risk(transfer: Transfer, lines: Sequence[Line], now: datetime, lead: timedelta) -> list[Line]:
    if transfer.state not in HALTED:
        return []
    return [
        x
        for x in lines
        if x.state not in _MOVED and x.original_expires is not None and x.original_expires - lead <= now
    ]


def _risk_on(at_risk: Sequence[Line]) -> datetime | None:
    return min((x.original_expires for x in at_risk if x.original_expires), default=None)


def _watched(line: Line) -> bool:
    """An original bought elsewhere, not known to have lapsed, whose line was not declined and did
    not move by a partner transfer (then the original is this partner's own subscription)."""
    transferred = line.partner_transfer is not None and line.partner_transfer.status == TRANSFERRED
    return (
        bool(line.original_subscription_ids)
        and not line.original_lapsed
        and line.state is not LineState.SKIPPED
        and not transferred
    )


def _after_cutover(
    line: Line,
    subscriptions: Mapping[str, CompanySubscription],
    now: datetime,
    history: list[HistoryEntry],
    notices: list[tuple[Notice, str, datetime]],
) -> Line:
    """A cut-over line's originals: lapsed for good, renewed (the date jumped), or still running out."""
    live = [
        o
        for o in (subscriptions.get(s) for s in line.original_subscription_ids)
        if o is not None and o.status.lower() in _LIVE
    ]
    if not live:
        history.append(
            _entry(
                now,
                line,
                f"the originals of {line.source_sku_part_number} have lapsed; nothing more to watch",
            )
        )
        return replace(line, original_lapsed=True)
    dates = [o.next_lifecycle for o in live if o.status.lower() == "enabled" and o.next_lifecycle]
    renewal, known = (min(dates) if dates else None), line.original_expires
    if renewal is None or known is None or renewal <= known:
        return line
    notices.append((Notice.RENEWED, line.id, renewal))
    message = (
        f"the originals of {line.source_sku_part_number} renewed: they now lapse on {renewal:%Y-%m-%d} "
        f"(was {known:%Y-%m-%d}), and the customer pays for them beside the replacement; the customer "
        f"should turn auto-renew off (or cancel them) before {renewal:%Y-%m-%d}"
    )
    history.append(_entry(now, line, message))
    return replace(line, original_expires=renewal)


def _reminded(
    line: Line,
    now: datetime,
    lead: timedelta,
    history: list[HistoryEntry],
    notices: list[tuple[Notice, str, datetime]],
) -> Line:
    """Once per lapse date, inside the cutover lead before it: the customer turns auto-renew off."""
    lapses = line.original_expires
    if lapses is None or line.reminded_for == lapses or not lapses - lead <= now < lapses:
        return line
    notices.append((Notice.RENEWAL_REMINDER, line.id, lapses))
    history.append(
        _entry(
            now,
            line,
            f"reminder for the customer: the originals of "
            f"{line.source_sku_part_number} renew on {lapses:%Y-%m-%d} if auto-renew is on; turn it off "
            "before then (the replacement is this partner's), or they are billed for another term",
        )
    )
    return replace(line, reminded_for=lapses)


def _entry(now: datetime, line: Line, message: str) -> HistoryEntry:
    return HistoryEntry(at=now, action="originals", line_id=line.id, message=message)
