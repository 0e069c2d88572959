from __future__ import annotations

import pytest

from shared.catalog.tiers import TierOrder, service_of
from tests.catalog.builders import subset_reference

REFERENCE = subset_reference()
TIERS = TierOrder(plan.name for sku in REFERENCE.skus.values() for plan in sku.plans)


@pytest.mark.parametrize(
    ("higher", "lower"),
    [
        ("EXCHANGE_S_ENTERPRISE", "EXCHANGE_S_DESKLESS"),  # Plan 2 covers Kiosk through Plan 1
        ("EXCHANGE_S_ENTERPRISE", "EXCHANGE_S_ESSENTIALS"),
        ("SHAREPOINTENTERPRISE", "SHAREPOINTSTANDARD"),
        ("FORMS_PLAN_E5", "FORMS_PLAN_E1"),
        ("CDS_O365_P3", "CDS_O365_P1"),  # the one-digit suffix rule
        ("CDS_O365_P3", "CDS_O365_F1"),  # firstline below Plan 1
        ("WHITEBOARD_PLAN2", "WHITEBOARD_PLAN1"),
        ("BPOS_S_TODO_2", "BPOS_S_TODO_1"),
        ("OFFICESUBSCRIPTION", "OFFICEMOBILE_SUBSCRIPTION"),
    ],
)
def test_a_higher_tier_covers_a_lower_one_and_not_the_reverse(higher, lower):
    assert higher in TIERS.covering(lower)
    assert lower not in TIERS.covering(higher)


def test_a_plan_missing_from_the_reference_still_finds_its_higher_tiers():
    assert "KAIZALA_O365_P1" not in {plan.name for sku in REFERENCE.skus.values() for plan in sku.plans}
    assert "KAIZALA_O365_P3" in TIERS.covering("KAIZALA_O365_P1")
    assert "KAIZALA_O365_P2" in TIERS.covering("KAIZALA_O365_P1")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("MCOPSTN1", "MCOPSTN2"),  # calling plans are not tiers of each other
        ("FORMS_PLAN_E3", "STREAM_O365_E3"),  # same suffix, different services
        ("CDS_O365_P2", "DYN365_CDS_O365_P2"),
        ("EXCHANGE_S_ENTERPRISE", "SHAREPOINTENTERPRISE"),
    ],
)
def test_plans_of_different_services_never_cover_each_other(one, other):
    assert one not in TIERS.covering(other)
    assert other not in TIERS.covering(one)


@pytest.mark.parametrize(
    ("plan", "data_bearing"),
    [
        ("EXCHANGE_S_STANDARD", True),
        ("SHAREPOINTENTERPRISE", True),
        ("TEAMS1", True),
        ("MICROSOFT_LOOP", True),
        ("BPOS_S_TODO_2", True),
        ("POWERAPPS_O365_P2", True),
        ("SHAREPOINTWAC", False),  # Office for the web edits files held elsewhere
        ("EXCHANGE_S_FOUNDATION", False),
        ("Bing_Chat_Enterprise", False),
        ("MESH_AVATARS_FOR_TEAMS", False),
    ],
)
def test_data_bearing_services_are_told_from_features(plan, data_bearing):
    assert service_of(plan).data_bearing is data_bearing
