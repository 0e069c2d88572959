from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from sandbox.catalog import SUITES_CSV
from shared.catalog.deciding import plan_transfer
from shared.catalog.inventory import Inventory
from shared.catalog.offers import Catalog, CatalogItem
from shared.catalog.plan import BlockReason, Decision, Plan, PlanLine
from shared.catalog.reference import SkuReference
from shared.domain import TransferOptions
from tests.catalog.builders import (
    BUSINESS_STANDARD,
    BUSINESS_STANDARD_EEA_NO_TEAMS,
    EXCHANGE_PLAN_1,
    EXCHANGE_PLAN_2,
    FLOW_FREE,
    O365_E1,
    O365_E1_NO_TEAMS,
    O365_E3,
    O365_E3_NO_TEAMS,
    PARTNER_TENANT,
    SUBSET_CSV,
    TEAMS_EEA,
    TEAMS_ENTERPRISE,
    offer,
    subscribed_sku,
    subscription,
    subset_reference,
)

REFERENCE = subset_reference()


def owned(*skus: tuple[str, int], reference: SkuReference = REFERENCE, **kwargs) -> Inventory:
    """An inventory of SKUs bought directly from Microsoft, with the tenant reporting the table's plans."""
    subscriptions = [subscription(sku, REFERENCE.get(sku).part_number, seats) for sku, seats in skus]  # type: ignore[union-attr]
    pools = [subscribed_sku(REFERENCE, sku, **kwargs) for sku, _ in skus]
    return Inventory.from_graph(subscriptions, pools, PARTNER_TENANT)


def sold(*items: CatalogItem, country: str = "US") -> Catalog:
    return Catalog(country, items)


def only_line(plan: Plan) -> PlanLine:
    [line] = plan.lines
    return line


def title(sku_id: str) -> str:
    return REFERENCE.get(sku_id).display_name  # type: ignore[union-attr]


def test_office_365_e3_on_sale_is_bought_identically_with_the_same_quantity():
    catalog = sold(offer(O365_E3, "Office 365 E3"), offer(O365_E3_NO_TEAMS, "Office 365 E3 (no Teams)"))
    line = only_line(plan_transfer(owned((O365_E3, 25)), catalog, REFERENCE))
    assert line.decision is Decision.IDENTICAL
    [target] = line.targets
    assert (target.provisioning_id, target.quantity) == (O365_E3, 25)
    assert (target.term_duration, target.billing_cycle) == ("P1Y", "monthly")
    assert not line.lost_plans
    assert not line.needs_approval
    assert "same SKU" in line.explanation


def test_seats_already_with_this_partner_are_not_bought_again():
    inventory = Inventory.from_graph(
        [
            subscription(O365_E3, "ENTERPRISEPACK", 10),
            subscription(O365_E3, "ENTERPRISEPACK", 7, owner=PARTNER_TENANT),
            subscription(O365_E3, "ENTERPRISEPACK", 5, trial=True),
        ],
        [subscribed_sku(REFERENCE, O365_E3)],
        PARTNER_TENANT,
    )
    line = only_line(plan_transfer(inventory, sold(offer(O365_E3, "Office 365 E3")), REFERENCE))
    assert [t.quantity for t in line.targets] == [10]
    assert "7 more seats are already with this partner" in line.explanation
    assert "5 trial seats are not moved" in line.explanation


def test_office_365_e3_off_sale_becomes_the_no_teams_pair_with_nothing_lost():
    catalog = sold(
        offer(O365_E3_NO_TEAMS, "Office 365 E3 (no Teams)"),
        offer(TEAMS_ENTERPRISE, "Microsoft Teams Enterprise"),
        offer(O365_E1_NO_TEAMS, "Office 365 E1 (no Teams)"),
    )
    line = only_line(plan_transfer(owned((O365_E3, 25)), catalog, REFERENCE))
    assert line.decision is Decision.EQUIVALENT
    assert line.basis == "successor"
    assert [t.provisioning_id for t in line.targets] == [O365_E3_NO_TEAMS, TEAMS_ENTERPRISE]
    assert [t.quantity for t in line.targets] == [25, 25]
    assert line.lost_plans == ()
    assert not line.needs_approval
    assert line.citation is not None
    assert "Teams unbundling" in line.citation
    assert "nothing is lost" in line.explanation


def test_a_higher_tier_covers_the_lower_tiers_of_the_original():
    # Office 365 E1 and its no-Teams successor are off sale; Office 365 E3 carries every E1 plan
    # at the same or a higher tier.
    catalog = sold(offer(O365_E3, "Office 365 E3"), offer(TEAMS_ENTERPRISE, "Microsoft Teams Enterprise"))
    line = only_line(plan_transfer(owned((O365_E1, 12)), catalog, REFERENCE))
    assert line.decision is Decision.EQUIVALENT
    assert line.basis == "coverage"
    assert [t.provisioning_id for t in line.targets] == [O365_E3]
    assert line.lost_plans == ()
    upgrades = {(c.service_plan_name, c.covered_by) for c in line.upgraded_plans}
    assert ("EXCHANGE_S_STANDARD", "EXCHANGE_S_ENTERPRISE") in upgrades
    assert ("SHAREPOINTSTANDARD", "SHAREPOINTENTERPRISE") in upgrades
    assert ("FORMS_PLAN_E1", "FORMS_PLAN_E3") in upgrades
    assert "Higher tiers of the same services replace" in line.explanation


def test_an_offer_not_sold_in_the_customers_country_is_blocked():
    catalog = sold(offer(O365_E3, "Office 365 E3", country="GB"), country="US")
    line = only_line(plan_transfer(owned((O365_E3, 25)), catalog, REFERENCE))
    assert line.decision is Decision.BLOCKED
    assert line.reason == BlockReason.NOT_SOLD_IN_COUNTRY
    assert line.targets == ()
    assert "not sold in US" in line.explanation


def test_trial_and_free_skus_are_skipped_with_their_reasons():
    inventory = Inventory.from_graph(
        [
            subscription(O365_E1, "STANDARDPACK", 25, trial=True),
            subscription(FLOW_FREE, "FLOW_FREE", 10000),
        ],
        [subscribed_sku(REFERENCE, O365_E1), subscribed_sku(REFERENCE, FLOW_FREE)],
        PARTNER_TENANT,
    )
    plan = plan_transfer(inventory, sold(offer(O365_E1, "Office 365 E1")), REFERENCE)
    assert {(line.source_sku_id, line.decision, line.reason) for line in plan.lines} == {
        (O365_E1, Decision.SKIPPED, "trial"),
        (FLOW_FREE, Decision.SKIPPED, "free"),
    }
    assert all(line.targets == () and line.explanation for line in plan.lines)


def test_losing_a_data_bearing_plan_needs_an_admins_approval():
    # Office 365 E3 (no Teams) is sold but Teams Enterprise is not: Teams (chats, channels) would be lost.
    catalog = sold(offer(O365_E3_NO_TEAMS, "Office 365 E3 (no Teams)"))
    plan = plan_transfer(owned((O365_E3, 40)), catalog, REFERENCE)
    line = only_line(plan)
    assert line.decision is Decision.EQUIVALENT
    assert [t.provisioning_id for t in line.targets] == [O365_E3_NO_TEAMS]
    assert [(c.service_plan_name, c.data_bearing) for c in line.lost_plans] == [("TEAMS1", True)]
    assert line.needs_approval
    assert plan.needs_approval
    assert "approve" in line.explanation
    assert "not sold in the customer's country" in line.explanation  # why the successor was ruled out


def test_an_offer_keeping_too_little_of_the_original_is_not_an_equivalent():
    # Exchange Online (Plan 2) keeps the mailbox of Plan 1 but not its To Do plan: half is not enough.
    catalog = sold(offer(EXCHANGE_PLAN_2, "Exchange Online (Plan 2)"))
    line = only_line(plan_transfer(owned((EXCHANGE_PLAN_1, 40)), catalog, REFERENCE))
    assert (line.decision, line.reason) == (Decision.BLOCKED, BlockReason.NO_COVER_FOUND)
    assert line.targets == ()


def test_losing_only_features_is_reported_without_approval():
    preview = ("0f2c8f9a-2f0c-4e5c-9d55-3f0d6b1c2a77", "FEATURE_PREVIEW")
    catalog = sold(
        offer(O365_E3_NO_TEAMS, "Office 365 E3 (no Teams)"), offer(TEAMS_ENTERPRISE, "Teams Enterprise")
    )
    line = only_line(plan_transfer(owned((O365_E3, 25), extra_plans=(preview,)), catalog, REFERENCE))
    assert [(c.service_plan_name, c.data_bearing) for c in line.lost_plans] == [("FEATURE_PREVIEW", False)]
    assert not line.needs_approval
    assert "warnings" in line.explanation


def test_a_successor_is_checked_against_the_plans_not_trusted():
    # Microsoft's listed plans for the EEA Business Standard pair lack Loop (data) and Bing Chat Enterprise.
    catalog = sold(
        offer(BUSINESS_STANDARD_EEA_NO_TEAMS, "Microsoft 365 Business Standard EEA (no Teams)", country="DE"),
        offer(TEAMS_EEA, "Microsoft Teams EEA", country="DE"),
        country="DE",
    )
    line = only_line(plan_transfer(owned((BUSINESS_STANDARD, 9)), catalog, REFERENCE))
    assert line.decision is Decision.EQUIVALENT
    assert line.basis == "successor"
    assert {c.service_plan_name for c in line.lost_plans} == {"Bing_Chat_Enterprise", "MICROSOFT_LOOP"}
    assert line.needs_approval


def test_a_target_missing_from_the_reference_is_never_chosen():
    without_teams = "\n".join(
        line for line in SUBSET_CSV.read_text().splitlines() if TEAMS_ENTERPRISE not in line
    )
    reference = SkuReference.parse(without_teams)
    catalog = sold(
        offer(O365_E3_NO_TEAMS, "Office 365 E3 (no Teams)"), offer(TEAMS_ENTERPRISE, "Teams Enterprise")
    )
    line = only_line(plan_transfer(owned((O365_E3, 25)), catalog, reference))
    assert [t.provisioning_id for t in line.targets] == [O365_E3_NO_TEAMS]
    assert [c.service_plan_name for c in line.lost_plans] == ["TEAMS1"]
    assert line.needs_approval
    assert "missing from the SKU reference" in line.explanation


def test_a_renamed_offer_is_identical_and_the_rename_is_explained():
    catalog = sold(offer(BUSINESS_STANDARD, "Microsoft 365 Business Standard"))
    line = only_line(plan_transfer(owned((BUSINESS_STANDARD, 9)), catalog, REFERENCE))
    assert line.decision is Decision.IDENTICAL
    assert "Office 365 Business Premium is now sold as Microsoft 365 Business Standard" in line.explanation


def test_more_seats_than_one_subscription_holds_are_bought_as_several():
    catalog = sold(offer(O365_E3, "Office 365 E3", maximum=300))
    line = only_line(plan_transfer(owned((O365_E3, 701)), catalog, REFERENCE))
    assert line.decision is Decision.IDENTICAL
    assert [t.quantity for t in line.targets] == [300, 300, 101]
    assert {t.catalog_item_id for t in line.targets} == {line.targets[0].catalog_item_id}
    assert "bought as 3 subscriptions (300 + 300 + 101)" in line.explanation


def test_an_equivalent_over_the_cap_splits_each_offer():
    catalog = sold(
        offer(O365_E3_NO_TEAMS, "Office 365 E3 (no Teams)", maximum=300),
        offer(TEAMS_ENTERPRISE, "Microsoft Teams Enterprise", maximum=1000),
    )
    line = only_line(plan_transfer(owned((O365_E3, 450)), catalog, REFERENCE))
    assert line.decision is Decision.EQUIVALENT
    quantities = {(t.provisioning_id, t.quantity) for t in line.targets}
    assert quantities == {(O365_E3_NO_TEAMS, 300), (O365_E3_NO_TEAMS, 150), (TEAMS_ENTERPRISE, 450)}


def test_a_term_the_offer_does_not_sell_falls_back_and_says_so():
    catalog = sold(offer(O365_E3, "Office 365 E3", terms=(("P1M", "Monthly"), ("P3Y", "Annual"))))
    options = TransferOptions.from_json({"termDuration": "P1Y", "billingCycle": "annual"})
    line = only_line(plan_transfer(owned((O365_E3, 5)), catalog, REFERENCE, options))
    [target] = line.targets
    assert (target.term_duration, target.billing_cycle) == ("P1M", "monthly")
    assert "P1M billed monthly is used instead" in line.explanation


def test_requested_term_and_billing_cycle_are_used_when_sold():
    catalog = sold(offer(O365_E3, "Office 365 E3"))
    options = TransferOptions.from_json({"termDuration": "P1M", "billingCycle": "Monthly"})
    [target] = only_line(plan_transfer(owned((O365_E3, 5)), catalog, REFERENCE, options)).targets
    assert (target.term_duration, target.billing_cycle) == ("P1M", "monthly")


@pytest.mark.parametrize(
    "options", [{"termDuration": "P2Y"}, {"billingCycle": "weekly"}, {"termDuration": 1}]
)
def test_invalid_options_are_refused(options):
    with pytest.raises(ValueError, match=r"termDuration|billingCycle"):
        TransferOptions.from_json(options)


def test_plan_json_is_serialisable_and_the_same_for_the_same_inputs():
    items = [
        offer(O365_E3_NO_TEAMS, "Office 365 E3 (no Teams)"),
        offer(TEAMS_ENTERPRISE, "Microsoft Teams Enterprise"),
        offer(EXCHANGE_PLAN_2, "Exchange Online (Plan 2)"),
        offer(O365_E1, "Office 365 E1"),
    ]
    inventory = owned((O365_E3, 25), (EXCHANGE_PLAN_1, 3), (O365_E1, 7))
    first = json.dumps(plan_transfer(inventory, sold(*items), REFERENCE).to_json(), sort_keys=True)
    again = json.dumps(plan_transfer(inventory, sold(*reversed(items)), REFERENCE).to_json(), sort_keys=True)
    assert first == again
    shape = json.loads(first)
    assert [line["decision"] for line in shape["lines"]] == ["identical", "equivalent", "equivalent"]
    # Office 365 E1 carries every plan of Exchange Online (Plan 1); Plan 2 alone would lose To Do.
    assert [t["provisioningId"] for t in shape["lines"][1]["targets"]] == [O365_E1]
    assert shape["lines"][1]["targets"][0]["catalogItemId"].count(":") == 2
    # A suite bought for a mailbox is no successor Microsoft documents: an admin approves it.
    assert [line["needsApproval"] for line in shape["lines"]] == [False, True, False]
    assert "not Microsoft's documented successor" in shape["lines"][1]["approval"]
    assert shape["lines"][0]["pricing"]["unitPrice"] is None


def test_against_every_suite_on_sale_office_365_e3_off_sale_still_gets_its_successor():
    reference = SkuReference.load(SUITES_CSV)
    items = tuple(
        offer(sku, entry.display_name) for sku, entry in sorted(reference.skus.items()) if sku != O365_E3
    )
    line = only_line(plan_transfer(owned((O365_E3, 25)), Catalog("US", items), reference))
    assert line.decision is Decision.EQUIVALENT
    assert [t.provisioning_id for t in line.targets] == [O365_E3_NO_TEAMS, TEAMS_ENTERPRISE]
    assert line.lost_plans == ()


def test_without_the_tenants_plan_list_the_reference_supplies_the_originals_plans():
    inventory = Inventory.from_graph([subscription(O365_E3, "ENTERPRISEPACK", 25)], [], PARTNER_TENANT)
    catalog = sold(
        offer(O365_E3_NO_TEAMS, "Office 365 E3 (no Teams)"), offer(TEAMS_ENTERPRISE, "Teams Enterprise")
    )
    line = only_line(plan_transfer(inventory, catalog, REFERENCE))
    assert (line.decision, line.basis, line.lost_plans) == (Decision.EQUIVALENT, "successor", ())


def test_an_original_whose_plans_nobody_knows_is_blocked():
    unknown = "0b0b0b0b-1111-4222-8333-444444444444"
    inventory = Inventory.from_graph([subscription(unknown, "CONTOSO_SPECIAL", 5)], [], PARTNER_TENANT)
    line = only_line(plan_transfer(inventory, sold(offer(O365_E3, "Office 365 E3")), REFERENCE))
    assert (line.decision, line.reason) == (Decision.BLOCKED, BlockReason.PLANS_UNKNOWN)
    assert line.source_name == "CONTOSO_SPECIAL"


def test_deferred_timing_says_when_each_purchase_will_happen():
    catalog = sold(offer(O365_E3, "Office 365 E3"))
    deferred = TransferOptions.from_json({"purchaseTiming": "beforeLapse", "purchaseLeadDays": 10})
    plan = plan_transfer(owned((O365_E3, 5)), catalog, REFERENCE, deferred)
    [line] = plan.to_json()["lines"]
    assert plan.to_json()["options"]["purchaseTiming"] == "beforeLapse"
    lapse = datetime.fromisoformat(line["nextLifecycleDateTime"])
    assert datetime.fromisoformat(line["purchaseDue"]) == lapse - timedelta(days=10)
    assert plan_transfer(owned((O365_E3, 5)), catalog, REFERENCE).to_json()["lines"][0]["purchaseDue"] is None
