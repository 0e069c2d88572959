"""Scenarios and the catalog, without a server: deterministic, and complete on the bundled subset."""

from __future__ import annotations

from sandbox.catalog import BUNDLED_CSV, SUITES_CSV, build_catalog, load_sku_reference
from sandbox.scenarios import SKUS, build


def test_bundled_subset_holds_every_sku_the_scenarios_use():
    reference = load_sku_reference(BUNDLED_CSV)

    assert set(SKUS.values()) <= set(reference)
    assert reference[SKUS["O365_E3"]].part_number == "ENTERPRISEPACK"
    assert {p.name for p in reference[SKUS["O365_E3"]].plans} - {
        p.name for p in reference[SKUS["O365_E3_NO_TEAMS"]].plans
    } == {"TEAMS1"}


def test_bundled_rows_match_the_larger_extract():
    bundled, full = load_sku_reference(BUNDLED_CSV), load_sku_reference(SUITES_CSV)

    for sku_id in SKUS.values():
        assert bundled[sku_id] == full[sku_id]


def test_scenarios_are_the_same_on_every_build():
    catalog = build_catalog(load_sku_reference(BUNDLED_CSV))

    first, _ = build("default", catalog)
    second, _ = build("default", catalog)

    assert first.keys == second.keys
    assert set(first.tenants) == set(second.tenants)


def test_every_catalog_item_is_named_and_retired_suites_are_not_purchasable():
    catalog = build_catalog(load_sku_reference(BUNDLED_CSV))
    world, _ = build("default", catalog)

    items = world.keys["catalog_items"]
    assert set(items) == {name for name, sku in SKUS.items() if catalog.offer_for_sku(sku)}
    assert not catalog.offers[items["O365_E3"]].purchasable
    assert not catalog.offers[items["M365_E3"]].purchasable
    assert catalog.offers[items["O365_E3_NO_TEAMS"]].purchasable


def test_large_scenario_size_follows_its_parameters():
    catalog = build_catalog(load_sku_reference(BUNDLED_CSV))

    world, _ = build("large", catalog, {"customers": 12, "users": 30})

    assert len(world.customers()) == 12 + 5
    assert len(world.tenants[world.keys["customers"]["bigcorp"]].users) == 30
