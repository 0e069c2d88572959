"""The completed transfers whose originals have not really lapsed yet, for the timer to keep reading.

A completed transfer leaves the in-flight index, but an original bought elsewhere may still renew
(the customer pays twice) until it has lapsed. One row per such transfer in its own partition lets
the timer read only these, never every finished transfer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from azure.core.exceptions import ResourceNotFoundError

from shared.store.connection import TABLE_STORAGE
from shared.store.errors import storage_client
from shared.store.limits import check_entity

if TYPE_CHECKING:
    from azure.data.tables import TableClient

WATCH_PARTITION = "watched-originals"


@storage_client(TABLE_STORAGE)
class WatchedOriginals:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def add(self, transfer_id: str) -> None:
        entity = {"PartitionKey": WATCH_PARTITION, "RowKey": transfer_id, "TransferId": transfer_id}
        check_entity(entity)
        self._table.upsert_entity(entity)

    def remove(self, transfer_id: str) -> None:
        try:
            self._table.delete_entity(WATCH_PARTITION, transfer_id)
        except ResourceNotFoundError:
            return

    def ids(self) -> Iterator[str]:
        """Every watched transfer, read a page (1,000 rows) at a time."""
        rows = self._table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": WATCH_PARTITION}, select=["TransferId"]
        )
        return (str(row["TransferId"]) for row in rows)
