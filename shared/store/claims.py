"""The customers' claims: one ``customer-<tenant>`` row per transfer in flight, in the index partition.

Inserting the claim is what makes "one active transfer per customer" atomic; releasing it when the
transfer finishes frees the customer. A claim a crash left behind (its transfer finished, or never
written) is released by the next start for that customer, after the finished transfer's list row is
put right (``settle``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity

from shared.domain import TERMINAL, Transfer
from shared.store.errors import ActiveTransferExistsError, ConcurrencyError
from shared.store.limits import check_entity
from shared.store.listing_rows import INDEX_PARTITION
from shared.store.paging import read_page
from shared.store.rows import as_utc, claim_key

#: A claim whose transfer has no header yet is a create in flight for this long, then a crash's.
CREATE_GRACE_SECONDS = 300


class CustomerClaims:
    def __init__(
        self,
        table: TableClient,
        header: Callable[[str], Transfer | None],
        settle: Callable[[str], None],
    ) -> None:
        self._table = table
        self._header = header
        self._settle = settle

    def transfer_id(self, customer_tenant_id: str) -> str | None:
        try:
            row = self._table.get_entity(INDEX_PARTITION, claim_key(customer_tenant_id))
        except ResourceNotFoundError:
            return None
        return str(row["TransferId"])

    def page(self, after: str, page_size: int) -> tuple[list[TableEntity], bool]:
        """Claims after the key ``after``, in key order (the list rows beside them are not read)."""
        return read_page(
            self._table,
            "PartitionKey eq @pk and RowKey gt @after and RowKey lt @end",
            {"pk": INDEX_PARTITION, "after": after or "customer-", "end": "customer."},
            page_size,
        )

    def claim(self, transfer: Transfer) -> None:
        entity = {
            "PartitionKey": INDEX_PARTITION,
            "RowKey": claim_key(transfer.customer_tenant_id),
            "TransferId": transfer.id,
        }
        check_entity(entity)
        for _ in range(3):
            try:
                self._table.create_entity(entity)
                return
            except ResourceExistsError:
                if not self._release_stale(transfer.customer_tenant_id):
                    existing = self.transfer_id(transfer.customer_tenant_id)
                    if existing is not None:
                        raise ActiveTransferExistsError(transfer.customer_tenant_id, existing) from None
        raise ConcurrencyError(f"customer {transfer.customer_tenant_id} is being claimed concurrently")

    def release(self, transfer: Transfer) -> None:
        try:
            row = self._table.get_entity(INDEX_PARTITION, claim_key(transfer.customer_tenant_id))
        except ResourceNotFoundError:
            return
        if row["TransferId"] == transfer.id:
            self.delete_unchanged(row)

    def settle_finished(self, row: TableEntity) -> None:
        """A claim still held by a finished transfer: its list row put right, then the claim dropped."""
        self._settle(str(row["TransferId"]))
        self.delete_unchanged(row)

    def _release_stale(self, customer_tenant_id: str) -> bool:
        """Drop a claim left behind by a crash: its transfer is missing or already finished."""
        try:
            row = self._table.get_entity(INDEX_PARTITION, claim_key(customer_tenant_id))
        except ResourceNotFoundError:
            return True
        header = self._header(str(row["TransferId"]))
        if header is None:  # give a create in flight its grace to write the header
            return _age(row) > CREATE_GRACE_SECONDS and self.delete_unchanged(row)
        if header.state not in TERMINAL:
            return False
        self._settle(header.id)
        return self.delete_unchanged(row)

    def delete_unchanged(self, row: Any) -> bool:
        """Delete the claim row as it was read; ``False`` when another writer changed or removed it first."""
        try:
            self._table.delete_entity(
                row, etag=row.metadata["etag"], match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True


def _age(row: Any) -> float:
    stamp = row.metadata.get("timestamp")
    return (datetime.now(UTC) - as_utc(stamp)).total_seconds() if stamp else 0.0
