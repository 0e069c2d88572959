"""The CSP region table against Microsoft's current list ("Cloud Solution Provider program regional
markets and currencies", ms.date 2023-08-17): one test per change from the 2021 text."""

from __future__ import annotations

import pytest

from shared.domain.regions import REGION_OF_COUNTRY, UnknownCountryError, region_of, same_region


@pytest.mark.parametrize("territory", ["GU", "MP"])
def test_guam_and_the_northern_mariana_islands_moved_from_australia_to_the_united_states(
    territory: str,
) -> None:
    assert region_of(territory) == "United States"
    assert same_region("US", territory)
    assert not same_region("AU", territory)


def test_american_samoa_moved_from_new_zealand_to_the_united_states() -> None:
    assert region_of("AS") == "United States"
    assert not same_region("NZ", "AS")


def test_belarus_is_no_longer_a_csp_market() -> None:
    with pytest.raises(UnknownCountryError):
        region_of("BY")


def test_china_is_a_region_of_its_own() -> None:
    assert region_of("cn") == "China"
    assert not same_region("US", "CN")


def test_russia_is_still_not_listed() -> None:
    assert "RU" not in REGION_OF_COUNTRY


def test_the_united_states_region_is_exactly_microsofts_list() -> None:
    united_states = {country for country, region in REGION_OF_COUNTRY.items() if region == "United States"}
    assert united_states == {"US", "UM", "AS", "GU", "MP"}


def test_new_zealand_keeps_samoa_and_vanuatu() -> None:
    assert {c for c, r in REGION_OF_COUNTRY.items() if r == "New Zealand"} == {"NZ", "WS", "VU"}
