"""A country's CSP region: a partner takes over customers in its own region only."""

from shared.domain.regions import region_of


def test_a_country_gives_its_csp_region_whatever_its_case() -> None:
    assert region_of("de") == "Europe"
    assert region_of("NZ") == "New Zealand"
