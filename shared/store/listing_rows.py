"""The list index as rows: every transfer's list row, once per sort order, keyed so that one range
read of the index partition answers a page in that order.

The rows live in the index partition (``active-transfers``) beside the customers' claims, so one
transaction moves a transfer's rows, its claim's ``ListedVersion`` and its count shard together.
Every copy carries the whole list row; the ``created``/``asc`` copy, keyed by the transfer id alone,
is the *anchor*: it is read to know what the index holds (its version, hence its other keys).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.domain import TransferState
from shared.domain.summary import STAGES, LineCounts, Listing, NextMove
from shared.store.limits import stored_int
from shared.store.rows import as_utc, without_none

INDEX_PARTITION = "active-transfers"
SORTS = ("created", "updated", "next")
ORDERS = ("asc", "desc")
COUNT_SHARDS = 32  # count rows, so that concurrent writers seldom contend for the same one
_NO_DATE = "~"  # sorts after every digit: transfers without a next date come last in either order
_STAMP_DIGITS = 20
_HEX = "0123456789abcdef"


def row_prefix(sort: str, order: str) -> str:
    return f"list-{sort}-{order}-"


def prefix_end(prefix: str) -> str:
    """The first key after every key that starts with ``prefix`` (which ends with ``-``)."""
    return prefix[:-1] + "."


def anchor_key(transfer_id: str) -> str:
    return row_prefix("created", "asc") + transfer_id


def count_key(transfer_id: str) -> str:
    return f"count-{int(transfer_id[-4:], 16) % COUNT_SHARDS:02d}"


def row_keys(listing: Listing) -> dict[tuple[str, str], str]:
    """The key of each copy of the row: creation (ids sort by creation), the last change, the next date."""
    created = {"asc": listing.id, "desc": "".join(_HEX[15 - _HEX.index(c)] for c in listing.id)}
    updated = {"asc": _stamp(listing.updated_at), "desc": _inverted(listing.updated_at)}
    upcoming = listing.next_date
    then = {
        "asc": _stamp(upcoming) if upcoming else _NO_DATE,
        "desc": _inverted(upcoming) if upcoming else _NO_DATE,
    }
    keys = {("created", order): row_prefix("created", order) + created[order] for order in ORDERS}
    for sort, parts in (("updated", updated), ("next", then)):
        keys.update(
            {(sort, order): f"{row_prefix(sort, order)}{parts[order]}-{listing.id}" for order in ORDERS}
        )
    return keys


def listing_entity(listing: Listing, version: int, row_key: str) -> dict[str, Any]:
    lines = listing.lines
    return without_none(
        {
            "PartitionKey": INDEX_PARTITION,
            "RowKey": row_key,
            "Kind": "listing",
            "Version": version,
            "TransferId": listing.id,
            "CustomerTenantId": listing.customer_tenant_id,
            "CustomerName": listing.customer_name,
            "CustomerDomain": listing.customer_domain,
            "CustomerCountry": listing.customer_country,
            "SourceChannel": listing.source_channel,
            "State": str(listing.state),
            "Stage": listing.stage,
            "CreatedAt": listing.created_at,
            "UpdatedAt": listing.updated_at,
            "NextDate": listing.next_date,
            "NextMove": str(listing.next_move),
            "NextMoveText": listing.next_move_text,
            "LapsesFirst": listing.lapses_first,
            "Lines": json.dumps(
                [lines.total, lines.done, lines.skipped, lines.failed, lines.waiting, lines.in_flight]
            ),
            "Reason": listing.reason,
            "Search": " ".join(
                (listing.customer_name or "", listing.customer_domain or "", listing.customer_tenant_id)
            ).lower(),
        }
    )


def listing_from_row(row: Mapping[str, Any]) -> Listing:
    total, done, skipped, failed, waiting, in_flight = json.loads(row["Lines"])
    return Listing(
        id=row["TransferId"],
        customer_tenant_id=row["CustomerTenantId"],
        customer_name=row.get("CustomerName"),
        customer_domain=row.get("CustomerDomain"),
        customer_country=row["CustomerCountry"],
        source_channel=row["SourceChannel"],
        state=TransferState(row["State"]),
        stage=row["Stage"],
        created_at=as_utc(row["CreatedAt"]),
        updated_at=as_utc(row["UpdatedAt"]),
        next_date=_optional_time(row.get("NextDate")),
        next_move=NextMove(row["NextMove"]),
        next_move_text=row["NextMoveText"],
        lapses_first=_optional_time(row.get("LapsesFirst")),
        lines=LineCounts(total, done, skipped, failed, waiting, in_flight),
        reason=row.get("Reason"),
    )


def counted(row: Mapping[str, Any] | None) -> dict[str, int]:
    """A count shard's tally per stage (zero where it holds none)."""
    return {stage: stored_int((row or {}).get(f"Stage{stage}", 0)) for stage in STAGES}


def count_entity(transfer_id: str, tally: Mapping[str, int]) -> dict[str, Any]:
    return {
        "PartitionKey": INDEX_PARTITION,
        "RowKey": count_key(transfer_id),
        "Kind": "count",
        **{f"Stage{stage}": n for stage, n in tally.items()},
    }


def _optional_time(value: datetime | None) -> datetime | None:
    return as_utc(value) if value else None


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y%m%d%H%M%S%f}"


def _inverted(moment: datetime) -> str:
    return str(10**_STAMP_DIGITS - 1 - int(_stamp(moment))).zfill(_STAMP_DIGITS)
