"""Where the planner's inputs come from: today's Partner Center catalog and Microsoft's SKU
reference, fetched and cached for every customer and plan of the process.

Downloading a catalog costs one call for the products, one per product for its SKUs and one per SKU
for its availabilities: over a thousand calls. The customer-scoped catalog depends on the customer's
country and segment (commercial, education, government, nonprofit), not on the customer, so
:class:`CatalogCache` fetches it once per country and segment (through the first customer asking
for them) and shares it until its TTL runs out, or until a purchase finds it out of date
(:meth:`CatalogCache.invalidate`). Concurrent callers for the same key wait for the one download in
flight instead of starting their own; callers for other keys are not held up. The pure catalog
itself is :mod:`shared.catalog`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import urljoin, urlparse

from shared.catalog.offers import Catalog, CatalogItem
from shared.catalog.reference import SkuReference, SkuReferenceError
from shared.clients.errors import PartnerCenterError
from shared.resources.partner_center import Availability, Product, Sku


class CatalogSource(Protocol):
    """The three Partner Center catalog calls, customer-scoped (``/v1/customers/{id}/products...``)."""

    def list_products(self, customer_id: str, target_view: str = "OnlineServices") -> Iterable[Product]: ...

    def list_skus(self, customer_id: str, product_id: str) -> Iterable[Sku]: ...

    def list_availabilities(
        self, customer_id: str, product_id: str, sku_id: str, segment: str | None = None
    ) -> Iterable[Availability]: ...


#: How long the availabilities read right before a cart also serve the carts of other customers of
#: the same country and segment. "Product resources": an availability id "can change over time.
#: Partners should only rely on this value within a short time span after retrieving it"; minutes are
#: such a span, and one read then serves every cart of a busy fleet instead of one read per cart.
FRESH_FOR = timedelta(minutes=5)


@dataclass(slots=True)
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    catalog: Catalog | None = None
    expires: float = 0.0


class CatalogCache:
    """One catalog download per country and segment per ``ttl_seconds``, shared by every customer
    of that country and segment.

    A failed download is not cached: the error reaches the caller (whose step is retried) and the
    next caller tries again. A catalog a few hours old is good enough for planning.
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
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._entries_lock = threading.Lock()
        self._today: dict[tuple[str, str, str, str], tuple[datetime, list[Availability] | None]] = {}

    def for_customer(self, customer_id: str, country: str, segment: str = "commercial") -> Catalog:
        key = (country.upper(), segment.lower())
        with self._entries_lock:
            entry = self._entries.setdefault(key, _Entry())
        with entry.lock:
            if entry.catalog is None or self._clock() >= entry.expires:
                entry.catalog = fetch_catalog(self._source, customer_id, *key)
                entry.expires = self._clock() + self._ttl
            return entry.catalog

    def invalidate(self, country: str, segment: str = "commercial") -> None:
        """Forget the catalog of this country and segment: Partner Center no longer sells as it says
        (an item is gone, an id changed), so the next caller downloads it again."""
        with self._entries_lock:
            entry = self._entries.get((country.upper(), segment.lower()))
        if entry is not None:
            with entry.lock:
                entry.catalog = None
        self.forget_today(country, segment)

    def sold_today(
        self, customer_id: str, country: str, segment: str, product_id: str, sku_id: str, at: datetime
    ) -> list[Availability] | None:
        """The product and SKU's purchasable availabilities of the country and segment as read at
        most :data:`FRESH_FOR` before ``at`` (the step's clock), read through ``customer_id`` when
        not; ``None`` when the product or SKU is no longer listed."""
        key = (country.upper(), segment.lower(), product_id.upper(), sku_id.upper())
        with self._entries_lock:
            read = self._today.get(key)
        if read is not None and read[0] <= at < read[0] + FRESH_FOR:
            return read[1]
        try:
            listed = self._source.list_availabilities(customer_id, product_id, sku_id, key[1])
            found = [
                a for a in listed if a.is_purchasable and a.segment == key[1] and a.country in ("", key[0])
            ]
        except PartnerCenterError as error:
            if error.status != 404:  # 400013: the product or SKU is no longer listed
                raise
            found = None
        with self._entries_lock:
            self._today[key] = (at, found)
        return found

    def forget_today(self, country: str, segment: str = "commercial") -> None:
        """Read the availabilities of this country and segment again before the next cart (a cart
        refused an item, or the catalog is out of date)."""
        with self._entries_lock:
            for key in [k for k in self._today if k[:2] == (country.upper(), segment.lower())]:
                del self._today[key]


def fetch_catalog(
    source: CatalogSource, customer_id: str, country: str, segment: str = "commercial"
) -> Catalog:
    """Every license-based item the customer can see: products, their SKUs, their availabilities of
    the segment (nonprofit ones are listed only when asked for, so every segment is asked for)."""
    items: list[CatalogItem] = []
    for product in source.list_products(customer_id, "OnlineServices"):
        for sku in source.list_skus(customer_id, product.id):
            if sku.provisioning_id is None or sku.is_trial:
                continue
            for availability in source.list_availabilities(customer_id, product.id, sku.id, segment):
                items.append(CatalogItem(product=product, sku=sku, availability=availability))
    return Catalog(country=country, items=tuple(items), segment=segment)


log = logging.getLogger(__name__)


Fetch = Callable[[str], bytes]


def read_location(location: str, *, timeout: float = 30.0) -> bytes:
    """The default fetch: an https URL through ``requests`` (honours ``REQUESTS_CA_BUNDLE``), else a path."""
    scheme = urlparse(location).scheme.lower()
    if scheme == "https":
        return _download(location, timeout=timeout)
    if scheme == "file":
        return Path(urlparse(location).path).read_bytes()
    if scheme == "" or len(scheme) == 1:  # a path; one letter is a Windows drive
        return Path(location).read_bytes()
    raise SkuReferenceError(f"SKU_REFERENCE_URL must be an https URL or a file path, not {scheme}://")


MAX_REDIRECTS = 5


def _download(url: str, *, timeout: float) -> bytes:
    """GET over https, following redirects by hand so that none can lead to plain http."""
    import requests  # lazy: only the deployed app downloads

    with requests.Session() as session:
        for _ in range(MAX_REDIRECTS + 1):
            if urlparse(url).scheme.lower() != "https":
                raise SkuReferenceError("the SKU reference download was redirected away from https")
            response = session.get(
                url, timeout=timeout, allow_redirects=False, headers={"User-Agent": "csp-transfer/0.1"}
            )
            if not response.is_redirect:
                response.raise_for_status()
                return response.content
            url = urljoin(url, response.headers["Location"])
    raise SkuReferenceError(f"the SKU reference download redirected more than {MAX_REDIRECTS} times")


class SkuReferenceLoader:
    """Serves the current :class:`SkuReference`, refreshing it at most once per ``ttl_seconds``.

    A fresh copy is parsed before it replaces the old one, so a broken download (an HTML error page,
    a truncated file) is a failed refresh like any network error: the last good copy stays in use
    and the next call after ``retry_seconds`` tries again. The cache file lets a new worker start on
    the last good copy even while Microsoft's download is unreachable.
    """

    def __init__(
        self,
        location: str,
        *,
        fetch: Fetch = read_location,
        ttl_seconds: float = 24 * 3600,
        retry_seconds: float = 300,
        cache_dir: str | os.PathLike[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._location = location
        self._fetch = fetch
        self._ttl = ttl_seconds
        self._retry = retry_seconds
        self._clock = clock
        digest = hashlib.sha256(location.encode()).hexdigest()[:16]
        directory = Path(cache_dir) if cache_dir is not None else Path(tempfile.gettempdir()) / "csp-transfer"
        self._cache_file = directory / f"sku-reference-{digest}.csv"
        self._state_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._current: SkuReference | None = None
        self._cache_file_read = False
        self._next_refresh = 0.0

    def get(self) -> SkuReference:
        """The table; raises :class:`SkuReferenceError` only when no good copy was ever obtained.

        While one caller refreshes, the others keep getting the current copy instead of waiting for
        the download; only the very first load makes callers wait.
        """
        with self._state_lock:
            if self._current is None and not self._cache_file_read:
                self._cache_file_read = True
                self._current = self._read_cache_file()
                if self._current is not None:
                    self._next_refresh = self._clock() + max(0.0, self._ttl - self._cache_file_age())
            current = self._current
            due = self._clock() >= self._next_refresh
        if current is not None and not due:
            return current
        if current is None:
            self._refresh_lock.acquire()
        elif not self._refresh_lock.acquire(blocking=False):
            return current  # another caller is refreshing: serve the current copy meanwhile
        try:
            with self._state_lock:
                still_due = self._current is None or self._clock() >= self._next_refresh
            if still_due:
                self._refresh()
        finally:
            self._refresh_lock.release()
        with self._state_lock:
            if self._current is None:
                raise SkuReferenceError("no copy of the SKU reference could be loaded")
            return self._current

    def _refresh(self) -> None:
        try:
            content = self._fetch(self._location)
            fresh = SkuReference.parse(content)
        except Exception as error:  # any failure leaves the last good copy in place
            log.warning("SKU reference refresh failed (%s); keeping the last good copy", type(error).__name__)
            with self._state_lock:
                self._next_refresh = self._clock() + self._retry
            return
        with self._state_lock:
            self._current = fresh
            self._next_refresh = self._clock() + self._ttl
        self._write_cache_file(content)

    def _read_cache_file(self) -> SkuReference | None:
        try:
            return SkuReference.parse(self._cache_file.read_bytes())
        except (OSError, SkuReferenceError, UnicodeDecodeError):
            return None

    def _cache_file_age(self) -> float:
        try:
            return max(0.0, time.time() - self._cache_file.stat().st_mtime)
        except OSError:
            return float("inf")

    def _write_cache_file(self, content: bytes | str) -> None:
        data = content.encode() if isinstance(content, str) else content
        try:
            self._cache_file.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self._cache_file.parent, suffix=".tmp")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, self._cache_file)
        except OSError as error:
            log.warning("could not write the SKU reference cache file (%s)", type(error).__name__)
