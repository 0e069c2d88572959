from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable

import pytest

from shared.catalog.offers import Catalog, CatalogItem
from shared.resources.partner_center import Availability, Product, Sku
from shared.workflow.sources import CatalogCache
from tests.catalog.builders import O365_E3, O365_E3_NO_TEAMS, TEAMS_ENTERPRISE, offer


class CountingCatalog:
    """A test double of the Partner Center catalog endpoints that counts every call it answers."""

    def __init__(self, items: Iterable[CatalogItem], *, delay: float = 0.0) -> None:
        self.items = list(items)
        self.delay = delay
        self.calls: Counter[str] = Counter()
        self.customers: list[str] = []
        self.fail = False

    def list_products(self, customer_id: str, target_view: str = "OnlineServices") -> Iterable[Product]:
        self.calls["products"] += 1
        self.customers.append(customer_id)
        if self.fail:
            raise ConnectionError("catalog unavailable")
        time.sleep(self.delay)
        return list({item.product.id: item.product for item in self.items}.values())

    def list_skus(self, customer_id: str, product_id: str) -> Iterable[Sku]:
        self.calls["skus"] += 1
        return [item.sku for item in self.items if item.product.id == product_id]

    def list_availabilities(
        self, customer_id: str, product_id: str, sku_id: str, segment: str | None = None
    ) -> Iterable[Availability]:
        self.calls["availabilities"] += 1
        return [
            item.availability
            for item in self.items
            if item.product.id == product_id and segment in (None, item.availability.segment)
        ]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


ITEMS = [offer(O365_E3, "Office 365 E3"), offer(TEAMS_ENTERPRISE, "Microsoft Teams Enterprise")]


def test_customers_of_one_country_share_one_catalog_download():
    source = CountingCatalog(ITEMS)
    cache = CatalogCache(source, ttl_seconds=3600)
    first = cache.for_customer("customer-1", "US")
    second = cache.for_customer("customer-2", "us")
    assert second is first
    assert source.calls == Counter(products=1, skus=2, availabilities=2)
    assert first.offers_for(O365_E3)[0].title == "Office 365 E3"


def test_each_country_gets_its_own_download():
    source = CountingCatalog(ITEMS)
    cache = CatalogCache(source, ttl_seconds=3600)
    cache.for_customer("customer-us", "US")
    cache.for_customer("customer-de", "DE")
    assert source.calls["products"] == 2
    assert source.customers == ["customer-us", "customer-de"]


def test_catalog_is_downloaded_again_after_its_ttl():
    source = CountingCatalog(ITEMS)
    clock = Clock()
    cache = CatalogCache(source, ttl_seconds=100, clock=clock)
    cache.for_customer("customer-1", "US")
    clock.now = 99
    cache.for_customer("customer-2", "US")
    clock.now = 100
    cache.for_customer("customer-3", "US")
    assert source.calls["products"] == 2


def test_concurrent_customers_of_one_country_wait_for_a_single_download():
    source = CountingCatalog(ITEMS, delay=0.2)
    cache = CatalogCache(source, ttl_seconds=3600)
    catalogs: list[Catalog] = []
    threads = [
        threading.Thread(target=lambda n=n: catalogs.append(cache.for_customer(f"customer-{n}", "US")))
        for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert source.calls["products"] == 1
    assert len({id(catalog) for catalog in catalogs}) == 1
    assert len(catalogs) == 8


def test_a_failed_download_is_not_cached():
    source = CountingCatalog(ITEMS)
    source.fail = True
    cache = CatalogCache(source, ttl_seconds=3600)
    with pytest.raises(ConnectionError):
        cache.for_customer("customer-1", "US")
    source.fail = False
    assert cache.for_customer("customer-1", "US").offers_for(O365_E3)


def test_catalog_keeps_only_what_can_be_bought_in_its_country():
    catalog = Catalog(
        "US",
        (
            offer(O365_E3, "Office 365 E3", purchasable=False),
            offer(O365_E3_NO_TEAMS, "Office 365 E3 (no Teams)", country="GB"),
            offer(TEAMS_ENTERPRISE, "Microsoft Teams Enterprise", is_trial=True),
        ),
    )
    assert catalog.items == ()
    assert catalog.offers_for(O365_E3) == ()
