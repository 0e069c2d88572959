"""Transfers and their lines: states and the only moves between them (no I/O).

A transfer moves one customer's licences from other channels into this partner. Each line is
one source SKU and what replaces it. Every change is a new immutable value plus a history
entry, so the store can commit both together; an illegal move raises and changes nothing.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
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
    TRANSFERRING = "Transferring"  # asked of the source partner by a partner-to-partner transfer
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
    # Accepted → Provisioned directly when every purchase is deferred until before the lapse; a
    # deferred purchase (or a cutover that finds a line still to buy) goes back to Provisioning.
    # Straight to Completed when every line was declined or skipped: there is nothing to move.
    TransferState.ACCEPTED: frozenset(
        {TransferState.PROVISIONING, TransferState.PROVISIONED, TransferState.COMPLETED}
    ),
    TransferState.PROVISIONING: frozenset({TransferState.PROVISIONED}),
    TransferState.PROVISIONED: frozenset(
        {TransferState.PROVISIONING, TransferState.CUTTING_OVER, TransferState.COMPLETED}
    ),
    TransferState.CUTTING_OVER: frozenset(
        {TransferState.COMPLETED, TransferState.PROVISIONED, TransferState.PROVISIONING}
    ),
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
    # Transferred (nothing bought, no licence touched), or back to the rebuy path, where an equivalent
    # offer may need an admin's approval.
    LineState.TRANSFERRING: frozenset({LineState.COMPLETED, LineState.PLANNED, LineState.NEEDS_APPROVAL}),
    LineState.COMPLETED: frozenset(),
    LineState.SKIPPED: frozenset(),
    LineState.BLOCKED: frozenset({LineState.SKIPPED}),
    LineState.FAILED: frozenset(),
}
# Nothing has been bought for a line in these states, so cancelling the transfer costs nothing.
_NOTHING_BOUGHT = frozenset(
    {
        LineState.PLANNED,
        LineState.NEEDS_APPROVAL,
        LineState.SKIPPED,
        LineState.BLOCKED,
        LineState.TRANSFERRING,
    }
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
_ID = re.compile(r"[0-9a-f]{32}")


class IllegalTransitionError(ValueError):
    """The requested move is not one the state machine allows; nothing was changed."""


def new_transfer_id() -> str:
    """32 hex digits that sort by creation time (milliseconds first), so listings come out in order."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def is_transfer_id(value: str) -> bool:
    return bool(_ID.fullmatch(value))


TERM_DURATIONS = ("P1M", "P1Y", "P3Y")
BILLING_CYCLES = ("monthly", "annual", "triennial")
PURCHASE_TIMINGS = ("onAcceptance", "beforeLapse")


@dataclass(frozen=True, slots=True)
class TransferOptions:
    """How and when replacements are bought.

    The default, a one-year term billed monthly, is what Microsoft itself gives subscriptions it
    migrates into new commerce, costs less than the monthly term, and spares the partner prepaying
    a year for a customer it has only just taken over. Buying on acceptance is Microsoft's
    documented path; ``beforeLapse`` buys each line ``purchase_lead_days`` before its original
    lapses, so the customer does not pay twice for the months in between.
    """

    term_duration: str = "P1Y"
    billing_cycle: str = "monthly"
    purchase_timing: str = "onAcceptance"
    purchase_lead_days: int = 14

    def __post_init__(self) -> None:
        if self.term_duration not in TERM_DURATIONS:
            raise ValueError(f"termDuration must be one of {TERM_DURATIONS}, not {self.term_duration!r}")
        if self.billing_cycle not in BILLING_CYCLES:
            raise ValueError(f"billingCycle must be one of {BILLING_CYCLES}, not {self.billing_cycle!r}")
        if self.purchase_timing not in PURCHASE_TIMINGS:
            raise ValueError(
                f"purchaseTiming must be one of {PURCHASE_TIMINGS}, not {self.purchase_timing!r}"
            )
        if not 1 <= self.purchase_lead_days <= 90:
            raise ValueError(f"purchaseLeadDays must be from 1 to 90, not {self.purchase_lead_days!r}")

    @property
    def deferred(self) -> bool:
        return self.purchase_timing == "beforeLapse"

    def purchase_due(self, original_expires: datetime | None, now: datetime) -> datetime:
        """When a line's replacement is bought: now, or its lead time before the original lapses."""
        if not self.deferred or original_expires is None:
            return now
        return original_expires - timedelta(days=self.purchase_lead_days)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> TransferOptions:
        """From the API's ``options`` object; raises ValueError naming what is wrong."""
        data = data or {}
        unknown = sorted(set(data) - {"termDuration", "billingCycle", "purchaseTiming", "purchaseLeadDays"})
        if unknown:
            raise ValueError(f"unknown options {[str(k)[:40] for k in unknown]}")
        term = data.get("termDuration", "P1Y")
        cycle = data.get("billingCycle", "monthly")
        timing = data.get("purchaseTiming", "onAcceptance")
        lead = data.get("purchaseLeadDays", 14)
        if not all(isinstance(v, str) for v in (term, cycle, timing)):
            raise ValueError("termDuration, billingCycle and purchaseTiming must be strings")
        if not isinstance(lead, int) or isinstance(lead, bool):
            raise ValueError("purchaseLeadDays must be a whole number of days")
        return cls(
            term_duration=term.upper(),
            billing_cycle=cycle.lower(),
            purchase_timing=timing,
            purchase_lead_days=lead,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "termDuration": self.term_duration,
            "billingCycle": self.billing_cycle,
            "purchaseTiming": self.purchase_timing,
            "purchaseLeadDays": self.purchase_lead_days,
        }


@dataclass(frozen=True, slots=True)
class GdapRequest:
    """The GDAP relationship asked of the customer: the roles the cutover needs, and its approval link."""

    relationship_id: str
    approval_url: str
    roles: tuple[str, ...]
    status: str


@dataclass(frozen=True, slots=True)
class Purchase:
    """The one cart that buys every line, and the ``MS-RequestId`` of each write, persisted before it.

    Partner Center answers a repeated write with the same request id with the first answer, so
    re-sending either call after an ambiguous failure cannot buy twice.
    """

    cart_request_id: str
    checkout_request_id: str
    started_at: str  # ISO 8601; orders older than this are not this purchase's
    cart_id: str | None = None
    checkout_attempts: int = 0  # counted before each call: above zero, the cart may already be bought

    @classmethod
    def new(cls, at: datetime) -> Purchase:
        return cls(str(uuid.uuid4()), str(uuid.uuid4()), at.isoformat())


@dataclass(frozen=True, slots=True)
class SourcePartner:
    """The CSP partner that sells the customer its subscriptions today (Microsoft ID and name)."""

    tenant_id: str
    name: str


@dataclass(frozen=True, slots=True)
class PartnerTransferRequest:
    """The one Partner Center transfer request of a transfer, persisted before it is created.

    ``transfer_id`` is stored the moment Partner Center names it; until then a retry lists the
    customer's transfers and adopts an open one from the same source partner rather than POST again.
    ``status`` is our reading (:class:`~shared.resources.partner_center.TransferStatus` values).
    """

    request_id: str
    started_at: str  # ISO 8601
    transfer_id: str | None = None
    status: str = "Intended"
    created_at: str | None = None  # Partner Center's createdTime: the 30 days of expiry count from it
    checked_at: str | None = None  # the last time it was read: the timer polls by this
    attempts: int = 0  # create attempts counted before each POST

    @classmethod
    def new(cls, at: datetime) -> PartnerTransferRequest:
        return cls(str(uuid.uuid4()), at.isoformat())


@dataclass(frozen=True, slots=True)
class LineTransfer:
    """How a line of a partner-to-partner transfer moves: by ``transfer``, or by ``rebuy``, and why.

    ``status`` is the line's transfer status (Expected, Requested, InProgress, Transferred,
    PartlyTransferred, NotIncluded, Expired, Failed, Cancelled, NotTransferable). A line the source
    partner submitted only in part keeps the seats that moved (``transferred_quantity``, on
    ``subscription_ids``, now this partner's) and rebuys the rest: its ``quantity`` is the remainder.
    """

    path: str
    status: str
    reason: str | None = None
    line_item_id: str | None = None
    transferred_quantity: int = 0
    subscription_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "subscription_ids", tuple(self.subscription_ids))  # a list when stored


@dataclass(frozen=True, slots=True)
class Replacement:
    """One catalog item bought for a line: what, how many, on which term."""

    catalog_item_id: str
    sku_id: str  # the Entra SKU it provisions
    quantity: int
    term_duration: str
    billing_cycle: str
    order_id: str | None = None  # set once bought: a retry buys only what has none


@dataclass(frozen=True, slots=True)
class UserFailure:
    """A user whose license could not be moved, and why (an object id, never a name)."""

    user_id: str
    reason: str
    detail: str = ""


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
    gdap: GdapRequest | None = None
    purchase: Purchase | None = None
    source_partner: SourcePartner | None = None
    partner_transfer: PartnerTransferRequest | None = None
    api_calls: int = 0  # calls made to Partner Center and Graph for this transfer, for its summary
    planned: bool = False  # every line of the plan is stored (a plan may take several transactions)
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
    replacements: tuple[Replacement, ...] = ()
    original_subscription_ids: tuple[str, ...] = ()
    explanation: str | None = None  # the plan's reasoning, kept for the admin
    order_ids: tuple[str, ...] = ()
    subscription_ids: tuple[str, ...] = ()
    purchase_due: datetime | None = None  # when the replacement is bought (deferred timing)
    users_to_move: int = 0
    users_moved: int = 0
    users_failed: int = 0
    users_pending: int = 0
    user_failures: tuple[UserFailure, ...] = ()  # the first ones, with their reasons; ids only
    partner_transfer: LineTransfer | None = None  # set on every line of a partner-to-partner transfer
    reason: str | None = None
    resume_state: LineState | None = None

    @property
    def id(self) -> str:
        return self.source_sku_id

    def purchase_is_due(self, now: datetime) -> bool:
        """Planned, and bought now (on acceptance) or once its deferred date has come."""
        return self.state is LineState.PLANNED and (self.purchase_due is None or self.purchase_due <= now)

    def cutover_is_due(self, now: datetime, lead: timedelta) -> bool:
        """Moving already, or active with its original inside the lead window (or already lapsed)."""
        if self.state is LineState.MOVING_LICENSES:
            return True
        lapses = self.original_expires
        return self.state is LineState.ACTIVE and lapses is not None and lapses - lead <= now

    @property
    def catalog_item_ids(self) -> tuple[str, ...]:
        return tuple(r.catalog_item_id for r in self.replacements)

    @property
    def replacement_sku_ids(self) -> tuple[str, ...]:
        return tuple(r.sku_id for r in self.replacements)

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


def merged(lines: Sequence[Line], changed: Sequence[Line]) -> list[Line]:
    """``lines`` with each one ``changed`` holds put in its place."""
    by_id = {x.id: x for x in changed}
    return [by_id.get(x.id, x) for x in lines]
