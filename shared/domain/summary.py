"""A transfer as its list row shows it, pure: the stage an admin sees, whose move it is next, the
next date, and the lines' progress with skipped lines kept apart from done ones.

The stored state is the workflow's; the *stage* says what is true for the admin. A transfer that is
Accepted or Provisioned with nothing bought, because every line left waits on a partner-to-partner
request or on a purchase scheduled before its original lapses, is ``Scheduled``: Provisioned would
claim replacements that do not exist yet. The state machine itself is unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from shared.domain.states import UNDECIDED, LineState, TransferState
from shared.domain.transfer import Line, Transfer

SCHEDULED = "Scheduled"
#: Every stage a list row can show: the stored states, and Scheduled.
STAGES = (*(state.value for state in TransferState), SCHEDULED)

_FINISHED_LINES = frozenset({LineState.COMPLETED, LineState.SKIPPED})
_BOUGHT = frozenset({LineState.ORDERING, LineState.ORDERED, LineState.ACTIVE, LineState.MOVING_LICENSES})
_WAITING = frozenset({LineState.PLANNED, LineState.NEEDS_APPROVAL, LineState.BLOCKED, LineState.TRANSFERRING})
_HALTED = frozenset({TransferState.BLOCKED, TransferState.FAILED})
_REQUEST_PENDING = "Pending"  # TransferStatus.PENDING: created, waiting for the source partner


class NextMove(StrEnum):
    """Whose move it is: this partner's admin, the customer's admin, or no one's (the workflow, or a date)."""

    PARTNER = "partner"
    CUSTOMER = "customer"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class LineCounts:
    """The lines by what they are doing; ``done`` never counts a skipped line."""

    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    waiting: int = 0  # for a decision, the source partner, or a purchase date
    in_flight: int = 0  # being bought, provisioned, or waiting for the cutover

    @classmethod
    def of(cls, lines: Sequence[Line]) -> LineCounts:
        states = [line.state for line in lines]
        return cls(
            total=len(states),
            done=states.count(LineState.COMPLETED),
            skipped=states.count(LineState.SKIPPED),
            failed=states.count(LineState.FAILED),
            waiting=sum(state in _WAITING for state in states),
            in_flight=sum(state in _BOUGHT for state in states),
        )


@dataclass(frozen=True, slots=True)
class Listing:
    """What the list shows of one transfer. ``updated_at`` is when something shown here last changed
    (a provisioning poll moves the record's time, not the list's); ``lapses_first`` is the earliest
    lapse of an original not cut over yet, which decides whether the transfer needs attention."""

    id: str
    customer_tenant_id: str
    customer_name: str | None
    customer_domain: str | None
    customer_country: str
    source_channel: str
    state: TransferState
    stage: str
    created_at: datetime
    updated_at: datetime
    next_date: datetime | None
    next_move: NextMove
    next_move_text: str
    lapses_first: datetime | None
    lines: LineCounts
    reason: str | None

    def needs_attention(self, now: datetime, lead: timedelta) -> bool:
        """Blocked, Failed, or an original lapsing within ``lead`` (the cutover's lead) while not cut over."""
        if self.state in _HALTED:
            return True
        return self.lapses_first is not None and self.lapses_first <= now + lead

    def lapse_risk_on(self, now: datetime, lead: timedelta) -> datetime | None:
        """While Blocked or Failed, the first original lapsing within ``lead`` whose line is not moved:
        its users would keep only the lapsing licence (what ``Transfer.lapse_risk_on`` records)."""
        soon = self.lapses_first is not None and self.lapses_first <= now + lead
        return self.lapses_first if self.state in _HALTED and soon else None

    @property
    def digest(self) -> str:
        """What the row shows, whatever its time, in 32 hex digits: equal digests, same row."""
        shown = replace(self, updated_at=self.created_at)
        return hashlib.sha256(repr(shown).encode()).hexdigest()[:32]

    def matches(self, text: str) -> bool:
        """Whether ``text`` is in the customer's name, default domain or tenant id, ignoring case."""
        needle = text.strip().lower()
        haystack = (self.customer_name or "", self.customer_domain or "", self.customer_tenant_id)
        return any(needle in value.lower() for value in haystack)


def listing_of(transfer: Transfer, lines: Sequence[Line], updated_at: datetime | None = None) -> Listing:
    """The list row of a transfer with these lines."""
    move, text = next_move(transfer, lines)
    return Listing(
        id=transfer.id,
        customer_tenant_id=transfer.customer_tenant_id,
        customer_name=transfer.customer_name,
        customer_domain=transfer.customer_domain,
        customer_country=transfer.customer_country,
        source_channel=transfer.source_channel.value,
        state=transfer.state,
        stage=stage_of(transfer, lines),
        created_at=transfer.created_at,
        updated_at=updated_at or transfer.updated_at,
        next_date=next_date(transfer, lines),
        next_move=move,
        next_move_text=text,
        lapses_first=lapses_first(transfer, lines),
        lines=LineCounts.of(lines),
        reason=transfer.reason,
    )


def stage_of(transfer: Transfer, lines: Sequence[Line]) -> str:
    """The stored state, except Scheduled for an Accepted or Provisioned transfer with nothing bought
    whose open lines all wait on the source partner or on a purchase date."""
    if transfer.state not in (TransferState.ACCEPTED, TransferState.PROVISIONED):
        return transfer.state.value
    open_lines = [line for line in lines if line.state not in _FINISHED_LINES]
    bought = any(line.state in _BOUGHT or line.order_ids for line in lines)
    if open_lines and not bought and all(_scheduled(line) for line in open_lines):
        return SCHEDULED
    return transfer.state.value


def _scheduled(line: Line) -> bool:
    return line.state is LineState.TRANSFERRING or (
        line.state is LineState.PLANNED and line.purchase_due is not None
    )


def next_date(transfer: Transfer, lines: Sequence[Line]) -> datetime | None:
    """The next thing that happens by itself: a scheduled purchase, a pending partner transfer
    request's expiry, or an original's lapse; none once the transfer is finished."""
    if not transfer.is_active:
        return None
    dates = [x.purchase_due for x in lines if x.state is LineState.PLANNED and x.purchase_due]
    request = transfer.partner_transfer
    if request is not None and request.status == _REQUEST_PENDING:
        dates.append(request.expires)
    lapse = lapses_first(transfer, lines)
    return min([*dates, lapse] if lapse else dates, default=None)


def lapses_first(transfer: Transfer, lines: Sequence[Line]) -> datetime | None:
    """The earliest lapse of an original whose line is not done yet."""
    if not transfer.is_active:
        return None
    lapses = [x.original_expires for x in lines if x.original_expires and x.state not in _FINISHED_LINES]
    return min(lapses, default=None)


def next_move(transfer: Transfer, lines: Sequence[Line]) -> tuple[NextMove, str]:
    """Whose move it is, and one sentence saying what it is."""
    state = transfer.state
    if state is TransferState.AWAITING_ACCEPTANCE:
        return NextMove.CUSTOMER, (
            "The customer's: their Global Administrator accepts the reseller invitation and approves "
            "the GDAP request."
        )
    if state is TransferState.BLOCKED:
        undecided = sum(line.state in UNDECIDED for line in lines)
        if undecided:
            return NextMove.PARTNER, f"Yours: approve or decline {_lines(undecided)} waiting for a decision."
        return NextMove.PARTNER, "Yours: resolve what stopped it (the reason says what), then retry."
    if state is TransferState.FAILED:
        return NextMove.PARTNER, (
            "Yours: fix what failed (the reason says what), then retry; nothing is bought twice."
        )
    if state is TransferState.COMPLETED:
        return NextMove.NONE, "No one's: the transfer is complete."
    if state is TransferState.CANCELLED:
        return NextMove.NONE, "No one's: the transfer was cancelled."
    return NextMove.NONE, _waiting_text(transfer, lines)


def _waiting_text(transfer: Transfer, lines: Sequence[Line]) -> str:
    """What the workflow is doing, or waiting for, while no one needs to act."""
    if transfer.state is TransferState.PROVISIONING:
        return "No one's: the replacements are being bought."
    if transfer.state is TransferState.CUTTING_OVER:
        return "No one's: users are moving to the replacements."
    if not lines:
        return "No one's: the plan is being made."
    request = transfer.partner_transfer
    source = transfer.source_partner.name if transfer.source_partner else "the current partner"
    if any(line.state is LineState.TRANSFERRING for line in lines):
        if request is not None and request.status == _REQUEST_PENDING:
            expires = f"{request.expires:%Y-%m-%d}"
            return f"No one's here until {source} submits the transfer request (it expires on {expires})."
        return f"No one's: the transfer request to {source} is on its way."
    due = [x.purchase_due for x in lines if x.state is LineState.PLANNED and x.purchase_due]
    if due:
        return f"No one's until {min(due):%Y-%m-%d}: the replacements are bought before the originals lapse."
    lapse = lapses_first(transfer, lines)
    if lapse is not None:
        return f"No one's until {lapse:%Y-%m-%d}: the cutover runs before the originals lapse."
    return "No one's: waiting for the originals to lapse."


def _lines(count: int) -> str:
    return f"{count} line" if count == 1 else f"{count} lines"
