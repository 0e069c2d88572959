"""The states of a transfer and of its lines, and the only moves between them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Generic, TypeVar

from shared.domain.errors import ErrorKind


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
    # Or back to an admin's decision: nothing of it bought, its offer gone, decided again before a cart.
    LineState.ORDERING: frozenset({LineState.ORDERED, LineState.NEEDS_APPROVAL}),
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
NOTHING_BOUGHT = frozenset(
    {
        LineState.PLANNED,
        LineState.NEEDS_APPROVAL,
        LineState.SKIPPED,
        LineState.BLOCKED,
        LineState.TRANSFERRING,
    }
)


#: Lines only an admin moves on (approve or decline): while any waits, the transfer is Blocked.
UNDECIDED = frozenset({LineState.NEEDS_APPROVAL, LineState.BLOCKED})

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


TRANSFER_MACHINE = _Machine("transfer", _TRANSFER_MOVES, _HALTED, TERMINAL)


LINE_MACHINE = _Machine(
    "line",
    _LINE_MOVES,
    frozenset({LineState.BLOCKED, LineState.FAILED}),
    frozenset({LineState.COMPLETED, LineState.SKIPPED}),
)


class IllegalTransitionError(ValueError):
    """The requested move is not one the state machine allows; nothing was changed."""

    kind: ClassVar[ErrorKind] = ErrorKind.NOT_ALLOWED_NOW
