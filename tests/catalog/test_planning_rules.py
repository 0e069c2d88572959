"""What the plan checks before money moves (docs/planning.md): seat caps per customer, substitutions
that one user can hold (and an admin's approval for any Microsoft does not document), and prices."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from shared.catalog.capping import left_without_seat
from shared.catalog.deciding import plan_transfer
from shared.catalog.inventory import Inventory
from shared.catalog.offers import Catalog, CatalogItem
from shared.catalog.plan import NO_PRICES, BlockReason, Choice, Decision, Plan, PlanLine
from shared.catalog.preflight import Cutover, IssueReason, check_users, exclusive_clash
from shared.catalog.reference import SkuReference
from shared.resources.graph import User
from tests.catalog.builders import PARTNER_TENANT, offer, subscribed_sku, subscription
from tests.catalog.test_preflight import Holds, person, user_id

#: Microsoft's unchanged licensing rows for every SKU the sandbox sells (Business suites included).
REFERENCE = SkuReference.load(Path(__file__).resolve().parents[2] / "sandbox" / "data" / "skus.csv")
SKUS = {
    "M365_E3": "05e9a617-0261-4cee-bb44-138d3ef5d965",
    "M365_E3_NO_TEAMS": "dcf0408c-aaec-446c-afd4-43e3683943ea",
    "M365_E5_NO_TEAMS": "18a4bd3f-0b5b-4887-b04f-61dd0ee15f5e",
    "O365_E1": "18181a46-0d4e-45cd-891e-60aabd171b4e",
    "O365_E1_NO_TEAMS": "f8ced641-8e17-4dc5-b014-f5a2d53f6ac8",
    "O365_E3": "6fd2c87f-b296-42f0-b197-1e91e994b900",
    "O365_E3_NO_TEAMS": "46c3a859-c90d-40b3-9551-6178a48d5c18",
    "BUSINESS_BASIC": "3b555118-da6a-4418-894f-7df1e2096870",
    "BUSINESS_STANDARD": "f245ecc8-75af-4f8e-b61f-27d8114de5f3",
    "BUSINESS_PREMIUM": "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46",
    "TEAMS_ENTERPRISE": "7e31c0d9-9551-471d-836f-32ee72be4a01",
    "EMS_E3": "efccb6f7-5641-4e0e-bd10-b4976e1bf68e",
}
#: What the sandbox sells once Teams Enterprise is withdrawn (the suites with Teams are off sale).
WITHOUT_TEAMS_ENTERPRISE = (
    "M365_E3_NO_TEAMS",
    "M365_E5_NO_TEAMS",
    "O365_E1_NO_TEAMS",
    "O365_E3_NO_TEAMS",
    "BUSINESS_BASIC",
    "BUSINESS_STANDARD",
    "BUSINESS_PREMIUM",
    "EMS_E3",
)


def catalog(*names: str) -> Catalog:
    return Catalog("US", tuple(_item(name) for name in names))


def _item(name: str) -> CatalogItem:
    return offer(SKUS[name], REFERENCE.get(SKUS[name]).display_name)  # type: ignore[union-attr]


def inventory(*held: tuple[str, int], partner: Iterable[tuple[str, int]] = ()) -> Inventory:
    subscriptions = [subscription(SKUS[n], n, seats) for n, seats in held]
    subscriptions += [subscription(SKUS[n], n, seats, owner=PARTNER_TENANT) for n, seats in partner]
    pools = [subscribed_sku(REFERENCE, SKUS[n]) for n, _ in held]
    return Inventory.from_graph(subscriptions, pools, PARTNER_TENANT)


def only_line(plan: Plan) -> PlanLine:
    [line] = plan.lines
    return line


def plan_names(line: PlanLine) -> dict[str, list[str]]:
    return {
        t.provisioning_id: [p.name for p in REFERENCE.get(t.provisioning_id).plans]  # type: ignore[union-attr]
        for t in line.targets
    }


def holders(count: int, sku: str) -> list[User]:
    return [person(n, Holds(sku)) for n in range(count)]


# -- safe substitutions ------------------------------------------------------------------------------


def test_microsoft_365_e3_is_never_replaced_by_skus_that_cannot_be_assigned_together():
    """As a user found it: with Teams Enterprise off sale, Business Basic + Microsoft 365 E3 (no
    Teams) was bought as 'nothing lost', and every user failed at cutover on SharePoint."""
    line = only_line(plan_transfer(inventory(("M365_E3", 5)), catalog(*WITHOUT_TEAMS_ENTERPRISE), REFERENCE))

    assert line.decision is Decision.EQUIVALENT
    assert exclusive_clash(plan_names(line)) is None
    assert SKUS["BUSINESS_BASIC"] not in plan_names(line)
    assert line.needs_approval
    assert line.approval is not None


def test_office_365_e1_without_its_successor_waits_for_an_admin_with_the_reasons():
    line = only_line(plan_transfer(inventory(("O365_E1", 10)), catalog(*WITHOUT_TEAMS_ENTERPRISE), REFERENCE))

    assert line.decision is Decision.EQUIVALENT
    assert exclusive_clash(plan_names(line)) is None
    assert line.needs_approval
    assert "not Microsoft's documented successor" in (line.approval or "")
    assert "An admin must approve this line" in line.explanation


def test_a_higher_tier_that_is_no_successor_says_so_in_the_approval():
    line = only_line(plan_transfer(inventory(("O365_E1", 10)), catalog("O365_E3_NO_TEAMS"), REFERENCE))

    assert [t.provisioning_id for t in line.targets] == [SKUS["O365_E3_NO_TEAMS"]]
    assert "higher tier" in (line.approval or "")
    tiers = {(c.service_plan_name, c.covered_by) for c in line.upgraded_plans}
    assert ("EXCHANGE_S_STANDARD", "EXCHANGE_S_ENTERPRISE") in tiers


def test_microsofts_documented_successor_is_bought_without_approval():
    sold = catalog("O365_E3_NO_TEAMS", "BUSINESS_BASIC", "EMS_E3", "M365_E3_NO_TEAMS")
    sold = Catalog("US", (*sold.items, _item("TEAMS_ENTERPRISE")))

    line = only_line(plan_transfer(inventory(("O365_E3", 25)), sold, REFERENCE))

    assert line.basis == "successor"
    assert not line.needs_approval
    assert line.approval is None


def test_the_preflight_fails_every_mover_when_the_replacement_skus_clash():
    sources = tuple((p.id, p.name) for p in REFERENCE.get(SKUS["M365_E3"]).plans)  # type: ignore[union-attr]
    targets = {
        SKUS[name]: tuple((p.id, p.name) for p in REFERENCE.get(SKUS[name]).plans)  # type: ignore[union-attr]
        for name in ("BUSINESS_BASIC", "M365_E3_NO_TEAMS")
    }
    cutover = Cutover(SKUS["M365_E3"], 5, sources, targets, {})

    preflight = check_users(cutover, holders(3, SKUS["M365_E3"]), lambda sku: targets.get(sku, ()))

    clashes = [i for i in preflight.will_fail if i.reason is IssueReason.MUTUALLY_EXCLUSIVE]
    assert {i.user_id for i in clashes} == {user_id(n) for n in range(3)}
    assert "SHAREPOINT" in clashes[0].detail


def test_a_holder_keeping_a_licence_the_replacement_clashes_with_makes_the_line_wait():
    # One holder keeps Business Basic (SharePoint Plan 1); Office 365 E3's successor carries Plan 2.
    sold = Catalog("US", (_item("O365_E3_NO_TEAMS"), _item("TEAMS_ENTERPRISE")))
    users = {
        SKUS["O365_E3"]: [
            person(0, Holds(SKUS["O365_E3"])),
            person(1, Holds(SKUS["O365_E3"]), Holds(SKUS["BUSINESS_BASIC"])),
        ]
    }
    held = inventory(("O365_E3", 2))
    held = Inventory(
        held.lines,
        held.skipped,
        {
            **held.tenant_plans,
            SKUS["BUSINESS_BASIC"]: subscribed_sku(REFERENCE, SKUS["BUSINESS_BASIC"]).service_plans,
        },
    )

    line = only_line(plan_transfer(held, sold, REFERENCE, holders=users))

    assert line.basis == "successor"
    assert [i.user_id for i in line.users.will_fail] == [user_id(1)]  # type: ignore[union-attr]
    assert line.needs_approval
    assert "1 holder(s) could not be assigned the replacement" in (line.approval or "")


# -- seat caps per customer --------------------------------------------------------------------------


def test_business_premium_above_300_seats_is_not_split_but_waits_for_a_choice():
    sold = Catalog(
        "US",
        (
            *tuple(_item(n) for n in ("BUSINESS_PREMIUM", *WITHOUT_TEAMS_ENTERPRISE[:4], "EMS_E3")),
            _item("TEAMS_ENTERPRISE"),
        ),
    )
    users = {SKUS["BUSINESS_PREMIUM"]: holders(310, SKUS["BUSINESS_PREMIUM"])}

    line = only_line(plan_transfer(inventory(("BUSINESS_PREMIUM", 350)), sold, REFERENCE, holders=users))

    assert (line.decision, line.reason) == (Decision.BLOCKED, BlockReason.OVER_CUSTOMER_CAP)
    assert line.targets == ()
    assert line.needs_approval
    assert "800089" in line.explanation
    up_to_cap, enterprise = line.options
    assert up_to_cap.choice is Choice.UP_TO_CAP
    assert [(t.provisioning_id, t.quantity) for t in up_to_cap.line.targets] == [
        (SKUS["BUSINESS_PREMIUM"], 300)
    ]
    assert up_to_cap.users_without_seat == tuple(sorted(user_id(n) for n in range(310)))[300:]
    assert up_to_cap.line.users is not None
    assert up_to_cap.line.users.seat_shortfall == 10
    assert enterprise.choice is Choice.ENTERPRISE
    assert enterprise.line.decision is Decision.EQUIVALENT
    bought: dict[str, int] = {}
    for target in enterprise.line.targets:  # more than a subscription holds: several subscriptions
        bought[target.provisioning_id] = bought.get(target.provisioning_id, 0) + target.quantity
    assert set(bought.values()) == {350}
    assert SKUS["BUSINESS_PREMIUM"] not in {t.provisioning_id for t in enterprise.line.targets}
    assert exclusive_clash(plan_names(enterprise.line)) is None
    assert enterprise.line.users is not None
    assert enterprise.line.users.holders == 310


def test_seats_this_partner_already_sells_count_against_the_cap():
    held = inventory(("BUSINESS_PREMIUM", 250), partner=[("BUSINESS_PREMIUM", 100)])

    line = only_line(plan_transfer(held, catalog("BUSINESS_PREMIUM"), REFERENCE))

    [up_to_cap] = line.options  # no enterprise offer is sold here
    assert [t.quantity for t in up_to_cap.line.targets] == [200]
    assert "100 more are already with this partner" in line.explanation


def test_a_line_within_the_cap_is_bought_identically():
    line = only_line(
        plan_transfer(inventory(("BUSINESS_PREMIUM", 300)), catalog("BUSINESS_PREMIUM"), REFERENCE)
    )

    assert line.decision is Decision.IDENTICAL
    assert line.options == ()
    assert [t.quantity for t in line.targets] == [300]


def test_an_equivalent_never_buys_a_capped_suite_past_its_cap():
    # Office 365 E3 off sale for 400 seats: no Business suite may stand in for it above 300.
    sold = catalog("BUSINESS_PREMIUM", "BUSINESS_STANDARD", "O365_E1_NO_TEAMS")

    line = only_line(plan_transfer(inventory(("O365_E3", 400)), sold, REFERENCE))

    assert {t.provisioning_id for t in line.targets} <= {SKUS["O365_E1_NO_TEAMS"]}


def test_the_holders_left_without_a_seat_are_those_past_the_cap_in_object_id_order():
    users = [*holders(4, SKUS["BUSINESS_PREMIUM"]), person(9, Holds(SKUS["EMS_E3"]))]

    left = left_without_seat(users, SKUS["BUSINESS_PREMIUM"], 3)

    assert left == (sorted(user_id(n) for n in range(4))[3],)


def test_an_offer_limited_per_customer_at_an_unknown_limit_is_flagged_in_the_plan():
    ems = _item("EMS_E3")
    constrained = replace(ems, sku=replace(ems.sku, has_constraints=True))

    line = only_line(plan_transfer(inventory(("EMS_E3", 10)), Catalog("US", (constrained,)), REFERENCE))
    unconstrained = only_line(plan_transfer(inventory(("EMS_E3", 10)), catalog("EMS_E3"), REFERENCE))

    assert line.decision is Decision.IDENTICAL
    assert "without saying how many" in line.explanation
    assert "800089" in line.explanation
    assert "800089" not in unconstrained.explanation


# -- prices ------------------------------------------------------------------------------------------


def test_the_plan_shows_the_currency_and_says_there_is_no_price_rather_than_inventing_one():
    line = only_line(plan_transfer(inventory(("EMS_E3", 10)), catalog("EMS_E3"), REFERENCE))

    assert line.pricing is not None
    assert line.pricing.to_json() == {
        "currency": "USD",
        "unitPrice": None,
        "originalUnitPrice": None,
        "change": None,
        "note": NO_PRICES,
    }
