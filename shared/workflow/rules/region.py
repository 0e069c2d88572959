"""The CSP region rule, checked on the customer's tenant: which country it is based on, and what the
record says about it.

Microsoft: the customer's location "depends on the country/region set in the tenant" (Learn, "Cloud
Solution Provider program regional markets and currencies"). So once delegated access works, the
tenant's own country decides (Graph ``organization.countryLetterCode``). Graph answers it null to a
caller holding only ``User.Read``; then the company profile's address decides, which Partner Center
shows only under the GDAP roles Global Administrator, Directory Writers or Global Reader; and last
the country the admin typed at start. The check is never skipped in silence: its message names
what it was based on and what each source said.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.domain.regions import UnknownCountryError, region_of


class RegionBasis(StrEnum):
    TENANT = "the tenant's country (Graph organization)"
    PROFILE = "the company profile's address (Partner Center)"
    TYPED = "the country typed at start"


@dataclass(frozen=True, slots=True)
class RegionCheck:
    """The outcome: the customer's ``country`` and what it was read from, and whether the partner's
    CSP region sells there; ``message`` is the history's (or the halt's) text."""

    country: str
    basis: RegionBasis
    allowed: bool
    message: str


def check_region(partner_country: str, typed: str, tenant: str | None, profile: str | None) -> RegionCheck:
    """Decide on the best source there is: the tenant's country, else the profile's, else the typed one."""
    country, basis = (
        (tenant, RegionBasis.TENANT)
        if tenant
        else (profile, RegionBasis.PROFILE)
        if profile
        else (typed.upper(), RegionBasis.TYPED)
    )
    try:
        region = region_of(country)
    except UnknownCountryError:
        region = "none: not a CSP market"
    partner_region = region_of(partner_country)
    sources = (
        f"tenant {tenant or 'not given by Graph'}, "
        f"company profile {profile or ('not read' if tenant else 'address withheld')}, "
        f"typed {typed.upper()}"
    )
    if region != partner_region:
        message = (
            f"the customer's country is {country} (CSP region {region}), outside the partner's CSP region "
            f"{partner_region} ({partner_country}): Microsoft would refuse the order; checked on {basis} "
            f"({sources})"
        )
        return RegionCheck(country, basis, False, message)
    moved = f"; {country} is used from now on instead of {typed.upper()}" if country != typed.upper() else ""
    message = f"CSP region {region} checked on {basis}: {country} ({sources}){moved}"
    return RegionCheck(country, basis, True, message)
