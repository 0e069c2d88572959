"""CSP regions: a partner may sell only to customers whose country is in its own region.

The invitation link is partner-scoped, so Partner Center cannot refuse a customer from the
wrong region up front; we must. Markets are Microsoft's "Cloud Solution Provider program regional
markets and currencies where you can sell CSP offers" (Partner Center docs, ms.date 2023-08-17),
written as ISO 3166-1 alpha-2 codes. Against the 2021 text: American Samoa, Guam and the Northern
Mariana Islands are in the United States region (no longer in New Zealand and Australia), and
Belarus is no longer listed. China is its own region, sold through Partner Center operated by
21Vianet; Russia is not listed (Microsoft stopped new sales there in 2022). What the region is
checked against, the tenant's own country, is :mod:`shared.workflow.rules.region`.
"""

from __future__ import annotations

_REGIONS: dict[str, str] = {
    "Africa": (
        "AO BJ BW BF BI CM CV CF TD KM CG CD CI DJ GQ ER ET PF GA GM GH GN GW KE LR MG MW ML MU YT NA NC "
        "NE NG RE RW ST SN SC SL SO SS SH TZ TG UG ZM"
    ),
    "Asia & Pacific": "BD BT BN KH HK ID LA MO MY MV MM NP PH SG LK TH TL VN",
    "Australia": "AU CX CC CK FJ TF HM KI MH FM NR NU NF PW PG PN SB TK TO TV WF",
    "Brazil": "BR",
    "Canada": "CA PM",
    "China": "CN",
    "Europe": (
        "AX AD AT BE BV BG HR CY CZ DK EE FO FI FR DE GI GR GL GG HU IS IE IM IT JE LV LI LT LU MT MC NL "
        "NO PL PT RO SM SK SI ES SJ SE CH GB VA"
    ),
    "India": "IN",
    "Japan": "JP",
    "Korea": "KR",
    "Latin America & Caribbean": (
        "AI AQ AG AR AW BS BB BZ BM BO BQ VG KY CL CO CR CW DM DO EC SV FK GF GD GP GT GY HT HN JM MQ MX "
        "MS NI PA PY PE PR BL KN LC MF VC SX GS SR TT TC UY VE VI"
    ),
    "Middle East, Central & Eastern Europe": (
        "AF AL DZ AM AZ BH BA IO EG GE IQ IL JO KZ XK KW KG LB LS LY MK MR MD MN ME MA MZ OM PK PS QA "
        "SA RS ZA SZ TJ TN TR TM UA AE UZ YE ZW"
    ),
    "New Zealand": "NZ WS VU",
    "Taiwan": "TW",
    "United States": "AS GU MP US UM",
}

REGION_OF_COUNTRY: dict[str, str] = {
    country: region for region, countries in _REGIONS.items() for country in countries.split()
}


class UnknownCountryError(ValueError):
    """The country code is not a CSP market."""


def region_of(country: str) -> str:
    """The CSP region selling to ``country`` (ISO alpha-2, any case)."""
    code = country.strip().upper()
    try:
        return REGION_OF_COUNTRY[code]
    except KeyError:
        raise UnknownCountryError(f"{country!r} is not an ISO 3166-1 alpha-2 code of a CSP market") from None


def same_region(partner_country: str, customer_country: str) -> bool:
    return region_of(partner_country) == region_of(customer_country)
