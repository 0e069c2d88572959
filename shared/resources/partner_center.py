"""Partner Center new-commerce catalog resources: product, SKU, availability and term."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import MalformedResourceError, field, optional


def _strings(data: Mapping[str, Any], name: str, *, resource: str) -> tuple[str, ...]:
    values = optional(data, name, list, [], resource=resource)
    if not all(isinstance(v, str) for v in values):
        raise MalformedResourceError(f"{resource}: field {name!r} should hold strings")
    return tuple(values)


@dataclass(frozen=True, slots=True)
class Product:
    """A catalog product, e.g. ``CFQ7TTC0LH18`` Microsoft 365 Business Basic."""

    id: str
    title: str
    product_type: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Product:
        r = "Product"
        kind = optional(data, "productType", dict, {}, resource=r)
        return cls(
            id=field(data, "id", str, resource=r),
            title=optional(data, "title", str, "", resource=r),
            product_type=optional(kind, "id", str, "", resource=r),
        )


@dataclass(frozen=True, slots=True)
class Sku:
    """A purchasable variant of a product; ``provisioning_id`` is the Entra ``skuId`` it grants."""

    id: str
    product_id: str
    title: str
    provisioning_id: str | None
    minimum_quantity: int = 1
    maximum_quantity: int = 1_000_000
    is_trial: bool = False
    is_addon: bool = False
    supported_billing_cycles: tuple[str, ...] = ()
    prerequisite_skus: tuple[str, ...] = ()
    upgrade_target_offers: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Sku:
        r = "Sku"
        dynamic = optional(data, "dynamicAttributes", dict, {}, resource=r)
        provisioning = optional(dynamic, "provisioningId", str, None, resource=r)
        return cls(
            id=field(data, "id", str, resource=r),
            product_id=field(data, "productId", str, resource=r),
            title=optional(data, "title", str, "", resource=r),
            provisioning_id=provisioning.lower() if provisioning else None,
            minimum_quantity=optional(data, "minimumQuantity", int, 1, resource=r),
            maximum_quantity=optional(data, "maximumQuantity", int, 1_000_000, resource=r),
            is_trial=optional(data, "isTrial", bool, False, resource=r),
            is_addon=optional(dynamic, "isAddon", bool, False, resource=r),
            supported_billing_cycles=_strings(data, "supportedBillingCycles", resource=r),
            prerequisite_skus=_strings(dynamic, "prerequisiteSkus", resource=r),
            upgrade_target_offers=_strings(dynamic, "upgradeTargetOffers", resource=r),
        )


@dataclass(frozen=True, slots=True)
class Term:
    """A commitment term of an availability: duration ``P1M``/``P1Y``/``P3Y`` and billing cycle."""

    id: str
    duration: str
    billing_cycle: str
    description: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Term:
        r = "Term"
        return cls(
            id=optional(data, "id", str, "", resource=r),
            duration=field(data, "duration", str, resource=r),
            billing_cycle=field(data, "billingCycle", str, resource=r).lower(),
            description=optional(data, "description", str, "", resource=r),
        )


@dataclass(frozen=True, slots=True)
class Availability:
    """Where and how a SKU can be bought; ``catalog_item_id`` is what a cart line orders."""

    id: str
    product_id: str
    sku_id: str
    catalog_item_id: str
    country: str
    is_purchasable: bool
    terms: tuple[Term, ...] = ()
    segment: str = "commercial"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Availability:
        r = "Availability"
        terms = optional(data, "terms", list, [], resource=r)
        return cls(
            id=field(data, "id", str, resource=r),
            product_id=field(data, "productId", str, resource=r),
            sku_id=field(data, "skuId", str, resource=r),
            catalog_item_id=field(data, "catalogItemId", str, resource=r),
            country=optional(data, "country", str, "", resource=r).upper(),
            is_purchasable=optional(data, "isPurchasable", bool, False, resource=r),
            terms=tuple(Term.from_json(t) for t in terms if isinstance(t, dict)),
            segment=optional(data, "segment", str, "commercial", resource=r).lower(),
        )
