"""The new-commerce catalog a customer can buy from, indexed by the Entra SKU it provisions.

A catalog item is one (product, SKU, availability) triple; its SKU's ``provisioningId`` is the Entra
``skuId`` the purchase grants, which is how an original subscription finds its offer. The catalog is
handed in whole: fetching and caching it is the workflow's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.resources.partner_center import Availability, Product, Sku, Term


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """Something a cart line can order: ``catalog_item_id`` = ``{productId}:{skuId}:{availabilityId}``."""

    product: Product
    sku: Sku
    availability: Availability

    @property
    def catalog_item_id(self) -> str:
        return self.availability.catalog_item_id

    @property
    def provisioning_id(self) -> str | None:
        return self.sku.provisioning_id

    @property
    def title(self) -> str:
        return self.sku.title or self.product.title

    @property
    def terms(self) -> tuple[Term, ...]:
        return self.availability.terms


NEW_COMMERCE = "OnlineServicesNCE"


@dataclass(frozen=True, eq=False)
class Catalog:
    """The purchasable license-based offers of one country, for one customer segment.

    Only items that can be bought there are kept: the availability is purchasable, is for this
    country, the SKU is not a trial and names the Entra SKU it provisions (Azure and software items
    have no ``provisioningId`` and cannot replace a licence). Of those, only new-commerce items
    (``OnlineServicesNCE``; ``targetView=OnlineServices`` also lists traditional license-based
    products) whose availability is for the customer's ``segment`` (commercial, education,
    government or nonprofit: "ensure availability of the catalog item is for the correct segment")
    are offered to buy; every kept item still tells which product types sell a SKU.
    """

    country: str
    items: tuple[CatalogItem, ...]
    segment: str = "commercial"
    _by_sku: Mapping[str, tuple[CatalogItem, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        country = self.country.upper()
        kept = sorted(
            (item for item in self.items if _is_buyable(item, country)),
            key=lambda item: item.catalog_item_id,
        )
        segment = self.segment.lower()
        by_sku: dict[str, list[CatalogItem]] = {}
        for item in kept:
            if is_new_commerce(item) and item.availability.segment == segment:
                by_sku.setdefault(item.provisioning_id or "", []).append(item)
        object.__setattr__(self, "country", country)
        object.__setattr__(self, "segment", segment)
        object.__setattr__(self, "items", tuple(kept))
        object.__setattr__(self, "_by_sku", {key: tuple(value) for key, value in by_sku.items()})

    def offers_for(self, sku_id: str) -> tuple[CatalogItem, ...]:
        """Purchasable new-commerce items of the segment that provision this Entra SKU, in catalog
        item id order."""
        return self._by_sku.get(sku_id.lower(), ())

    def product_types(self, sku_id: str) -> frozenset[str]:
        """The product types of every purchasable item that provisions this Entra SKU, in any segment."""
        return frozenset(i.product.product_type for i in self.items if i.provisioning_id == sku_id.lower())

    @property
    def sku_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_sku))


def is_new_commerce(item: CatalogItem) -> bool:
    return "".join(item.product.product_type.split()).lower() == NEW_COMMERCE.lower()


def _is_buyable(item: CatalogItem, country: str) -> bool:
    availability = item.availability
    return (
        availability.is_purchasable
        and availability.country in ("", country)
        and item.provisioning_id is not None
        and not item.sku.is_trial
    )
