"""The SKU reference (Microsoft's licensing CSV) and the new-commerce catalog the sandbox sells.

The CSV gives each Entra SKU its part number, name and service plans. The catalog on top of it is
curated: which SKUs are on sale as new-commerce products, in which countries, and which are no
longer purchasable (the with-Teams suites since the 2024 unbundling) and what replaces them.
Product ids ``CFQ7TTC0LH18`` (Business Basic, availability ``CFQ7TTC0K971``) and ``CFQ7TTC0LCHC``
(Business Premium) are the real ones from the docs; the others are made up in the same format.

Besides an offer's per-subscription maximum, Partner Center enforces limits per customer ("Partner
Center REST error codes": 800089 "The requested number of {0} asset/s exceeded the remaining limit of
{1} assets allowed per customer"; a SKU with such a limit says ``dynamicAttributes.hasConstraints``,
"Products resources"). The Microsoft 365 Business plans stop at 300 users ("Microsoft 365 Business
Premium frequently asked questions"): ``customer_cap``.

Besides each SKU's commercial new-commerce availability (its *primary* offer), the catalog lists what
a real one lists beside it, sorting before it: the same SKU's education and government availabilities
(and, for the Business suites, a nonprofit one, listed only when asked for with ``targetSegment``),
and for a few SKUs a traditional license-based product (``OnlineServices``, not new commerce) that
``targetView=OnlineServices`` also returns. Availability ids change at every month boundary of the
sandbox clock (Microsoft: an availability id "can change over time"; rely on it "only within a short
time span after retrieving it"); an id of an earlier month is still recognised, as stale.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

SKU_CSV_ENV = "SANDBOX_SKU_CSV"
BUNDLED_CSV = Path(__file__).parent / "data" / "skus.csv"
"""The rows of the SKUs the scenarios use: the default, quick to load on every start."""
SUITES_CSV = Path(__file__).parent / "data" / "licensing_suites.csv"
"""A larger extract (the 100 Office 365, Microsoft 365, Exchange Online, EMS and Teams SKUs, all their
rows), for the tests that plan against many offers and the planning benchmark."""

EEA = frozenset({"AT", "BE", "DE", "DK", "ES", "FI", "FR", "IE", "IT", "NL", "NO", "PL", "PT", "SE"})
#: The United States CSP region ("Cloud Solution Provider program regional markets and currencies").
US_REGION = frozenset({"US", "UM", "AS", "GU", "MP"})
WORLDWIDE = frozenset({*US_REGION, "CA", "GB", "AU", "JP", "CH", *EEA})
CSP_REGIONS: dict[str, frozenset[str]] = {
    "United States": US_REGION,
    "Canada": frozenset({"CA", "PM"}),
    "Europe": frozenset({"GB", "CH", *EEA}),
    "Australia": frozenset({"AU"}),
    "Japan": frozenset({"JP"}),
}


def region_of(country: str) -> frozenset[str]:
    """The CSP region (set of markets) a country belongs to; a lone market if not listed."""
    for markets in CSP_REGIONS.values():
        if country in markets:
            return markets
    return frozenset({country})


@dataclass(frozen=True, slots=True)
class ServicePlan:
    id: str
    name: str
    friendly_name: str = ""


@dataclass(frozen=True, slots=True)
class SkuReference:
    """One Entra SKU: ``sku_id`` is Graph's ``skuId``, ``part_number`` its ``skuPartNumber``."""

    sku_id: str
    part_number: str
    display_name: str
    plans: tuple[ServicePlan, ...]


def reference_csv_path(explicit: str | None = None) -> Path:
    """The licensing CSV: explicit, else ``SANDBOX_SKU_CSV``, else the bundled subset."""
    for candidate in (explicit, os.environ.get(SKU_CSV_ENV)):
        if candidate:
            return Path(candidate)
    return BUNDLED_CSV


def load_sku_reference(path: Path) -> dict[str, SkuReference]:
    """Read the long-format CSV (one row per SKU and plan), tolerating the old ``String_ Id`` header."""
    names: dict[str, tuple[str, str]] = {}
    plans: dict[str, dict[str, ServicePlan]] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            norm = {k.replace(" ", "").lower(): (v or "").strip() for k, v in row.items() if k}
            sku_id = norm.get("guid", "").lower()
            if not sku_id:
                continue
            names.setdefault(sku_id, (norm.get("string_id", ""), norm.get("product_display_name", "")))
            plan_id = norm.get("service_plan_id", "").lower()
            if plan_id:
                plans.setdefault(sku_id, {})[plan_id] = ServicePlan(
                    plan_id,
                    norm.get("service_plan_name", ""),
                    norm.get("service_plans_included_friendly_names", ""),
                )
    return {
        sku_id: SkuReference(sku_id, part, display, tuple(plans.get(sku_id, {}).values()))
        for sku_id, (part, display) in names.items()
    }


@dataclass(frozen=True, slots=True)
class Term:
    id: str
    duration: str
    billing_cycle: str
    description: str


MONTHLY = Term("sandboxp1mm", "P1M", "Monthly", "One-Month commitment for monthly billing")
ANNUAL_MONTHLY = Term("sandboxp1ym", "P1Y", "Monthly", "One-Year commitment for monthly billing")
ANNUAL = Term("5aeco6mffyxo", "P1Y", "Annual", "One-Year commitment for monthly/yearly billing")
TERMS = (MONTHLY, ANNUAL_MONTHLY, ANNUAL)


@dataclass(frozen=True, slots=True)
class Offer:
    """A new-commerce SKU with its single availability: the unit a cart line buys."""

    product_id: str
    sku_id: str
    availability_id: str
    provisioning_id: str
    title: str
    countries: frozenset[str]
    purchasable: bool = True
    upgrade_targets: tuple[str, ...] = ()
    minimum_quantity: int = 1
    maximum_quantity: int = 300
    terms: tuple[Term, ...] = TERMS
    product_type: str = "OnlineServicesNCE"
    customer_cap: int | None = None
    """Seats one customer may hold of it from this partner, all subscriptions together (800089)."""
    segment: str = "commercial"
    variant: str = ""
    """Empty for the SKU's primary offer (commercial new commerce); else ``education``,
    ``government``, ``nonprofit`` or ``traditional``."""
    base_availability_id: str = ""
    """The availability id of the month the world was reset in; later months derive theirs from it."""
    attestation: str | None = None
    """The SKU's ``attestationProperties.attestationType`` when it enforces attestation."""
    eligible: bool = True
    """False: listed as purchasable, yet refused for the customer (a cart line ``error``)."""

    @property
    def catalog_item_id(self) -> str:
        return f"{self.product_id}:{self.sku_id}:{self.availability_id}"

    def in_period(self, period: int) -> Offer:
        """The offer as listed ``period`` months after the reset: the same, under another availability
        id. The segment letter (index 8) is kept, so education and government still sort first."""
        base = self.base_availability_id or self.availability_id
        availability = base if period == 0 else f"{base[:9]}{period % 1000:03d}"
        return dataclasses.replace(self, availability_id=availability, base_availability_id=base)


@dataclass(frozen=True, slots=True)
class _OfferSeed:
    product_id: str
    availability_id: str
    provisioning_id: str
    countries: frozenset[str] = WORLDWIDE
    purchasable: bool = True
    upgrade_targets: tuple[str, ...] = ()
    maximum_quantity: int = 300
    customer_cap: int | None = None
    nonprofit: bool = False
    traditional: bool = False  # also sold as a traditional license-based product, which sorts first
    attestation: str | None = None


BUSINESS_CAP = 300  # the Microsoft 365 Business plans: at most 300 users per customer
TEAMS_ENTERPRISE = "7e31c0d9-9551-471d-836f-32ee72be4a01"
NO_TEAMS = "NoTeamsOfferTerms"  # attestationType (invented: the docs name the field, not its values)
#: The availability id's segment letter (index 8): below the commercial ones' ``K`` and ``S``.
SEGMENT_LETTERS = {"education": "E", "government": "G", "nonprofit": "N", "traditional": "T"}

_SEEDS: tuple[_OfferSeed, ...] = (
    # The with-Teams suites are no longer sold in new commerce, but still as traditional offers.
    _OfferSeed("CFQ7TTC0SB01", "CFQ7TTC0SA01", "18181a46-0d4e-45cd-891e-60aabd171b4e", purchasable=False,
               upgrade_targets=("CFQ7TTC0SB04:0001", "CFQ7TTC0SB06:0001"), traditional=True),
    _OfferSeed("CFQ7TTC0SB02", "CFQ7TTC0SA02", "6fd2c87f-b296-42f0-b197-1e91e994b900", purchasable=False,
               upgrade_targets=("CFQ7TTC0SB05:0001", "CFQ7TTC0SB06:0001"), traditional=True),
    _OfferSeed("CFQ7TTC0SB03", "CFQ7TTC0SA03", "c7df2760-2c81-4ef7-b578-5b5392b571df"),
    # The no-Teams suites enforce attestation: a cart line buys them only with attestationAccepted.
    _OfferSeed("CFQ7TTC0SB04", "CFQ7TTC0SA04", "f8ced641-8e17-4dc5-b014-f5a2d53f6ac8", attestation=NO_TEAMS),
    _OfferSeed("CFQ7TTC0SB05", "CFQ7TTC0SA05", "46c3a859-c90d-40b3-9551-6178a48d5c18", attestation=NO_TEAMS),
    _OfferSeed("CFQ7TTC0SB06", "CFQ7TTC0SA06", TEAMS_ENTERPRISE),
    _OfferSeed("CFQ7TTC0SB07", "CFQ7TTC0SA07", "05e9a617-0261-4cee-bb44-138d3ef5d965", purchasable=False,
               upgrade_targets=("CFQ7TTC0SB09:0001", "CFQ7TTC0SB06:0001")),
    _OfferSeed("CFQ7TTC0SB08", "CFQ7TTC0SA08", "06ebc4ee-1bb5-47dd-8120-11324bc54e06", purchasable=False,
               upgrade_targets=("CFQ7TTC0SB10:0001", "CFQ7TTC0SB06:0001")),
    _OfferSeed("CFQ7TTC0SB09", "CFQ7TTC0SA09", "dcf0408c-aaec-446c-afd4-43e3683943ea", attestation=NO_TEAMS),
    _OfferSeed("CFQ7TTC0SB10", "CFQ7TTC0SA10", "18a4bd3f-0b5b-4887-b04f-61dd0ee15f5e", attestation=NO_TEAMS),
    _OfferSeed("CFQ7TTC0LH18", "CFQ7TTC0K971", "3b555118-da6a-4418-894f-7df1e2096870",
               upgrade_targets=("CFQ7TTC0SB11:0001", "CFQ7TTC0LCHC:0002"), customer_cap=BUSINESS_CAP,
               nonprofit=True),
    _OfferSeed("CFQ7TTC0SB11", "CFQ7TTC0SA11", "f245ecc8-75af-4f8e-b61f-27d8114de5f3",
               upgrade_targets=("CFQ7TTC0LCHC:0002",), customer_cap=BUSINESS_CAP, nonprofit=True),
    _OfferSeed("CFQ7TTC0LCHC", "CFQ7TTC0SA12", "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46",
               customer_cap=BUSINESS_CAP, nonprofit=True, traditional=True),
    _OfferSeed("CFQ7TTC0SB13", "CFQ7TTC0SA13", "4b9405b0-7788-4568-add1-99614e613b69",
               maximum_quantity=5000, upgrade_targets=("CFQ7TTC0SB14:0001",), traditional=True),
    # Exchange Online (Plan 2) is not sold in Japan in the sandbox: the "not in this country" case.
    _OfferSeed("CFQ7TTC0SB14", "CFQ7TTC0SA14", "19ec0d23-8335-4cbd-94ac-6050e30712fa",
               countries=WORLDWIDE - {"JP"}, maximum_quantity=5000),
    _OfferSeed("CFQ7TTC0SB15", "CFQ7TTC0SA15", "efccb6f7-5641-4e0e-bd10-b4976e1bf68e", maximum_quantity=5000),
    # EEA-only offers: not available to a US customer (800070 when bought for one).
    _OfferSeed("CFQ7TTC0SB16", "CFQ7TTC0SA16", "7e74bd05-2c47-404e-829a-ba95c66fe8e5", countries=EEA),
    _OfferSeed("CFQ7TTC0SB17", "CFQ7TTC0SA17", "b1f3042b-a390-4b56-ab61-b88e7e767a97", countries=EEA,
               customer_cap=BUSINESS_CAP),
)  # fmt: skip


@dataclass(slots=True)
class Catalog:
    """The SKU reference plus the offers on sale, indexed the ways the APIs look them up."""

    skus: dict[str, SkuReference]
    offers: dict[str, Offer] = field(default_factory=dict)
    """By catalog item id."""
    retired: dict[str, Offer] = field(default_factory=dict)
    """Catalog item ids of earlier months -> the offer as listed now."""
    epoch: int | None = None
    """The month (``year * 12 + month``) the world was reset in; set by the first :meth:`rotate`."""
    period: int = 0

    def for_new_world(self) -> Catalog:
        """A copy whose offers a world may change (withdraw, rotate) without touching this one."""
        return dataclasses.replace(self, offers=dict(self.offers), retired={}, epoch=None, period=0)

    def rotate(self, now: dt.datetime) -> bool:
        """List every offer under the availability id of ``now``'s month; True when they changed.

        A purchased subscription keeps the offer (and id) it was bought with; an id of an earlier
        month still finds its offer (:meth:`find`), but :meth:`stale` tells Partner Center to refuse it.
        """
        month = now.year * 12 + now.month
        if self.epoch is None:
            self.epoch = month
        period = month - self.epoch
        if period == self.period:
            return False
        current = {_key(offer): offer.in_period(period) for offer in self.offers.values()}
        earlier = {**self.retired, **self.offers}
        self.retired = {old: current[_key(offer)] for old, offer in earlier.items() if _key(offer) in current}
        self.offers = {offer.catalog_item_id: offer for offer in current.values()}
        self.period = period
        return True

    def stale(self, catalog_item_id: str) -> bool:
        """Whether the id named this offer in an earlier month (Partner Center refuses it now)."""
        return catalog_item_id not in self.offers and catalog_item_id in self.retired

    def offer_by_ids(self, product_id: str, sku_id: str | None = None) -> list[Offer]:
        return [
            o
            for o in self.offers.values()
            if o.product_id == product_id and (sku_id is None or o.sku_id == sku_id)
        ]

    def offer_for_sku(self, sku_id: str) -> Offer | None:
        """The SKU's primary offer: its commercial new-commerce availability."""
        for offer in self.offers.values():
            if offer.provisioning_id == sku_id and not offer.variant:
                return offer
        return None

    def find(self, catalog_item_id: str) -> Offer | None:
        """Accept ``product:sku:availability`` (also one of an earlier month, see :meth:`stale`) and,
        as Partner Center does, ``product:sku``."""
        offer = self.offers.get(catalog_item_id) or self.retired.get(catalog_item_id)
        if offer is None and catalog_item_id.count(":") == 1:
            product_id, sku_id = catalog_item_id.split(":")
            matches = self.offer_by_ids(product_id, sku_id)
            offer = matches[0] if matches else None
        return offer

    def reference(self, sku_id: str) -> SkuReference:
        return self.skus.get(sku_id) or SkuReference(sku_id, sku_id, sku_id, ())


def _key(offer: Offer) -> tuple[str, str, str]:
    """What names an offer whatever the month: product, SKU and first availability id."""
    return offer.product_id, offer.sku_id, offer.base_availability_id or offer.availability_id


def build_catalog(skus: dict[str, SkuReference], seeds: Iterable[_OfferSeed] = _SEEDS) -> Catalog:
    catalog = Catalog(skus=skus)
    for seed in seeds:
        reference = skus.get(seed.provisioning_id)
        if reference is None:
            continue
        offer = Offer(
            product_id=seed.product_id,
            sku_id="0002" if seed.product_id == "CFQ7TTC0LCHC" else "0001",
            availability_id=seed.availability_id,
            provisioning_id=seed.provisioning_id,
            title=reference.display_name,
            countries=seed.countries,
            purchasable=seed.purchasable,
            upgrade_targets=seed.upgrade_targets,
            maximum_quantity=seed.maximum_quantity,
            customer_cap=seed.customer_cap,
            base_availability_id=seed.availability_id,
            attestation=seed.attestation,
        )
        for listed in (offer, *_variants(offer, seed)):
            catalog.offers[listed.catalog_item_id] = listed
    return catalog


def _variants(offer: Offer, seed: _OfferSeed) -> list[Offer]:
    """What the catalog lists beside a SKU's primary offer: its other segments' availabilities and
    its traditional product, each with an id that sorts before the primary's."""
    segments = ["education", "government", *(["nonprofit"] if seed.nonprofit else [])]
    variants = [_variant(offer, segment, segment=segment) for segment in segments]
    if seed.traditional:
        traditional = _variant(offer, "traditional", product_type="OnlineServices", purchasable=True)
        # A product id starting with a digit: traditional products sort before CFQ7... ones.
        variants.append(dataclasses.replace(traditional, product_id="0" + offer.product_id[1:]))
    return variants


def _variant(offer: Offer, variant: str, **changes: object) -> Offer:
    base = offer.availability_id
    availability = f"{base[:8]}{SEGMENT_LETTERS[variant]}{base[9:]}"
    return dataclasses.replace(
        offer,
        variant=variant,
        availability_id=availability,
        base_availability_id=availability,
        upgrade_targets=(),
        **changes,  # type: ignore[arg-type]
    )


def load_catalog(csv_path: str | None = None) -> Catalog:
    return build_catalog(load_sku_reference(reference_csv_path(csv_path)))
