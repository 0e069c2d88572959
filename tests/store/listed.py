"""Many transfers' list rows at once, for the tests (and the benchmark) that need thousands.

Written through the index's own row layout (:mod:`shared.store.listing_rows`), a hundred rows a
transaction: writing them one transfer at a time through the store would test the same rows and
take the emulator many minutes.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.data.tables import TableClient, UpdateMode

from shared.domain import TERMINAL, TransferState
from shared.domain.summary import LineCounts, Listing, NextMove
from shared.store.limits import typed_entity
from shared.store.listing_rows import count_entity, count_key, listing_entity, row_keys

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def a_listing(number: int, state: TransferState = TransferState.PROVISIONED, **fields: Any) -> Listing:
    """The list row of a transfer created ``number`` minutes after T0; its id sorts by that."""
    created = T0 + timedelta(minutes=number)
    values: dict[str, Any] = {
        "id": f"{int(created.timestamp() * 1000):012x}{uuid.uuid4().hex[:20]}",
        "customer_tenant_id": str(uuid.UUID(int=number)),
        "customer_name": f"Customer {number:05d} Ltd",
        "customer_domain": f"customer{number:05d}.example",
        "customer_country": "US",
        "source_channel": "Direct",
        "state": state,
        "stage": str(state),
        "created_at": created,
        "updated_at": created + timedelta(hours=number % 97),
        "next_date": None if state in TERMINAL else created + timedelta(days=30 + number % 61),
        "next_move": NextMove.NONE,
        "next_move_text": "No one's: waiting for the originals to lapse.",
        "lapses_first": None if state in TERMINAL else created + timedelta(days=45 + number % 61),
        "lines": LineCounts(total=3, done=1, skipped=1, in_flight=1),
        "reason": None,
    }
    values.update(fields)
    return Listing(**values)


def bulk_list(table: TableClient, listings: Sequence[Listing]) -> None:
    """Every copy of each row, and the count shards to match (no claims: the list never reads them)."""
    operations: list[tuple[Any, ...]] = []
    for listing in listings:
        operations += [("upsert", listing_entity(listing, 1, key)) for key in row_keys(listing).values()]
    shards: dict[str, Counter[str]] = {}
    for listing in listings:
        shards.setdefault(count_key(listing.id), Counter())[listing.stage] += 1
    for key, tally in shards.items():
        sample = next(x for x in listings if count_key(x.id) == key)
        operations.append(("upsert", count_entity(sample.id, tally)))
    for batch in _batches(operations, 100):
        table.submit_transaction([(kind, typed_entity(e), {"mode": UpdateMode.REPLACE}) for kind, e in batch])


def _batches(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
