"""The user pre-flight: who holds a source SKU, how they move at cutover, and who would fail (pure logic).

Graph answers it with one paged query per SKU (``users?$filter=assignedLicenses/any(...)`` with
``licenseAssignmentStates``, :meth:`~shared.clients.graph.GraphClient.list_users_with_sku`), read once here.

How a holder moves (Learn, "Scenarios, limitations, and known issues using groups to manage
licensing"):

* **directly**: a direct assignment is swapped on the user, add and remove in one ``assignLicense``;
* **through a group**: an inherited licence "can't [be] directly remove[d] or modif[ied]"; it changes
  on the group, one call for every member ("the changes are then propagated to all group members");
* **both**: the group gives the replacement, and the direct assignment is removed from the user.

What fails at cutover and can be told from Graph's answer before anything is bought:

* **no usage location**: ``assignLicense`` refuses to add a licence to a user without one. Only a
  direct move adds one; group members are not affected ("for group license assignment, any users
  without a usage location specified inherit the location of the directory", Entra docs).
* **mutually exclusive plans**: a replacement plan and an enabled plan of another SKU the user keeps
  belong to one family that cannot be assigned together (:data:`EXCLUSIVE_FAMILIES`). The check is
  against the user's other licences as they are now; a disabled plan does not conflict. The
  replacement SKUs are also checked against each other (:func:`exclusive_clash`): if they clash,
  every holder moving to them would fail.
* **assignment error**: Entra already records an error on the user's assignment of this SKU
  (``licenseAssignmentStates.error``: ``CountViolation``, ``DependencyViolation``...); the same
  business rule will refuse the replacement.

User ids (object ids) are kept; UPNs and names are personal data and are never read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.resources.graph import LicenseAssignmentState, User

#: Plans Microsoft's licensing reference says "cannot be assigned at the same time" (its
#: "Service plans that cannot be assigned at the same time" table). Exchange and Skype are left
#: out: Microsoft now sells plans of those families together (Teams Enterprise carries
#: EXCHANGE_S_DESKLESS next to the no-Teams suites' EXCHANGE_S_STANDARD), and the reference says its
#: tables are "accurate only as of the date when this article was last updated".
EXCLUSIVE_FAMILIES: tuple[frozenset[str], ...] = (
    frozenset(
        {
            "ONEDRIVEENTERPRISE", "SHAREPOINT_S_DEVELOPER", "SHAREPOINTDESKLESS", "SHAREPOINTENTERPRISE",
            "SHAREPOINTENTERPRISE_EDU", "SHAREPOINTENTERPRISE_MIDMARKET", "SHAREPOINTLITE",
            "SHAREPOINTSTANDARD", "SHAREPOINTSTANDARD_EDU", "SHAREPOINTSTANDARD_YAMMERSHADOW",
        }
    ),
    frozenset({"YAMMER_ENTERPRISE", "YAMMER_EDU", "YAMMER_MIDSIZE"}),
    frozenset({"INTUNE_A", "INTUNE_A_VL", "INTUNE_B"}),
    frozenset({"RMS_S_ENTERPRISE", "RMS_S_ENTERPRISE_GOV"}),
)  # fmt: skip

_FAMILY_OF = {name: index for index, family in enumerate(EXCLUSIVE_FAMILIES) for name in family}

#: Service plans of a SKU as (plan id, plan name) pairs.
PlanPairs = tuple[tuple[str, str], ...]


def exclusive_clash(plans_by_sku: Mapping[str, Iterable[str]]) -> str | None:
    """Two plans of one exclusive family on different SKUs, in words; None when the SKUs can be
    assigned together. A SKU's own plans are sold together, and one plan on two SKUs is no clash."""
    found: dict[int, list[tuple[str, str]]] = {}
    for sku in sorted(plans_by_sku):
        for name in sorted(set(plans_by_sku[sku])):
            family = _FAMILY_OF.get(name)
            if family is not None:
                found.setdefault(family, []).append((sku, name))
    for held in found.values():
        for sku, name in held:
            other = next(((s, n) for s, n in held if s != sku and n != name), None)
            if other is not None:
                return f"{name} of SKU {sku} cannot be assigned together with {other[1]} of SKU {other[0]}"
    return None


class IssueReason(StrEnum):
    NO_USAGE_LOCATION = "no usage location"
    MUTUALLY_EXCLUSIVE = "mutually exclusive plans"
    ASSIGNMENT_ERROR = "assignment error"


@dataclass(frozen=True, slots=True)
class GroupShare:
    """A group that carries the SKU and how many holders inherit it from there."""

    group_id: str
    users: int

    def to_json(self) -> dict[str, Any]:
        return {"groupId": self.group_id, "users": self.users}


@dataclass(frozen=True, slots=True)
class UserIssue:
    """A holder the cutover would fail for; ``detail`` names plans, SKUs or groups, never the person."""

    user_id: str
    reason: IssueReason
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"userId": self.user_id, "reason": self.reason.value, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class DisabledPlan:
    """A plan of the source some holders have switched off, and the plan that keeps it off.

    Microsoft's own plan change does not keep disabled plans ("All users will be given access to all
    services in the new subscription", Learn, "Upgrade to a different plan"), so the cutover carries
    them onto ``carried_to``; ``None`` when the replacement has no such plan.
    """

    service_plan_id: str
    service_plan_name: str
    users: int
    carried_to: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "servicePlanId": self.service_plan_id,
            "servicePlanName": self.service_plan_name,
            "users": self.users,
            "carriedTo": self.carried_to,
        }


@dataclass(frozen=True, slots=True)
class Cutover:
    """What the cutover does to the holders of one source SKU, as the plan decided it.

    ``targets`` is empty when no licence moves (the same SKU is bought, or nothing is). ``seats`` is
    what the holders will have after the transfer; ``None`` when nothing is bought.
    """

    sku_id: str
    seats: int | None
    source_plans: PlanPairs
    targets: Mapping[str, PlanPairs]
    carried: Mapping[str, str | None]  # source plan id -> the replacement plan that takes its disabled state

    @property
    def moves(self) -> bool:
        return bool(self.targets)


def carried_plans(
    source: PlanPairs, targets: Mapping[str, PlanPairs], upgraded: Mapping[str, str | None] | None = None
) -> dict[str, str | None]:
    """Each source plan id -> the name of the replacement plan that takes its disabled state: the same
    plan id, else the same plan name, else the higher-tier plan the plan chose (``upgraded``)."""
    by_id = {plan_id: name for plans in targets.values() for plan_id, name in plans}
    names = set(by_id.values())
    higher = upgraded or {}
    return {
        plan_id: by_id.get(plan_id) or (name if name in names else higher.get(plan_id))
        for plan_id, name in source
    }


def disabled_on(cutover: Cutover, off: Iterable[str], target: str) -> tuple[str, ...]:
    """The plan ids of ``target`` to switch off for a holder who has the source plans ``off`` switched off."""
    kept_off = {cutover.carried.get(plan) for plan in off} - {None}
    return tuple(plan_id for plan_id, name in cutover.targets[target] if name in kept_off)


@dataclass(frozen=True, slots=True)
class UserPreflight:
    """The holders of one source SKU: how many move directly, through which groups, and who fails."""

    holders: int
    direct: int  # hold it directly only
    via_groups: tuple[GroupShare, ...]
    both: int  # hold it directly and through a group (counted in their groups too)
    will_fail: tuple[UserIssue, ...]
    disabled_plans: tuple[DisabledPlan, ...]
    seats: int | None

    @property
    def seat_shortfall(self) -> int:
        """Holders the seats bought would leave without a licence."""
        return max(0, self.holders - self.seats) if self.seats is not None else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "holders": self.holders,
            "direct": self.direct,
            "viaGroups": [share.to_json() for share in self.via_groups],
            "both": self.both,
            "willFail": [issue.to_json() for issue in self.will_fail],
            "disabledPlans": [plan.to_json() for plan in self.disabled_plans],
            "seats": self.seats,
            "seatShortfall": self.seat_shortfall,
        }


def check_users(
    cutover: Cutover, users: Iterable[User], plans_of: Callable[[str], PlanPairs]
) -> UserPreflight:
    """Reads the holders once; ``plans_of`` gives the plans of another SKU a user holds."""
    names = dict(cutover.source_plans)
    direct = both = holders = 0
    groups: Counter[str] = Counter()
    disabled: Counter[str] = Counter()
    issues: list[UserIssue] = []
    clash = exclusive_clash({sku: (name for _, name in plans) for sku, plans in cutover.targets.items()})
    for user in users:
        if not user.holds(cutover.sku_id):
            continue  # Graph's filter is eventually consistent: a stale match holds nothing
        holders += 1
        states = [s for s in user.license_assignment_states if s.sku_id == cutover.sku_id]
        errors = [s for s in states if s.error is not None]
        giving = [s for s in states if s.state.lower() != "error"]  # ActiveWithError still gives it
        via = sorted({s.assigned_by_group for s in giving if s.assigned_by_group})
        is_direct = any(s.is_direct for s in giving) or not via
        groups.update(via)
        if via and is_direct:
            both += 1
        elif is_direct:
            direct += 1
        off = _disabled_plans(user, cutover.sku_id)
        disabled.update(off)
        if cutover.moves:
            alone = is_direct and not via
            issues.extend(_issues(user, cutover, errors, adds_directly=alone, off=off, plans_of=plans_of))
            if clash is not None:
                issues.append(UserIssue(user.id, IssueReason.MUTUALLY_EXCLUSIVE, f"the replacement: {clash}"))
    return UserPreflight(
        holders=holders,
        direct=direct,
        via_groups=tuple(GroupShare(group, count) for group, count in sorted(groups.items())),
        both=both,
        will_fail=tuple(sorted(issues, key=lambda issue: (issue.user_id, issue.reason.value, issue.detail))),
        disabled_plans=tuple(
            DisabledPlan(plan_id, names.get(plan_id, plan_id), count, cutover.carried.get(plan_id))
            for plan_id, count in sorted(disabled.items())
        ),
        seats=cutover.seats,
    )


def _disabled_plans(user: User, sku_id: str) -> frozenset[str]:
    return frozenset(plan for a in user.assigned_licenses if a.sku_id == sku_id for plan in a.disabled_plans)


def _issues(
    user: User,
    cutover: Cutover,
    errors: Sequence[LicenseAssignmentState],
    *,
    adds_directly: bool,
    off: frozenset[str],
    plans_of: Callable[[str], PlanPairs],
) -> list[UserIssue]:
    found: list[UserIssue] = []
    if adds_directly and user.usage_location is None:
        found.append(
            UserIssue(
                user.id,
                IssueReason.NO_USAGE_LOCATION,
                "assignLicense refuses a licence to a user without a usage location; set one before cutover",
            )
        )
    for state in errors:
        where = f"through group {state.assigned_by_group}" if state.assigned_by_group else "directly"
        found.append(
            UserIssue(
                user.id,
                IssueReason.ASSIGNMENT_ERROR,
                f"Entra already records {state.error} on the assignment {where}",
            )
        )
    conflict = _conflict(user, cutover, off, plans_of)
    if conflict:
        found.append(UserIssue(user.id, IssueReason.MUTUALLY_EXCLUSIVE, conflict))
    return found


def _conflict(
    user: User, cutover: Cutover, off: frozenset[str], plans_of: Callable[[str], PlanPairs]
) -> str | None:
    """The first replacement plan that cannot sit next to an enabled plan of another SKU the user keeps."""
    held = {a.sku_id: a for a in user.assigned_licenses}
    kept_off = {cutover.carried.get(plan) for plan in off}
    added: dict[int, str] = {}
    for target in sorted(cutover.targets):
        if target in held:
            continue  # already held: nothing is added, so nothing new can conflict
        for _, name in cutover.targets[target]:
            family = _FAMILY_OF.get(name)
            if family is not None and name not in kept_off:
                added.setdefault(family, name)
    if not added:
        return None
    for sku_id in sorted(held):
        if sku_id == cutover.sku_id or sku_id in cutover.targets:
            continue
        switched_off = set(held[sku_id].disabled_plans)
        for plan_id, name in plans_of(sku_id):
            family = _FAMILY_OF.get(name)
            if family in added and plan_id not in switched_off and added[family] != name:
                return f"{added[family]} of the replacement conflicts with {name} of SKU {sku_id}"
    return None


def describe(preflight: UserPreflight, cutover: Cutover) -> str:
    """The pre-flight in an admin's words: counts and group ids only, never a person."""
    if preflight.holders == 0:
        return "No user holds it."
    ways = [f"{preflight.direct} directly"] + [
        f"{share.users} through group {share.group_id}" for share in preflight.via_groups
    ]
    both = f" ({preflight.both} of them both ways)" if preflight.both else ""
    parts = [f"{_users(preflight.holders, 'holds', 'hold')} it: {', '.join(ways)}{both}."]
    if cutover.moves:
        parts.append("At cutover each direct holder is swapped in one call (add and remove together)")
        if preflight.via_groups:
            parts[-1] += ", and each group is changed once for all its members"
        parts[-1] += "."
        if preflight.both:
            parts.append(
                f"{_users(preflight.both, 'holding', 'holding')} it both ways also lose"
                f"{'s' if preflight.both == 1 else ''} the direct assignment "
                "once the group gives the replacement."
            )
    if preflight.will_fail:
        reasons = Counter(issue.reason for issue in preflight.will_fail)
        listed = ", ".join(f"{reason.value}: {count}" for reason, count in sorted(reasons.items()))
        failing = len({issue.user_id for issue in preflight.will_fail})
        parts.append(
            f"{_users(failing, 'would', 'would')} fail at cutover ({listed}): fix this before cutover."
        )
    for plan in preflight.disabled_plans:
        kept = (
            f"it stays off on {plan.carried_to}"
            if plan.carried_to
            else "the replacement has no such plan, so there is nothing to keep off"
        )
        parts.append(f"{_users(plan.users, 'has', 'have')} {plan.service_plan_name} switched off; {kept}.")
    if preflight.seat_shortfall:
        parts.append(
            f"Warning: {_users(preflight.holders, 'holds', 'hold')} it but the transfer leaves "
            f"{preflight.seats} seat{'' if preflight.seats == 1 else 's'}, so "
            f"{_users(preflight.seat_shortfall, 'would', 'would')} be left without a licence."
        )
    return " ".join(parts)


def _users(count: int, singular: str, plural: str) -> str:
    """``count`` users and the verb that agrees with it."""
    return f"1 user {singular}" if count == 1 else f"{count} users {plural}"
