"""The transfer record as a step reads it, and the pages the listings answer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shared.domain import HistoryEntry, Line, Transfer
from shared.store.limits import stored_int
from shared.store.rows import HEADER, as_utc, line_from_row, line_key, transfer_from_row


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


def record_of(
    header: Mapping[str, Any], lines: Iterable[Mapping[str, Any]], etags: Mapping[str, str]
) -> TransferRecord:
    """The record from its header row and line rows (in key order), as stored."""
    listed_at = header.get("ListedAt")
    return TransferRecord(
        transfer_from_row(header),
        tuple(line_from_row(row) for row in lines),
        stored_int(header["Version"]),
        etags,
        listing_version=stored_int(header.get("ListingVersion", 0)),
        listed_at=as_utc(listed_at) if listed_at else None,
        listing_digest=header.get("ListingDigest"),
    )


def committed(
    record: TransferRecord,
    operations: Sequence[tuple[str, Mapping[str, Any]]],
    answers: Sequence[Mapping[str, Any]],
) -> TransferRecord | None:
    """The record as a read right after a commit would find it, without that read: the rows the
    transaction sent, parsed as a read parses them, over ``record``'s, with the ETag Azure answered
    for each row written (the next commit is conditional on it). ``None`` when an answer carries no
    ETag: the caller reads the record instead."""
    etags = dict(record.etags)
    rows: dict[str, Mapping[str, Any]] = {}
    for (_, row), answer in zip(operations, answers, strict=True):
        key = str(row["RowKey"])
        if key != HEADER and not key.startswith("line-"):
            continue  # history: a step reads it apart
        if not answer.get("etag"):
            return None
        rows[key], etags[key] = row, str(answer["etag"])
    kept = {key: line for key, line in _line_keys(record) if key not in rows}
    lines = {**kept, **{key: line_from_row(row) for key, row in rows.items() if key != HEADER}}
    header = rows[HEADER]
    return replace(record_of(header, (), etags), lines=tuple(lines[key] for key in sorted(lines)))


def _line_keys(record: TransferRecord) -> Iterable[tuple[str, Line]]:
    return ((line_key(line.id), line) for line in record.lines)


@dataclass(frozen=True)
class TransferPage:
    transfers: tuple[Transfer, ...]
    continuation_token: str | None


@dataclass(frozen=True)
class HistoryPage:
    """History entries oldest first, and the token for the next page (None at the end)."""

    entries: tuple[HistoryEntry, ...]
    continuation_token: str | None
