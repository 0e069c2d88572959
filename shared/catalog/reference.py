"""The SKU reference: Microsoft's "Product names and service plan identifiers for licensing" table.

It is the only place the service plans of a SKU the customer does not own yet can be looked up, so
matching depends on it. Microsoft publishes it as a long CSV (one row per SKU and service plan) whose
spelling has drifted: older copies call the second column ``String_ Id``, start with a UTF-8 BOM and
use CRLF; the file has duplicate rows and one ``String_Id`` (``MCOPSTN5``) that names two SKUs. So
everything is keyed on the SKU GUID, and the loader accepts every spelling seen so far.

In Azure the table comes from ``SKU_REFERENCE_URL`` (an https URL or a file path). Microsoft's
download is occasionally slow or down, so :class:`SkuReferenceLoader` keeps a copy in memory and in a
cache file, refreshes it after a TTL, and keeps serving the last good copy when a refresh fails.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlparse

log = logging.getLogger(__name__)

_COLUMNS = ("Product_Display_Name", "String_Id", "GUID", "Service_Plan_Name", "Service_Plan_Id")


class SkuReferenceError(ValueError):
    """The table could not be read or does not have the documented columns."""


@dataclass(frozen=True, slots=True)
class ReferencePlan:
    """A service plan as the table names it; ``friendly_name`` is what an admin recognises."""

    id: str
    name: str
    friendly_name: str


@dataclass(frozen=True, slots=True)
class ReferenceSku:
    """One SKU of the table with every service plan it includes (duplicates already merged)."""

    id: str
    part_number: str
    display_name: str
    plans: tuple[ReferencePlan, ...]


@dataclass(frozen=True, eq=False)
class SkuReference:
    """The table, keyed by SKU GUID (lower case). Immutable: a refresh builds a new one."""

    skus: Mapping[str, ReferenceSku]

    def get(self, sku_id: str) -> ReferenceSku | None:
        return self.skus.get(sku_id.lower())

    def __contains__(self, sku_id: object) -> bool:
        return isinstance(sku_id, str) and sku_id.lower() in self.skus

    def __len__(self) -> int:
        return len(self.skus)

    @classmethod
    def parse(cls, content: bytes | str) -> SkuReference:
        """Read the CSV in any published spelling: BOM or not, CRLF or LF, ``String_Id`` or ``String_ Id``."""
        text = content.decode("utf-8-sig") if isinstance(content, bytes) else content.removeprefix("\ufeff")
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if header is None:
            raise SkuReferenceError("the SKU reference is empty")
        position = {_normalise_header(name): index for index, name in enumerate(header)}
        missing = [name for name in _COLUMNS if name not in position]
        if missing:
            raise SkuReferenceError(f"the SKU reference lacks the columns {missing}")
        friendly = position.get("Service_Plans_Included_Friendly_Names")
        width = max(position[name] for name in _COLUMNS) + 1
        rows: dict[str, tuple[str, str, dict[str, ReferencePlan]]] = {}
        for row in reader:
            if len(row) < width:
                continue
            sku_id = row[position["GUID"]].strip().lower()
            plan_id = row[position["Service_Plan_Id"]].strip().lower()
            if not sku_id or not plan_id:
                continue
            _, _, plans = rows.setdefault(
                sku_id,
                (row[position["String_Id"]].strip(), row[position["Product_Display_Name"]].strip(), {}),
            )
            plans.setdefault(
                plan_id,
                ReferencePlan(
                    id=plan_id,
                    name=clean_plan_name(row[position["Service_Plan_Name"]]),
                    friendly_name=row[friendly].strip()
                    if friendly is not None and friendly < len(row)
                    else "",
                ),
            )
        if not rows:
            raise SkuReferenceError("the SKU reference has a header but no SKU rows")
        skus = {
            sku_id: ReferenceSku(
                id=sku_id,
                part_number=part_number,
                display_name=display_name,
                plans=tuple(sorted(plans.values(), key=lambda plan: plan.id)),
            )
            for sku_id, (part_number, display_name, plans) in rows.items()
        }
        return cls(skus=skus)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SkuReference:
        return cls.parse(Path(path).read_bytes())


def _normalise_header(name: str) -> str:
    """``String_ Id`` (older copies) and ``String_Id`` (current) are the same column."""
    return "".join(name.removeprefix("\ufeff").split())


def clean_plan_name(name: str) -> str:
    """The table has stray whitespace and a stray parenthesis in a few plan names (``RMS_S_ENTERPRISE)``)."""
    cleaned = " ".join(name.split())
    return cleaned[:-1] if cleaned.endswith(")") and "(" not in cleaned else cleaned


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

    @property
    def cache_file(self) -> Path:
        return self._cache_file

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
