"""Transfers and their lines: states and the only moves between them (no I/O).

A transfer moves one customer's licences from other channels into this partner. Each line is
one source SKU and what replaces it. Every change is a new immutable value plus a history
entry, so the store can commit both together; an illegal move raises and changes nothing.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar


class TransferState(StrEnum):
    AWAITING_ACCEPTANCE = "AwaitingAcceptance"
    ACCEPTED = "Accepted"
    PROVISIONING = "Provisioning"
    PROVISIONED = "Provisioned"  # replacements bought; waiting for the originals to lapse
    CUTTING_OVER = "CuttingOver"
    COMPLETED = "Completed"
    BLOCKED = "Blocked"  # needs someone: region, approval, GDAP role, agreement...
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class LineState(StrEnum):
    PLANNED = "Planned"
    NEEDS_APPROVAL = "NeedsApproval"  # an equivalent offer would lose a data-bearing plan
    ORDERING = "Ordering"  # MS-RequestId persisted; the purchase may or may not have happened
    ORDERED = "Ordered"
    ACTIVE = "Active"  # the replacement subscription is provisioned
    MOVING_LICENSES = "MovingLicenses"
    COMPLETED = "Completed"
    SKIPPED = "Skipped"  # trial, free SKU, or an admin declined the equivalent
    BLOCKED = "Blocked"
    FAILED = "Failed"


class SourceChannel(StrEnum):
    """Where the customer bought the originals; it decides what cutover can and cannot do."""

    DIRECT = "Direct"
    ENTERPRISE_AGREEMENT = "EnterpriseAgreement"
    OPEN = "Open"
    OTHER_PARTNER = "OtherPartner"


TERMINAL = frozenset({TransferState.COMPLETED, TransferState.CANCELLED})
_HALTED = frozenset({TransferState.BLOCKED, TransferState.FAILED})

_TRANSFER_MOVES: dict[TransferState, frozenset[TransferState]] = {
    TransferState.AWAITING_ACCEPTANCE: frozenset({TransferState.ACCEPTED}),
    TransferState.ACCEPTED: frozenset({TransferState.PROVISIONING}),
    TransferState.PROVISIONING: frozenset({TransferState.PROVISIONED}),
    TransferState.PROVISIONED: frozenset({TransferState.CUTTING_OVER}),
    TransferState.CUTTING_OVER: frozenset({TransferState.COMPLETED}),
    # Out of Blocked and Failed only by resume() or cancel(); cancel() is the only way to Cancelled.
    TransferState.BLOCKED: frozenset(),
    TransferState.FAILED: frozenset(),
    TransferState.COMPLETED: frozenset(),
    TransferState.CANCELLED: frozenset(),
}

_LINE_MOVES: dict[LineState, frozenset[LineState]] = {
    LineState.PLANNED: frozenset({LineState.NEEDS_APPROVAL, LineState.ORDERING, LineState.SKIPPED}),
    LineState.NEEDS_APPROVAL: frozenset({LineState.PLANNED, LineState.SKIPPED}),
    LineState.ORDERING: frozenset({LineState.ORDERED}),
    LineState.ORDERED: frozenset({LineState.ACTIVE}),
    LineState.ACTIVE: frozenset({LineState.MOVING_LICENSES, LineState.COMPLETED}),
    LineState.MOVING_LICENSES: frozenset({LineState.COMPLETED}),
    LineState.COMPLETED: frozenset(),
    LineState.SKIPPED: frozenset(),
    LineState.BLOCKED: frozenset({LineState.SKIPPED}),
    LineState.FAILED: frozenset(),
}
# Nothing has been bought for a line in these states, so cancelling the transfer costs nothing.
_NOTHING_BOUGHT = frozenset(
    {LineState.PLANNED, LineState.NEEDS_APPROVAL, LineState.SKIPPED, LineState.BLOCKED}
)

S = TypeVar("S", "TransferState", "LineState")


@dataclass(frozen=True, slots=True)
class _Machine(Generic[S]):
    """The legal moves of one kind of record; Blocked and Failed are reachable from any live state."""

    what: str
    moves: Mapping[S, frozenset[S]]
    halted: frozenset[S]  # stopped with a reason; a retry returns to the state it stopped in
    final: frozenset[S]

    def resume_state(self, current: S, to: S, reason: str | None) -> S | None:
        """Where a retry would return after this move (``None`` unless halting); raises if illegal."""
        if to in self.halted and current not in self.final and current not in self.halted:
            if not reason:
                raise IllegalTransitionError(f"moving {self.what} to {to} needs a reason")
            return current
        if to not in self.moves[current]:
            raise IllegalTransitionError(f"{self.what} cannot move from {current} to {to}")
        return None

    def retry_state(self, current: S, resume: S | None) -> S:
        if current not in self.halted or resume is None:
            raise IllegalTransitionError(
                f"only a blocked or failed {self.what} can be retried, not {current}"
            )
        return resume


_TRANSFERS = _Machine("transfer", _TRANSFER_MOVES, _HALTED, TERMINAL)
_LINES = _Machine(
    "line",
    _LINE_MOVES,
    frozenset({LineState.BLOCKED, LineState.FAILED}),
    frozenset({LineState.COMPLETED, LineState.SKIPPED}),
)
_ID = re.compile(r"^[0-9a-f]{32}$")


class IllegalTransitionError(ValueError):
    """The requested move is not one the state machine allows; nothing was changed."""


def new_transfer_id() -> str:
    """32 hex digits that sort by creation time (milliseconds first), so listings come out in order."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def is_transfer_id(value: str) -> bool:
    return bool(_ID.fullmatch(value))


TERM_DURATIONS = ("P1M", "P1Y", "P3Y")
BILLING_CYCLES = ("monthly", "annual", "triennial")


@dataclass(frozen=True, slots=True)
class TransferOptions:
    """How replacements are bought.

    The default, a one-year term billed monthly, is what Microsoft itself gives subscriptions it
    migrates into new commerce, costs less than the monthly term, and spares the partner prepaying
    a year for a customer it has only just taken over.
    """

    term_duration: str = "P1Y"
    billing_cycle: str = "monthly"

    def __post_init__(self) -> None:
        if self.term_duration not in TERM_DURATIONS:
            raise ValueError(f"termDuration must be one of {TERM_DURATIONS}, not {self.term_duration!r}")
        if self.billing_cycle not in BILLING_CYCLES:
            raise ValueError(f"billingCycle must be one of {BILLING_CYCLES}, not {self.billing_cycle!r}")

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> TransferOptions:
        """From the API's ``options`` object (``termDuration``, ``billingCycle``); raises ValueError."""
        data = data or {}
        term = data.get("termDuration", "P1Y")
        cycle = data.get("billingCycle", "monthly")
        if not isinstance(term, str) or not isinstance(cycle, str):
            raise ValueError("termDuration and billingCycle must be strings")
        return cls(term_duration=term.upper(), billing_cycle=cycle.lower())

    def to_json(self) -> dict[str, Any]:
        return {"termDuration": self.term_duration, "billingCycle": self.billing_cycle}


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One step in a transfer's append-only history; ``seq`` is assigned by the store."""

    at: datetime
    action: str
    message: str
    actor: str = "workflow"
    from_state: str | None = None
    to_state: str | None = None
    line_id: str | None = None
    event_id: str | None = None
    seq: int = 0


@dataclass(frozen=True, slots=True)
class Transfer:
    id: str
    customer_tenant_id: str
    customer_country: str
    source_channel: SourceChannel
    state: TransferState
    created_at: datetime
    updated_at: datetime
    contact_email: str | None = None
    options: TransferOptions = field(default_factory=TransferOptions)
    invitation_url: str | None = None
    reason: str | None = None
    resume_state: TransferState | None = None

    @property
    def is_active(self) -> bool:
        return self.state not in TERMINAL

    def move(
        self, to: TransferState, *, at: datetime, actor: str, reason: str | None = None
    ) -> tuple[Transfer, HistoryEntry]:
        """The next state, or :class:`IllegalTransitionError`; Blocked and Failed need a reason."""
        resume = _TRANSFERS.resume_state(self.state, to, reason)
        halting = resume is not None
        moved = replace(
            self, state=to, updated_at=at, reason=reason if halting else None, resume_state=resume
        )
        return moved, HistoryEntry(
            at=at,
            action="transfer-state",
            actor=actor,
            from_state=self.state,
            to_state=to,
            message=reason or f"{self.state} → {to}",
        )

    def resume(self, *, at: datetime, actor: str) -> tuple[Transfer, HistoryEntry]:
        """Leave Blocked or Failed for the state the transfer was in when it stopped."""
        back = _TRANSFERS.retry_state(self.state, self.resume_state)
        moved = replace(self, state=back, updated_at=at, reason=None, resume_state=None)
        return moved, HistoryEntry(
            at=at,
            action="transfer-retry",
            actor=actor,
            from_state=self.state,
            to_state=back,
            message=f"retry from {self.state}",
        )

    def cancel(self, lines: tuple[Line, ...], *, at: datetime, actor: str) -> tuple[Transfer, HistoryEntry]:
        """Stop the transfer, but only while nothing has been bought for it."""
        if self.state in TERMINAL:
            raise IllegalTransitionError(f"a {self.state} transfer cannot be cancelled")
        bought = sorted(line.id for line in lines if line.state not in _NOTHING_BOUGHT)
        if bought:
            raise IllegalTransitionError(f"cannot cancel: purchases exist or may exist for lines {bought}")
        moved = replace(self, state=TransferState.CANCELLED, updated_at=at, reason=None, resume_state=None)
        return moved, HistoryEntry(
            at=at,
            action="transfer-cancel",
            actor=actor,
            from_state=self.state,
            to_state=TransferState.CANCELLED,
            message="cancelled before anything was bought",
        )


@dataclass(frozen=True, slots=True)
class Line:
    """One source SKU held in other channels, and the offer that replaces it."""

    transfer_id: str
    source_sku_id: str
    source_sku_part_number: str
    quantity: int
    state: LineState = LineState.PLANNED
    original_expires: datetime | None = None
    decision: str | None = None  # "identical" or "equivalent", from the plan
    catalog_item_ids: tuple[str, ...] = ()
    replacement_sku_ids: tuple[str, ...] = ()
    purchase_request_id: str | None = None  # MS-RequestId, persisted before the purchase call
    order_ids: tuple[str, ...] = ()
    subscription_ids: tuple[str, ...] = ()
    users_to_move: int = 0
    users_moved: int = 0
    users_failed: int = 0
    reason: str | None = None
    resume_state: LineState | None = None

    @property
    def id(self) -> str:
        return self.source_sku_id

    def move(
        self, to: LineState, *, at: datetime, actor: str, reason: str | None = None
    ) -> tuple[Line, HistoryEntry]:
        resume = _LINES.resume_state(self.state, to, reason)
        halting = resume is not None
        moved = replace(self, state=to, reason=reason if halting else None, resume_state=resume)
        return moved, HistoryEntry(
            at=at,
            action="line-state",
            actor=actor,
            line_id=self.id,
            from_state=self.state,
            to_state=to,
            message=reason or f"line {self.source_sku_part_number}: {self.state} → {to}",
        )

    def resume(self, *, at: datetime, actor: str) -> tuple[Line, HistoryEntry]:
        back = _LINES.retry_state(self.state, self.resume_state)
        moved = replace(self, state=back, reason=None, resume_state=None)
        return moved, HistoryEntry(
            at=at,
            action="line-retry",
            actor=actor,
            line_id=self.id,
            from_state=self.state,
            to_state=back,
            message=f"retry line {self.source_sku_part_number} from {self.state}",
        )


@dataclass(frozen=True, slots=True)
class Change:
    """What one step commits at once: the transfer's new header, changed or new lines, history."""

    transfer: Transfer
    lines: tuple[Line, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
