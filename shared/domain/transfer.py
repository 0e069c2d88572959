"""A transfer and its lines: immutable values whose every change comes with a history entry."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import ClassVar

from shared.domain.agreement import CustomerAgreement, CustomerContact
from shared.domain.errors import ErrorKind
from shared.domain.states import (
    LINE_MACHINE,
    NOTHING_BOUGHT,
    TERMINAL,
    TRANSFER_MACHINE,
    UNDECIDED,
    IllegalTransitionError,
    LineState,
    SourceChannel,
    TransferState,
)
from shared.domain.values import (
    GdapRequest,
    LineChoice,
    LineTransfer,
    PartnerTransferRequest,
    Purchase,
    Refund,
    Replacement,
    SourcePartner,
    TransferOptions,
    UserFailure,
)

_ID = re.compile(r"[0-9a-f]{32}")

#: What a move to each state means, as the history says it when the step gives no sentence of its own
#: (the dashboard shows the states beside it, so the sentence never repeats them).
TRANSFER_NOW = {
    TransferState.ACCEPTED: "the customer accepted the reseller relationship",
    TransferState.PROVISIONING: "buying the replacements",
    TransferState.PROVISIONED: "every replacement is active; waiting for the originals to lapse",
    TransferState.CUTTING_OVER: "cutting over: users move to the replacements as their originals lapse",
    TransferState.COMPLETED: "completed",
}
LINE_NOW = {
    LineState.PLANNED: "to be bought",
    LineState.NEEDS_APPROVAL: "needs an admin's approval",
    LineState.ORDERING: "being ordered",
    LineState.ORDERED: "ordered",
    LineState.ACTIVE: "its replacement is active",
    LineState.MOVING_LICENSES: "moving its users to the replacement",
    LineState.TRANSFERRING: "asked of the current partner",
    LineState.COMPLETED: "done",
    LineState.SKIPPED: "skipped",
}


def new_transfer_id() -> str:
    """32 hex digits that sort by creation time (milliseconds first), so listings come out in order."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def is_transfer_id(value: str) -> bool:
    return bool(_ID.fullmatch(value))


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
    #: Ids an admin may need (request, cart, order, transfer request...), shown apart from the message,
    #: which reads as a sentence and never carries them.
    details: tuple[tuple[str, str], ...] = ()


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
    customer_contact: CustomerContact | None = None  # who accepted the customer agreement, if given
    agreement: CustomerAgreement | None = None  # how the customer agreement was confirmed, and when
    segment: str | None = None  # the customer's segment (commercial, education...), from the plan
    api_calls: int = 0  # calls made to Partner Center and Graph for this transfer, for its summary
    planned: bool = False  # every line of the plan is stored (a plan may take several transactions)
    originals_read_for: str | None = None  # the subscription-expiring event whose lapse dates were read
    originals_read_at: datetime | None = None  # when they were read (the timer's next read goes by it)
    reason: str | None = None
    resume_state: TransferState | None = None
    #: While Blocked or Failed: the earliest lapse of an original whose line is not moved yet and
    #: lapses within the cutover lead (its users would keep only the lapsing licence).
    lapse_risk_on: datetime | None = None
    refund: Refund | None = None  # an admin's cancel with refundPurchases, persisted before any call
    customer_name: str | None = None  # the company's name, from Graph before acceptance, then Partner Center
    customer_domain: str | None = None  # its default domain, from the same source

    @property
    def is_active(self) -> bool:
        return self.state not in TERMINAL

    def move(
        self, to: TransferState, *, at: datetime, actor: str, reason: str | None = None
    ) -> tuple[Transfer, HistoryEntry]:
        """The next state, or :class:`IllegalTransitionError`; Blocked and Failed need a reason."""
        resume = TRANSFER_MACHINE.resume_state(self.state, to, reason)
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
            message=reason or TRANSFER_NOW.get(to, str(to)),
        )

    def resume(self, *, at: datetime, actor: str) -> tuple[Transfer, HistoryEntry]:
        """Leave Blocked or Failed for the state the transfer was in when it stopped."""
        back = TRANSFER_MACHINE.retry_state(self.state, self.resume_state)
        moved = replace(self, state=back, updated_at=at, reason=None, resume_state=None)
        return moved, HistoryEntry(
            at=at,
            action="transfer-retry",
            actor=actor,
            from_state=self.state,
            to_state=back,
            message="retried by an admin",
        )

    def cancel(
        self, lines: tuple[Line, ...], *, at: datetime, actor: str, refunded: bool = False
    ) -> tuple[Transfer, HistoryEntry]:
        """Stop the transfer, but only while nothing has been bought for it, or once what was
        bought is cancelled for a refund (``refunded``: the refund's own rules were checked)."""
        if self.state in TERMINAL:
            raise IllegalTransitionError(f"a {self.state} transfer cannot be cancelled")
        bought = sorted(line.id for line in lines if line.state not in NOTHING_BOUGHT)
        if bought and not refunded:
            raise IllegalTransitionError(f"cannot cancel: purchases exist or may exist for lines {bought}")
        moved = replace(self, state=TransferState.CANCELLED, updated_at=at, reason=None, resume_state=None)
        return moved, HistoryEntry(
            at=at,
            action="transfer-cancel",
            actor=actor,
            from_state=self.state,
            to_state=TransferState.CANCELLED,
            message="cancelled; its new subscriptions cancelled for a refund"
            if bought
            else "cancelled before anything was bought",
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
    #: Source plan id -> the higher-tier target plan that covers it (the plan's tier upgrades), so a
    #: plan the holder had switched off stays off at cutover even when only an upgrade carries it.
    upgraded_plans: tuple[tuple[str, str | None], ...] = ()
    reason: str | None = None
    resume_state: LineState | None = None
    #: Above a seat cap per customer: the options an admin chooses from when approving the line.
    choices: tuple[LineChoice, ...] = ()
    #: The chosen option leaves these holders without a licence once the originals lapse (ids only).
    users_without_seat: tuple[str, ...] = ()
    #: Groups changed at cutover whose members are not all seen with the replacement (or an error)
    #: yet: Entra applies a group's change in the background, so the line is complete only then.
    groups_to_verify: tuple[str, ...] = ()
    group_reads: int = 0  # reads of those groups' members so far (the wait backs off with them)
    #: Each new subscription's ``cancellationAllowedUntilDate`` (ISO 8601), as Partner Center said.
    cancellation_windows: tuple[tuple[str, str], ...] = ()
    reminded_for: datetime | None = None  # the lapse date the customer was last reminded of
    original_lapsed: bool = False  # the originals have really lapsed: nothing more to watch
    source_product_name: str | None = None  # "Office 365 E3", from Microsoft's SKU reference

    @property
    def id(self) -> str:
        return self.source_sku_id

    @property
    def name(self) -> str:
        """What an admin calls the original: its product name, else its part number."""
        return self.source_product_name or self.source_sku_part_number

    def purchase_is_due(self, now: datetime) -> bool:
        """Planned, and bought now (on acceptance) or once its deferred date has come."""
        return self.state is LineState.PLANNED and (self.purchase_due is None or self.purchase_due <= now)

    def cutover_is_due(self, now: datetime, lead: timedelta) -> bool:
        """Moving already, or active with its original inside the lead window (or already lapsed)."""
        if self.state is LineState.MOVING_LICENSES:
            return True
        lapses = self.original_expires
        return self.state is LineState.ACTIVE and lapses is not None and lapses - lead <= now

    def move(
        self, to: LineState, *, at: datetime, actor: str, reason: str | None = None
    ) -> tuple[Line, HistoryEntry]:
        resume = LINE_MACHINE.resume_state(self.state, to, reason)
        halting = resume is not None
        moved = replace(self, state=to, reason=reason if halting else None, resume_state=resume)
        return moved, HistoryEntry(
            at=at,
            action="line-state",
            actor=actor,
            line_id=self.id,
            from_state=self.state,
            to_state=to,
            message=reason or f"{self.name}: {LINE_NOW.get(to, str(to))}",
        )

    def choose(self, name: str | None, *, at: datetime, actor: str) -> tuple[Line, HistoryEntry]:
        """Approve a line that waits for a choice: it becomes what the chosen option buys."""
        choice = next((c for c in self.choices if c.name == name), None)
        if not self.choices:
            raise ChoiceError(f"line {self.id} has no options to choose from: approve it without one")
        if choice is None:
            names = " or ".join(f'"{c.name}"' for c in self.choices)
            raise ChoiceError(
                f"line {self.id} is above a seat cap per customer: approve it with one of its options, "
                f'"choose": {{"{self.id}": {names}}}, or decline it'
            )
        moved, entry = self.move(LineState.PLANNED, at=at, actor=actor)
        moved = replace(
            moved,
            decision=choice.decision,
            replacements=choice.replacements,
            users_to_move=choice.users_to_move,
            upgraded_plans=choice.upgraded_plans,
            users_without_seat=choice.users_without_seat,
            choices=(),
        )
        left = len(choice.users_without_seat) + choice.unnamed
        without = f"; {left} holder(s) left without a seat, named on the line" if left else ""
        message = f"line {self.source_sku_part_number}: {choice.name} chosen{without}"
        return moved, replace(entry, message=message)

    def decided_as(self, decided: Line) -> Line:
        """This line buying what ``decided`` (the same original, decided again) buys, and saying why."""
        return replace(
            self,
            decision=decided.decision,
            replacements=decided.replacements,
            explanation=decided.explanation,
            users_to_move=decided.users_to_move,
            upgraded_plans=decided.upgraded_plans,
            choices=decided.choices,
        )

    def resume(self, *, at: datetime, actor: str) -> tuple[Line, HistoryEntry]:
        back = LINE_MACHINE.retry_state(self.state, self.resume_state)
        moved = replace(self, state=back, reason=None, resume_state=None)
        return moved, HistoryEntry(
            at=at,
            action="line-retry",
            actor=actor,
            line_id=self.id,
            from_state=self.state,
            to_state=back,
            message=f"{self.name}: retried",
        )


class ChoiceError(ValueError):
    """An approval names no option of a line that has options, or one it does not have."""

    kind: ClassVar[ErrorKind] = ErrorKind.INVALID_INPUT
    title = "Invalid request"
    parameter = "choose"


@dataclass(frozen=True, slots=True)
class Change:
    """What one step commits at once: the transfer's new header, changed or new lines, history."""

    transfer: Transfer
    lines: tuple[Line, ...] = ()
    history: tuple[HistoryEntry, ...] = ()


def blocked_on_decisions(
    change: Change, at: datetime, actor: str, lines: Sequence[Line] | None = None
) -> Change:
    """The one rule for lines that wait for an admin (an equivalent that loses data, no replacement
    found, a partly transferred line): the transfer is Blocked, naming each line and why, until an
    admin approves or declines them. ``lines`` are the lines to look at (by default the changed
    ones). A halted or finished transfer is left as it is."""
    transfer = change.transfer
    waiting = [x for x in (change.lines if lines is None else lines) if x.state in UNDECIDED]
    if (
        not waiting
        or transfer.state in (TransferState.BLOCKED, TransferState.FAILED)
        or not transfer.is_active
    ):
        return change
    reasons = "; ".join(f"{x.name}: {x.reason}" for x in waiting)
    blocked, entry = transfer.move(
        TransferState.BLOCKED,
        at=at,
        actor=actor,
        reason=f"{len(waiting)} line(s) need an admin's decision (approve or decline): {reasons}",
    )
    return replace(change, transfer=blocked, history=(*change.history, entry))


def merged(lines: Sequence[Line], changed: Sequence[Line]) -> list[Line]:
    """``lines`` with each one ``changed`` holds put in its place."""
    by_id = {x.id: x for x in changed}
    return [by_id.get(x.id, x) for x in lines]
