"""The new-commerce catalog a customer can buy from, indexed by the Entra SKU it provisions.

A catalog item is one (product, SKU, availability) triple; its SKU's ``provisioningId`` is the Entra
``skuId`` the purchase grants, which is how an original subscription finds its offer.

Downloading the catalog costs one call for the products, one per product for its SKUs and one per
SKU for its availabilities: over a thousand calls. The customer-scoped catalog depends on the
customer's country, not on the customer, so :class:`CatalogCache` fetches it once per country
(through the first customer asking for that country) and shares it until its TTL runs out.
Concurrent callers for the same country wait for the one download in flight instead of starting
their own; callers for other countries are not held up.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from shared.resources.partner_center import Availability, Product, Sku, Term

if TYPE_CHECKING:
    from .matching import OfferIndex
    from .reference import SkuReference


class CatalogSource(Protocol):
    """The three Partner Center catalog calls, customer-scoped (``/v1/customers/{id}/products...``)."""

    def list_products(self, customer_id: str, target_view: str = "OnlineServices") -> Iterable[Product]: ...

    def list_skus(self, customer_id: str, product_id: str) -> Iterable[Sku]: ...

    def list_availabilities(
        self, customer_id: str, product_id: str, sku_id: str
    ) -> Iterable[Availability]: ...


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


@dataclass(frozen=True, eq=False)
class Catalog:
    """The purchasable license-based offers of one country.

    Only items that can be bought there are kept: the availability is purchasable, is for this
    country, the SKU is not a trial and names the Entra SKU it provisions (Azure and software items
    have no ``provisioningId`` and cannot replace a licence).
    """

    country: str
    items: tuple[CatalogItem, ...]
    _by_sku: Mapping[str, tuple[CatalogItem, ...]] = field(init=False, repr=False)
    _indexes: weakref.WeakKeyDictionary[SkuReference, OfferIndex] = field(init=False, repr=False)
    _index_lock: threading.Lock = field(init=False, repr=False)

    def __post_init__(self) -> None:
        country = self.country.upper()
        kept = sorted(
            (item for item in self.items if _is_buyable(item, country)),
            key=lambda item: item.catalog_item_id,
        )
        by_sku: dict[str, list[CatalogItem]] = {}
        for item in kept:
            by_sku.setdefault(item.provisioning_id or "", []).append(item)
        object.__setattr__(self, "country", country)
        object.__setattr__(self, "items", tuple(kept))
        object.__setattr__(self, "_by_sku", {key: tuple(value) for key, value in by_sku.items()})
        object.__setattr__(self, "_indexes", weakref.WeakKeyDictionary())
        object.__setattr__(self, "_index_lock", threading.Lock())

    def offers_for(self, sku_id: str) -> tuple[CatalogItem, ...]:
        """Purchasable items that provision this Entra SKU, in catalog item id order."""
        return self._by_sku.get(sku_id.lower(), ())

    @property
    def sku_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_sku))

    def index_for(self, reference: SkuReference) -> OfferIndex:
        """The coverage index of this catalog against a reference, built once and kept with the catalog."""
        from .matching import OfferIndex

        with self._index_lock:
            index = self._indexes.get(reference)
            if index is None:
                index = OfferIndex.build(self, reference)
                self._indexes[reference] = index
            return index

    @classmethod
    def fetch(cls, source: CatalogSource, customer_id: str, country: str) -> Catalog:
        items: list[CatalogItem] = []
        for product in source.list_products(customer_id, "OnlineServices"):
            for sku in source.list_skus(customer_id, product.id):
                if sku.provisioning_id is None or sku.is_trial:
                    continue
                for availability in source.list_availabilities(customer_id, product.id, sku.id):
                    items.append(CatalogItem(product=product, sku=sku, availability=availability))
        return cls(country=country, items=tuple(items))


def _is_buyable(item: CatalogItem, country: str) -> bool:
    availability = item.availability
    return (
        availability.is_purchasable
        and availability.country in ("", country)
        and item.provisioning_id is not None
        and not item.sku.is_trial
    )


@dataclass(slots=True)
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    catalog: Catalog | None = None
    expires: float = 0.0


class CatalogCache:
    """One catalog download per country per ``ttl_seconds``, shared by every customer of that country.

    A failed download is not cached: the error reaches the caller (whose step is retried) and the
    next caller tries again. Availability ids can change, so the workflow re-resolves an item right
    before buying; a catalog a few hours old is good enough for planning.
    """

    def __init__(
        self,
        source: CatalogSource,
        ttl_seconds: float = 6 * 3600,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._entries_lock = threading.Lock()

    def for_customer(self, customer_id: str, country: str) -> Catalog:
        key = country.upper()
        with self._entries_lock:
            entry = self._entries.setdefault(key, _Entry())
        with entry.lock:
            if entry.catalog is None or self._clock() >= entry.expires:
                entry.catalog = Catalog.fetch(self._source, customer_id, key)
                entry.expires = self._clock() + self._ttl
            return entry.catalog
