"""The user pre-flight on doc-shaped Graph users: who holds a SKU, how they move, who would fail."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from shared.catalog.deciding import plan_transfer
from shared.catalog.inventory import Inventory
from shared.catalog.offers import Catalog
from shared.catalog.plan import Decision, Plan, PlanLine
from shared.catalog.preflight import Cutover, GroupShare, IssueReason, UserPreflight, check_users
from shared.resources.graph import User
from tests.catalog.builders import (
    BUSINESS_STANDARD,
    O365_E1,
    O365_E3,
    O365_E3_NO_TEAMS,
    PARTNER_TENANT,
    TEAMS_ENTERPRISE,
    offer,
    subscribed_sku,
    subscription,
    subset_reference,
)

REFERENCE = subset_reference()
GROUP_A = "0b6a4c1e-7d35-4c47-9a8e-1f2d3c4b5a6f"
GROUP_B = "9e8d7c6b-5a49-4382-b1c0-d9e8f7a6b5c4"
SWAY = "a23b959c-7ce8-4e57-9140-b90eb88a9e97"
SHAREPOINT_PLAN_1 = "c7699d2e-19aa-44de-8edf-1736da088ca1"


@dataclass(frozen=True)
class Holds:
    """One ``licenseAssignmentState``: directly (no group) or through ``group``."""

    sku: str
    group: str | None = None
    disabled: tuple[str, ...] = ()
    error: str | None = None


def user_id(number: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"user/{number}"))


def person(number: int, *assignments: Holds, location: str | None = "US", state: str = "Error") -> User:
    """A user as ``GET /users?$select=id,assignedLicenses,licenseAssignmentStates,usageLocation`` returns it.

    An assignment with an error is in ``state`` (``Error`` or ``ActiveWithError``); as in Entra, a SKU
    whose only assignment is in ``Error`` is not among ``assignedLicenses``.
    """
    licenses: dict[str, tuple[str, ...]] = {}
    for held in assignments:
        if held.error is None or state != "Error":
            licenses.setdefault(held.sku, held.disabled)
    return User.from_json(
        {
            "id": user_id(number),
            "usageLocation": location,
            "assignedLicenses": [{"skuId": sku, "disabledPlans": list(off)} for sku, off in licenses.items()],
            "licenseAssignmentStates": [
                {
                    "assignedByGroup": held.group,
                    "disabledPlans": list(held.disabled),
                    "error": held.error or "None",
                    "lastUpdatedDateTime": "2026-08-01T00:00:00Z",
                    "skuId": held.sku,
                    "state": state if held.error else "Active",
                }
                for held in assignments
            ],
        }
    )


def plans(sku_id: str) -> tuple[tuple[str, str], ...]:
    entry = REFERENCE.get(sku_id)
    return tuple((plan.id, plan.name) for plan in entry.plans) if entry else ()


def swap(
    seats: int | None = 25, *, targets: tuple[str, ...] = (O365_E3_NO_TEAMS, TEAMS_ENTERPRISE)
) -> Cutover:
    """Office 365 E3 replaced by ``targets`` (no targets: nothing moves)."""
    return Cutover(
        sku_id=O365_E3,
        seats=seats,
        source_plans=plans(O365_E3),
        targets={target: plans(target) for target in targets},
        carried=dict(plans(O365_E3)),
    )


def e3_unbundled(holders: list[User], seats: int = 25) -> PlanLine:
    """Office 365 E3, off sale, planned with its holders: Microsoft's no-Teams pair replaces it."""
    inventory = Inventory.from_graph(
        [subscription(O365_E3, "ENTERPRISEPACK", seats)], [subscribed_sku(REFERENCE, O365_E3)], PARTNER_TENANT
    )
    catalog_items = (offer(O365_E3_NO_TEAMS, "Office 365 E3 (no Teams)"), offer(TEAMS_ENTERPRISE, "Teams"))
    plan = plan_transfer(inventory, Catalog("US", catalog_items), REFERENCE, holders={O365_E3: holders})
    [line] = plan.lines
    assert line.decision is Decision.EQUIVALENT
    return line


def e1_raised_to_e3(holders: list[User]) -> PlanLine:
    """Office 365 E1 and its successors off sale: Office 365 E3 covers it at higher tiers."""
    inventory = Inventory.from_graph(
        [subscription(O365_E1, "STANDARDPACK", 10)], [subscribed_sku(REFERENCE, O365_E1)], PARTNER_TENANT
    )
    catalog = Catalog("US", (offer(O365_E3, "Office 365 E3"),))
    [line] = plan_transfer(inventory, catalog, REFERENCE, holders={O365_E1: holders}).lines
    assert line.decision is Decision.EQUIVALENT
    assert [target.provisioning_id for target in line.targets] == [O365_E3]
    return line


def preflight(line: PlanLine) -> UserPreflight:
    assert line.users is not None
    return line.users


def test_holders_are_split_into_direct_group_members_and_both() -> None:
    users = [
        person(1, Holds(O365_E3)),
        person(2, Holds(O365_E3)),
        person(3, Holds(O365_E3, GROUP_A)),
        person(4, Holds(O365_E3, GROUP_A), Holds(O365_E3, GROUP_B)),
        person(5, Holds(O365_E3), Holds(O365_E3, GROUP_B)),
    ]

    found = check_users(swap(), users, plans)

    assert (found.holders, found.direct, found.both) == (5, 2, 1)
    assert found.via_groups == (GroupShare(GROUP_A, 2), GroupShare(GROUP_B, 2))
    assert found.will_fail == ()


def test_a_direct_holder_without_usage_location_will_fail_when_the_line_moves() -> None:
    users = [person(1, Holds(O365_E3), location=None), person(2, Holds(O365_E3))]

    [issue] = check_users(swap(), users, plans).will_fail

    assert (issue.user_id, issue.reason) == (user_id(1), IssueReason.NO_USAGE_LOCATION)


def test_a_group_member_without_usage_location_moves_with_the_directorys_location() -> None:
    # Entra: "for group license assignment, any users without a usage location specified inherit
    # the location of the directory"; a holder both ways only loses the direct assignment.
    users = [
        person(1, Holds(O365_E3, GROUP_A), location=None),
        person(2, Holds(O365_E3), Holds(O365_E3, GROUP_A), location=None),
    ]

    assert check_users(swap(), users, plans).will_fail == ()


def test_an_identical_line_moves_nobody_so_nobody_fails_but_its_holders_are_counted() -> None:
    users = [person(1, Holds(O365_E3), location=None), person(2, Holds(O365_E3, GROUP_A))]

    found = check_users(swap(targets=()), users, plans)

    assert (found.holders, found.direct, found.via_groups, found.will_fail) == (
        2,
        1,
        (GroupShare(GROUP_A, 1),),
        (),
    )


def test_an_assignment_error_entra_records_is_reported_and_the_group_does_not_count_the_user() -> None:
    users = [person(1, Holds(O365_E3), Holds(O365_E3, GROUP_A, error="CountViolation"))]

    found = check_users(swap(), users, plans)

    assert (found.direct, found.via_groups) == (1, ())
    [issue] = found.will_fail
    assert issue.reason is IssueReason.ASSIGNMENT_ERROR
    assert "CountViolation" in issue.detail
    assert GROUP_A in issue.detail


def test_a_group_assignment_active_with_an_error_still_counts_in_its_group() -> None:
    users = [person(1, Holds(O365_E3, GROUP_A, error="DependencyViolation"), state="ActiveWithError")]

    found = check_users(swap(), users, plans)

    assert (found.direct, found.via_groups) == (0, (GroupShare(GROUP_A, 1),))
    assert [issue.reason for issue in found.will_fail] == [IssueReason.ASSIGNMENT_ERROR]


def test_a_stale_match_that_no_longer_holds_the_sku_is_ignored() -> None:
    found = check_users(swap(), [person(1, Holds(BUSINESS_STANDARD))], plans)

    assert found.holders == 0


def test_a_higher_tier_replacement_exclusive_with_a_plan_the_user_keeps_will_fail() -> None:
    # E3's SharePoint Plan 2 cannot sit next to the SharePoint Plan 1 the user keeps from another SKU.
    line = e1_raised_to_e3([person(1, Holds(O365_E1), Holds(BUSINESS_STANDARD)), person(2, Holds(O365_E1))])

    [issue] = preflight(line).will_fail

    assert (issue.user_id, issue.reason) == (user_id(1), IssueReason.MUTUALLY_EXCLUSIVE)
    assert "SHAREPOINTENTERPRISE" in issue.detail
    assert "SHAREPOINTSTANDARD" in issue.detail
    assert "1 user would fail at cutover (mutually exclusive plans: 1)" in line.explanation


def test_a_switched_off_conflicting_plan_does_not_conflict() -> None:
    kept = Holds(BUSINESS_STANDARD, disabled=(SHAREPOINT_PLAN_1,))

    line = e1_raised_to_e3([person(1, Holds(O365_E1), kept)])

    assert preflight(line).will_fail == ()


def test_a_replacement_the_user_already_holds_adds_nothing_to_conflict_with() -> None:
    users = [person(1, Holds(O365_E1), Holds(O365_E3), Holds(BUSINESS_STANDARD))]
    cutover = Cutover(O365_E1, 10, plans(O365_E1), {O365_E3: plans(O365_E3)}, {})

    assert check_users(cutover, users, plans).will_fail == ()


def test_disabled_plans_are_counted_and_carried_to_the_replacement_plan_that_covers_them() -> None:
    line = e1_raised_to_e3(
        [
            person(1, Holds(O365_E1, disabled=(SWAY, SHAREPOINT_PLAN_1))),
            person(2, Holds(O365_E1, GROUP_A, disabled=(SWAY,))),
            person(3, Holds(O365_E1)),
        ]
    )

    carried = {(p.service_plan_name, p.users, p.carried_to) for p in preflight(line).disabled_plans}
    assert carried == {("SWAY", 2, "SWAY"), ("SHAREPOINTSTANDARD", 1, "SHAREPOINTENTERPRISE")}
    assert "2 users have SWAY switched off; it stays off on SWAY." in line.explanation


def test_seats_that_do_not_cover_the_holders_are_a_warning() -> None:
    line = e3_unbundled([person(n, Holds(O365_E3)) for n in range(3)], seats=2)

    assert (preflight(line).seats, preflight(line).seat_shortfall) == (2, 1)
    assert "Warning: 3 users hold it but the transfer leaves 2 seats" in line.explanation


def test_the_plan_json_carries_the_preflight_and_the_text_names_groups_but_no_user() -> None:
    users = [
        person(1, Holds(O365_E3), location=None),
        person(2, Holds(O365_E3, GROUP_A)),
        person(3, Holds(O365_E3), Holds(O365_E3, GROUP_A)),
    ]

    line = e3_unbundled(users)

    assert line.to_json()["users"] == {
        "holders": 3,
        "direct": 1,
        "viaGroups": [{"groupId": GROUP_A, "users": 2}],
        "both": 1,
        "willFail": [
            {
                "userId": user_id(1),
                "reason": "no usage location",
                "detail": "assignLicense refuses a licence to a user without a usage location; "
                "set one before cutover",
            }
        ],
        "disabledPlans": [],
        "seats": 25,
        "seatShortfall": 0,
    }
    assert (
        f"3 users hold it: 1 directly, 2 through group {GROUP_A} (1 of them both ways)." in line.explanation
    )
    assert "1 user would fail at cutover (no usage location: 1)" in line.explanation
    assert not any(user_id(n) in line.explanation for n in (1, 2, 3))


def test_each_holders_query_is_read_once() -> None:
    reads: list[int] = []

    def page() -> Iterator[User]:
        reads.append(1)
        yield person(1, Holds(O365_E3))

    inventory = Inventory.from_graph(
        [subscription(O365_E3, "ENTERPRISEPACK", 5)], [subscribed_sku(REFERENCE, O365_E3)], PARTNER_TENANT
    )
    plan = plan_transfer(inventory, Catalog("US", ()), REFERENCE, holders={O365_E3: page()})

    assert reads == [1]
    [line] = plan.lines
    assert line.decision is Decision.BLOCKED
    assert (preflight(line).holders, preflight(line).seats, preflight(line).seat_shortfall) == (1, None, 0)


def test_a_plan_without_holders_says_its_users_were_not_checked() -> None:
    inventory = Inventory.from_graph(
        [subscription(O365_E3, "ENTERPRISEPACK", 5)], [subscribed_sku(REFERENCE, O365_E3)], PARTNER_TENANT
    )
    plan: Plan = plan_transfer(inventory, Catalog("US", (offer(O365_E3, "Office 365 E3"),)), REFERENCE)

    [line] = plan.lines
    assert line.users is None
    assert json.loads(json.dumps(plan.to_json()))["lines"][0]["users"] is None
    assert "Its users were not read" in line.explanation
