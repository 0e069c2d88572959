"""A line's cutover progress, pure: what one run of the licence swap did, and the one accumulator
that adds a run to the line's tallies.

The swap keeps no cursor (the tenant is the record: a swapped user no longer holds the source SKU),
so all a line keeps between runs is these tallies and who failed, by object id, never a name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from shared.domain import Line, LineState, UserFailure

STORED_FAILURES = 200  # failures kept on the line row; the total is counted beyond it


class FailureReason(StrEnum):
    NO_USAGE_LOCATION = "no usage location"
    MUTUALLY_EXCLUSIVE = "mutually exclusive plans"
    NOT_ENOUGH_LICENSES = "not enough licenses"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class CutoverProgress:
    """One run's outcome. ``pending`` counts users and groups left for a later run (``retry_after``
    says when, if Graph throttled); ``writes`` the assignLicense calls sent; ``retried_failed`` says
    the run tried the earlier failures again, so they are replaced by its own."""

    moved: int = 0
    failures: tuple[UserFailure, ...] = ()
    failed_total: int = 0
    pending: int = 0
    groups_changed: int = 0
    retry_after: float | None = None
    finished: bool = False
    writes: int = 0
    retried_failed: bool = False
    groups: tuple[str, ...] = ()  # groups carrying the replacement now: their members to verify
    located: tuple[str, ...] = ()  # users given the tenant's country as usage location
    country: str | None = None  # that country


def progressed(line: Line, run: CutoverProgress) -> Line:
    """The line after one run: moves add up; failures are the earlier ones the run did not try again,
    then the run's, the first :data:`STORED_FAILURES` kept and the total counted beyond them."""
    earlier = () if run.retried_failed else line.user_failures
    seen = {f.user_id for f in run.failures}
    failures = (*(f for f in earlier if f.user_id not in seen), *run.failures)
    return replace(
        line,
        users_moved=line.users_moved + run.moved,
        users_failed=run.failed_total + (0 if run.retried_failed else line.users_failed),
        users_pending=run.pending,
        user_failures=failures[:STORED_FAILURES],
        groups_to_verify=tuple(sorted({*line.groups_to_verify, *run.groups})),
    )


#: ``licenseAssignmentState.error`` codes (Learn "licenseAssignmentState resource type") as failures.
_STATE_ERRORS = {
    "CountViolation": FailureReason.NOT_ENOUGH_LICENSES,
    "MutuallyExclusiveViolation": FailureReason.MUTUALLY_EXCLUSIVE,
    "ProhibitedInUsageLocationViolation": FailureReason.NO_USAGE_LOCATION,
}


def member_failure(user_id: str, group_id: str, error: str) -> UserFailure:
    """A group member Entra could not give the group's new licence, with the error it recorded."""
    reason = _STATE_ERRORS.get(error, FailureReason.OTHER)
    return UserFailure(user_id, reason.value, f"group {group_id}: {error}", group_id)


def verified(line: Line, settled: Sequence[str], failures: Sequence[UserFailure]) -> Line:
    """The line once the members of the ``settled`` groups are all seen: each group's members that
    failed replace its earlier ones (a retry verifies them again), and count as not moved."""
    groups = set(settled)
    earlier = [f for f in line.user_failures if f.group_id in groups]
    kept = [f for f in line.user_failures if f.group_id not in groups]
    change = len(failures) - len(earlier)
    waiting = tuple(g for g in line.groups_to_verify if g not in groups)
    return replace(
        line,
        users_moved=max(0, line.users_moved - change),
        users_failed=max(0, line.users_failed + change),
        user_failures=(*kept, *failures)[:STORED_FAILURES],
        groups_to_verify=waiting,
        group_reads=line.group_reads + 1 if waiting else 0,
    )


def retried(line: Line) -> Line:
    """A failed line an admin retries: its users who failed directly are tried again; its group
    members who failed stay reported until their groups are verified again (fixed in Entra, a
    member then shows the replacement)."""
    members = tuple(f for f in line.user_failures if f.group_id)
    again = tuple(sorted({f.group_id for f in members if f.group_id}))
    return replace(
        line,
        user_failures=members,
        users_failed=len(members),
        groups_to_verify=tuple(sorted({*line.groups_to_verify, *again})),
        group_reads=0,
    )


def failed_at_cutover(line: Line) -> bool:
    """A line halted by its own cutover (users who could not be moved, or an identical line whose
    seats do not hold its users), not by its purchase."""
    return line.state is LineState.FAILED and line.resume_state in (
        LineState.ACTIVE,
        LineState.MOVING_LICENSES,
    )


def failed_ids(line: Line) -> frozenset[str]:
    """The stored failures' ids, left alone by the next run (beyond the cap, failures are retried)."""
    return frozenset(f.user_id for f in line.user_failures)
