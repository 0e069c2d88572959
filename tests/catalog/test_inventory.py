from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.catalog.inventory import Inventory, SkipReason
from tests.catalog.builders import (
    COPILOT_STUDIO_VIRAL,
    FLOW_FREE,
    O365_E1,
    O365_E3,
    OTHER_PARTNER_TENANT,
    PARTNER_TENANT,
    POWER_BI_STANDARD,
    subscribed_sku,
    subscription,
    subset_reference,
)

REFERENCE = subset_reference()


def skipped_reasons(inventory: Inventory) -> dict[str, SkipReason]:
    return {skipped.sku_id: skipped.reason for skipped in inventory.skipped}


def test_licenses_split_between_another_channel_and_this_partner_count_only_the_other_channel():
    inventory = Inventory.from_graph(
        [
            subscription(O365_E3, "ENTERPRISEPACK", 10),
            subscription(O365_E3, "ENTERPRISEPACK", 5, owner=OTHER_PARTNER_TENANT),
            subscription(O365_E3, "ENTERPRISEPACK", 7, owner=PARTNER_TENANT),
        ],
        [subscribed_sku(REFERENCE, O365_E3)],
        PARTNER_TENANT.upper(),
    )
    [line] = inventory.lines
    assert line.quantity == 15
    assert line.seats_with_partner == 7
    assert len(line.subscription_ids) == 2


def test_the_earliest_next_lifecycle_is_the_deadline():
    inventory = Inventory.from_graph(
        [
            subscription(O365_E3, "ENTERPRISEPACK", 10, next_lifecycle="2027-03-01T00:00:00Z"),
            subscription(O365_E3, "ENTERPRISEPACK", 3, next_lifecycle="2026-11-15T08:00:00Z"),
        ],
        [subscribed_sku(REFERENCE, O365_E3)],
        PARTNER_TENANT,
    )
    assert inventory.lines[0].next_lifecycle == datetime(2026, 11, 15, 8, tzinfo=UTC)


def test_deleted_and_locked_out_subscriptions_are_not_counted():
    inventory = Inventory.from_graph(
        [
            subscription(O365_E3, "ENTERPRISEPACK", 10),
            subscription(O365_E3, "ENTERPRISEPACK", 4, status="Deleted"),
            subscription(O365_E3, "ENTERPRISEPACK", 6, status="LockedOut"),
            subscription(O365_E3, "ENTERPRISEPACK", 2, status="Warning"),
        ],
        [subscribed_sku(REFERENCE, O365_E3)],
        PARTNER_TENANT,
    )
    assert inventory.lines[0].quantity == 12


def test_service_plans_come_from_the_tenant():
    extra = ("0feaeb32-d00e-4d66-bd5a-43b5b83db82c", "MCOSTANDARD_PREVIEW")
    inventory = Inventory.from_graph(
        [subscription(O365_E3, "ENTERPRISEPACK", 10)],
        [subscribed_sku(REFERENCE, O365_E3, extra_plans=(extra,))],
        PARTNER_TENANT,
    )
    assert extra in {(p.service_plan_id, p.service_plan_name) for p in inventory.lines[0].service_plans}


@pytest.mark.parametrize(
    ("sku_id", "part_number", "reason"),
    [
        (FLOW_FREE, "FLOW_FREE", SkipReason.FREE),
        (POWER_BI_STANDARD, "POWER_BI_STANDARD", SkipReason.FREE),
        (COPILOT_STUDIO_VIRAL, "CCIBOTS_PRIVPREV_VIRAL", SkipReason.FREE),
    ],
)
def test_free_skus_are_skipped_with_the_reason(sku_id, part_number, reason):
    inventory = Inventory.from_graph(
        [subscription(sku_id, part_number, 10000)], [subscribed_sku(REFERENCE, sku_id)], PARTNER_TENANT
    )
    assert inventory.lines == ()
    assert skipped_reasons(inventory) == {sku_id: reason}
    assert "free" in inventory.skipped[0].detail


def test_a_trial_is_skipped_and_trial_seats_beside_paid_ones_are_left_out():
    inventory = Inventory.from_graph(
        [
            subscription(O365_E1, "STANDARDPACK", 25, trial=True),
            subscription(O365_E3, "ENTERPRISEPACK", 10),
            subscription(O365_E3, "ENTERPRISEPACK", 25, trial=True),
        ],
        [subscribed_sku(REFERENCE, O365_E1), subscribed_sku(REFERENCE, O365_E3)],
        PARTNER_TENANT,
    )
    assert skipped_reasons(inventory) == {O365_E1: SkipReason.TRIAL}
    [line] = inventory.lines
    assert (line.sku_id, line.quantity, line.trial_seats_ignored) == (O365_E3, 10, 25)


def test_tenant_level_sku_is_skipped():
    inventory = Inventory.from_graph(
        [subscription(O365_E3, "ENTERPRISEPACK", 1)],
        [subscribed_sku(REFERENCE, O365_E3, applies_to="Company")],
        PARTNER_TENANT,
    )
    assert skipped_reasons(inventory) == {O365_E3: SkipReason.TENANT_LEVEL}


def test_sku_held_only_through_this_partner_is_skipped():
    inventory = Inventory.from_graph(
        [subscription(O365_E3, "ENTERPRISEPACK", 8, owner=PARTNER_TENANT)],
        [subscribed_sku(REFERENCE, O365_E3)],
        PARTNER_TENANT,
    )
    assert skipped_reasons(inventory) == {O365_E3: SkipReason.ALREADY_WITH_PARTNER}


def test_sku_with_only_suspended_subscriptions_is_skipped():
    inventory = Inventory.from_graph(
        [subscription(O365_E3, "ENTERPRISEPACK", 8, status="Suspended")],
        [subscribed_sku(REFERENCE, O365_E3)],
        PARTNER_TENANT,
    )
    assert skipped_reasons(inventory) == {O365_E3: SkipReason.SUSPENDED}
