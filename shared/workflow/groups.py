"""After a group's licences change: how each member came out.

``POST /groups/{id}/assignLicense`` answers ``202 Accepted`` (Learn "group: assignLicense"); Entra
then assigns the members in the background, and what it cannot do "happen[s] in the background ...
recorded on the user object" (Learn "Resolve group license assignment problems"): a member's
``licenseAssignmentStates`` entry from the group goes to ``Error`` with ``CountViolation``,
``MutuallyExclusiveViolation``, ``ProhibitedInUsageLocationViolation``... So a line whose holders
moved through a group is complete only once every member of the group shows the replacement
active, or an error, which is then reported for that member.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared.clients.graph import GraphClient
from shared.domain import UserFailure
from shared.resources.graph import User
from shared.workflow.rules.progress import member_failure

ACTIVE = frozenset({"active", "activewitherror"})


@dataclass(frozen=True, slots=True)
class GroupCheck:
    """Groups whose members are all processed (``settled``), their members' failures, and how many
    members of the other groups Entra has not processed yet."""

    settled: tuple[str, ...]
    failures: tuple[UserFailure, ...]
    pending: int


def check_groups(
    graph: GraphClient, tenant_id: str, source: str, targets: Iterable[str], groups: Sequence[str]
) -> GroupCheck:
    """One read of each group's members (paged); a group is settled when none is still pending."""
    wanted = frozenset(t.lower() for t in targets)
    settled: list[str] = []
    failures: list[UserFailure] = []
    pending = 0
    for group_id in groups:
        outcomes = [
            member_outcome(m, group_id, source.lower(), wanted)
            for m in graph.list_group_members(tenant_id, group_id)
        ]
        waiting = sum(1 for o in outcomes if o is None)
        if waiting:
            pending += waiting
            continue
        settled.append(group_id)
        failures.extend(o for o in outcomes if isinstance(o, UserFailure))
    return GroupCheck(tuple(settled), tuple(failures), pending)


def member_outcome(
    user: User, group_id: str, source: str, targets: frozenset[str]
) -> UserFailure | bool | None:
    """``True`` once the member holds every target through the group and no longer the source
    from it; a :class:`UserFailure` when Entra recorded an error on a target; ``None`` while
    Entra has not processed the change for them yet."""
    mine = [s for s in user.license_assignment_states if s.assigned_by_group == group_id]
    for state in mine:
        if state.sku_id in targets and (state.error or state.state.lower() == "error"):
            return member_failure(user.id, group_id, state.error or "Other")
    active = {s.sku_id for s in mine if s.state.lower() in ACTIVE}
    if targets <= active and not any(s.sku_id == source for s in mine):
        return True
    return None
