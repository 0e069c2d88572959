"""A line's cutover progress, pure: what one run of the licence swap did, and the one accumulator
that adds a run to the line's tallies.

The swap keeps no cursor (the tenant is the record: a swapped user no longer holds the source SKU),
so all a line keeps between runs is these tallies and who failed, by object id, never a name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from shared.domain import Line, UserFailure

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
    )


def failed_ids(line: Line) -> frozenset[str]:
    """The stored failures' ids, left alone by the next run (beyond the cap, failures are retried)."""
    return frozenset(f.user_id for f in line.user_failures)
