"""The transfer record as a step reads it, and the pages the listings answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from shared.domain import HistoryEntry, Line, Transfer


@dataclass(frozen=True)
class TransferRecord:
    """A transfer as read: header, lines, the header's version (its last history seq), and the
    ETags its next commit is conditional on. History is read apart, a page at a time.

    ``listing_version`` is the version whose commit last changed what the list shows, and
    ``listed_at`` when: the list index holds the row of that version (or will, once repaired)."""

    transfer: Transfer
    lines: tuple[Line, ...]
    version: int
    etags: Mapping[str, str]
    listing_version: int = 0
    listed_at: datetime | None = None
    listing_digest: str | None = None  # what that list row shows (:attr:`Listing.digest`)


@dataclass(frozen=True)
class TransferPage:
    transfers: tuple[Transfer, ...]
    continuation_token: str | None


@dataclass(frozen=True)
class HistoryPage:
    """History entries oldest first, and the token for the next page (None at the end)."""

    entries: tuple[HistoryEntry, ...]
    continuation_token: str | None
