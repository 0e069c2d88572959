"""The CSP region rule on the tenant's own country, and what the record says it was based on (pure)."""

from __future__ import annotations

from shared.workflow.rules.region import RegionBasis, check_region


def test_the_tenants_country_decides_over_the_profile_and_the_typed_one() -> None:
    check = check_region("US", "US", tenant="CA", profile="US")

    assert (check.country, check.basis, check.allowed) == ("CA", RegionBasis.TENANT, False)
    assert "CA" in check.message
    assert "United States (US)" in check.message
    assert "tenant CA, company profile US, typed US" in check.message


def test_without_a_tenant_country_the_company_profile_decides() -> None:
    check = check_region("US", "US", tenant=None, profile="DE")

    assert (check.basis, check.allowed) == (RegionBasis.PROFILE, False)
    assert "tenant not given by Graph" in check.message


def test_without_either_the_typed_country_decides_and_the_record_says_so() -> None:
    check = check_region("US", "us", tenant=None, profile=None)

    assert (check.country, check.basis, check.allowed) == ("US", RegionBasis.TYPED, True)
    assert "checked on the country typed at start" in check.message
    assert "company profile address withheld" in check.message


def test_a_tenant_in_another_country_of_the_same_region_is_used_from_then_on() -> None:
    check = check_region("US", "US", tenant="GU", profile=None)

    assert (check.country, check.allowed) == ("GU", True)
    assert "GU is used from now on instead of US" in check.message


def test_a_tenant_country_that_is_no_csp_market_is_refused_not_crashed_on() -> None:
    check = check_region("US", "US", tenant="RU", profile=None)

    assert not check.allowed
    assert "not a CSP market" in check.message
