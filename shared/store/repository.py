"""The transfer record on Azure Table Storage: reads, commits and listings (no business rules).

One partition per transfer: a ``header`` row, one ``line-<sku>`` row per line and an append-only
``history-<seq>`` row per step. Every commit is one entity-group transaction whose header update is
conditional on the ETag read, so two writers can never both win. One more partition,
``active-transfers``, holds a ``customer-<tenant>`` row per transfer in flight: its insert makes
"one active transfer per customer" atomic, and it is the index the timer and the listings of an
in-flight state read instead of scanning every row.

Reads take only what a step needs: :meth:`TransferStore.get` the header and lines (the version is
the header's), :meth:`TransferStore.history` one page of history at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, TableEntity, UpdateMode

from shared.domain import TERMINAL, Change, HistoryEntry, Transfer, TransferState, is_transfer_id
from shared.store.connection import TABLE_STORAGE, AttemptBudget, client_options
from shared.store.errors import (
    ActiveTransferExistsError,
    ConcurrencyError,
    InvalidContinuationTokenError,
    TransferNotFoundError,
    storage_client,
    transaction_error,
)
from shared.store.leases import TransferLeases
from shared.store.limits import (
    check_entity,
    check_key,
    check_page_size,
    check_transaction,
    is_valid_key,
    stored_int,
    typed_entity,
)
from shared.store.records import HistoryPage, TransferPage, TransferRecord
from shared.store.relationships import RelationshipIndex
from shared.store.rows import (
    HEADER,
    as_utc,
    claim_key,
    event_key,
    history_from_row,
    history_key,
    history_row,
    line_from_row,
    line_key,
    line_row,
    transfer_from_row,
    transfer_row,
)
from shared.store.tokens import decode_seq, decode_token, encode_token
from shared.store.watch import WatchedOriginals

if TYPE_CHECKING:
    from shared.store.connection import StorageConnection


TABLE_NAME = "transfers"


ACTIVE_PARTITION = "active-transfers"


@storage_client(TABLE_STORAGE)
class TransferStore:
    def __init__(self, table: TableClient) -> None:
        self._table = table
        self.leases = TransferLeases(table)  # one step runner (or admin write) per transfer at a time
        self.watched = WatchedOriginals(table)  # completed transfers whose originals have not lapsed

    @classmethod
    def connect(
        cls, storage: StorageConnection, table_name: str = TABLE_NAME, *, budget: AttemptBudget | None = None
    ) -> TransferStore:
        """A store over a connection string (Azurite, local) or a service URI and managed identity.

        The SDK's defaults (10 retries backing off up to 120 s) could hold an HTTP-triggered
        function past its 230 s; the bounds of :func:`~shared.store.connection.client_options`
        (retries 0, 1.6 and 3.2 s apart) keep an outage a prompt 503, and with a ``budget`` no call
        outlasts the operation's deadline.
        """
        return cls(storage.table(table_name, **client_options(TABLE_STORAGE, budget)))

    @property
    def relationships(self) -> RelationshipIndex:
        return RelationshipIndex(self._table)

    def ensure_table(self) -> None:
        try:
            self._table.create_table()
        except ResourceExistsError:
            return

    # -- reading ---------------------------------------------------------------------------------

    def get(self, transfer_id: str) -> TransferRecord:
        """The header and the line rows, from one query; history stays unread."""
        check_key(transfer_id, name="transfer id", from_input=True)
        rows = list(
            self._table.query_entities(
                "PartitionKey eq @pk and ( RowKey eq @header or ( RowKey gt @lines and RowKey lt @end ) )",
                parameters={"pk": transfer_id, "header": HEADER, "lines": "line-", "end": "line."},
            )
        )
        header = next((r for r in rows if r["RowKey"] == HEADER), None)
        if header is None:
            raise TransferNotFoundError(transfer_id)
        lines = tuple(line_from_row(r) for r in rows if r["RowKey"].startswith("line-"))
        etags = {r["RowKey"]: str(r.metadata["etag"]) for r in rows}
        return TransferRecord(transfer_from_row(header), lines, stored_int(header["Version"]), etags)

    def history(
        self, transfer_id: str, *, page_size: int = 100, continuation_token: str | None = None
    ) -> HistoryPage:
        """One page of a transfer's history, oldest first; pass the token back for the next."""
        check_page_size(page_size)
        check_key(transfer_id, name="transfer id", from_input=True)
        after = 0
        if continuation_token is not None:
            after = decode_seq(decode_token(continuation_token, f"history:{transfer_id}"))
        rows, more = self._read_page(
            "PartitionKey eq @pk and RowKey gt @after and RowKey lt @end",
            {"pk": transfer_id, "after": history_key(after) if after else "history-", "end": "history."},
            page_size,
        )
        entries = tuple(history_from_row(r) for r in rows)
        token = encode_token(f"history:{transfer_id}", str(entries[-1].seq)) if more and entries else None
        return HistoryPage(entries, token)

    def active_transfer_id(self, customer_tenant_id: str) -> str | None:
        try:
            row = self._table.get_entity(ACTIVE_PARTITION, claim_key(customer_tenant_id))
        except ResourceNotFoundError:
            return None
        return str(row["TransferId"])

    def list_transfers(
        self,
        *,
        state: TransferState | None = None,
        page_size: int = 50,
        continuation_token: str | None = None,
    ) -> TransferPage:
        """One page of transfers, oldest first (ids sort by creation); pass the token back for more.

        The token is bound to ``state``: a token issued for one filter is refused under another. A
        state only an in-flight transfer can be in is answered from the in-flight index, so the
        finished transfers, however many are stored, are never read.
        """
        check_page_size(page_size)
        scope = f"transfers:{state or '*'}"
        after = ""
        if continuation_token is not None:
            after = decode_token(continuation_token, scope)
            if not is_transfer_id(after):
                raise InvalidContinuationTokenError
        if state is not None and state not in TERMINAL:
            return self._list_in_flight(state, page_size, after, scope)
        query = "RowKey eq @rk and PartitionKey gt @after" + (" and State eq @state" if state else "")
        parameters = {"rk": HEADER, "after": after, **({"state": str(state)} if state else {})}
        rows, more = self._read_page(query, parameters, page_size)
        found = tuple(transfer_from_row(row) for row in rows)
        return TransferPage(found, encode_token(scope, found[-1].id) if more and found else None)

    def list_active(self, *, page_size: int = 100, continuation_token: str | None = None) -> TransferPage:
        """Transfers in flight, from the index partition and a point read of each header.

        A claim whose header is missing (a create in flight or a crash) or already terminal (a
        release still to come) is skipped: it is not an active transfer.
        """
        check_page_size(page_size)
        after = ""
        if continuation_token is not None:
            after = decode_token(continuation_token, "active")
            if not after.startswith("customer-") or not is_valid_key(after):
                raise InvalidContinuationTokenError
        rows, more = self._read_page(
            "PartitionKey eq @pk and RowKey gt @after", {"pk": ACTIVE_PARTITION, "after": after}, page_size
        )
        headers = (self._header(str(row["TransferId"])) for row in rows)
        found = tuple(t for t in headers if t is not None and t.state not in TERMINAL)
        return TransferPage(found, encode_token("active", rows[-1]["RowKey"]) if more and rows else None)

    def _list_in_flight(self, state: TransferState, page_size: int, after: str, scope: str) -> TransferPage:
        """Transfers in ``state`` after ``after``, oldest first: the index partition names every
        transfer in flight (one query per 1,000), then their headers are read in id order."""
        claims = self._table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": ACTIVE_PARTITION}, select=["TransferId"]
        )
        ids = sorted(i for i in (str(row.get("TransferId", "")) for row in claims) if i > after)
        found: list[Transfer] = []
        for number, transfer_id in enumerate(ids, start=1):
            header = self._header(transfer_id)
            if header is None or header.state is not state:
                continue
            found.append(header)
            if len(found) == page_size:
                more = number < len(ids)
                return TransferPage(tuple(found), encode_token(scope, transfer_id) if more else None)
        return TransferPage(tuple(found), None)

    def _header(self, transfer_id: str) -> Transfer | None:
        if not is_valid_key(transfer_id):
            return None
        try:
            return transfer_from_row(self._table.get_entity(transfer_id, HEADER))
        except ResourceNotFoundError:
            return None

    def _read_page(
        self, query: str, parameters: dict[str, str], page_size: int
    ) -> tuple[list[TableEntity], bool]:
        """Up to ``page_size`` rows, and whether storage has more. Storage may answer a short page
        with a continuation (at a partition boundary, after 5 s), so this keeps asking; the SDK's
        own tokens never leave this method."""
        found: list[TableEntity] = []
        token: Any = None
        while True:
            pages: Any = self._table.query_entities(
                query, parameters=parameters, results_per_page=page_size - len(found)
            ).by_page(continuation_token=token)
            found.extend(next(pages, []))
            token = pages.continuation_token
            if len(found) >= page_size or not token:
                return found, bool(token)

    # -- writing ---------------------------------------------------------------------------------

    def create(self, transfer: Transfer, *, history: HistoryEntry) -> TransferRecord:
        """Claim the customer's index row, then write the header and its first history row."""
        entry = replace(history, seq=1)
        operations: list[tuple[str, dict[str, Any]]] = [
            ("create", transfer_row(transfer, version=1)),
            ("create", history_row(transfer.id, entry)),
        ]
        check_transaction(entity for _, entity in operations)
        self._claim_customer(transfer)
        try:
            self._submit(operations)
        except BaseException:
            self._release_customer(transfer)
            raise
        return self.get(transfer.id)

    def commit(self, record: TransferRecord, change: Change) -> TransferRecord:
        """Write a change as one transaction, conditional on the record being unchanged since read."""
        transfer_id = record.transfer.id
        if change.transfer.id != transfer_id or any(line.transfer_id != transfer_id for line in change.lines):
            raise ValueError("a change must stay inside its own transfer")
        history = tuple(
            replace(entry, seq=record.version + i) for i, entry in enumerate(change.history, start=1)
        )
        operations: list[tuple[str, dict[str, Any]]] = [
            ("update", transfer_row(change.transfer, version=record.version + len(history)))
        ]
        etags = {HEADER: record.etags[HEADER]}
        for line in change.lines:
            key = line_key(line.id)
            operations.append(("update" if key in record.etags else "create", line_row(line)))
            if key in record.etags:
                etags[key] = record.etags[key]
        operations.extend(("create", history_row(transfer_id, entry)) for entry in history)
        self._submit(operations, etags)
        if change.transfer.state in TERMINAL:
            self._release_customer(change.transfer)
        return self.get(transfer_id)

    def update(
        self, transfer_id: str, decide: Callable[[TransferRecord], Change | None], *, attempts: int = 8
    ) -> TransferRecord:
        """Read, decide, commit; on a conflict re-read and decide again on the fresh record.

        ``decide`` must be a pure function of the record it is given, so re-applying it after a
        conflict is always safe. It returns ``None`` when nothing needs to change.
        """
        for _ in range(attempts):
            record = self.get(transfer_id)
            change = decide(record)
            if change is None:
                return record
            try:
                return self.commit(record, change)
            except ConcurrencyError:
                continue
        raise ConcurrencyError(f"transfer {transfer_id} kept changing; gave up after {attempts} attempts")

    def has_event(self, transfer_id: str, event_id: str) -> bool:
        """Whether this event (a webhook delivery, say) was already taken in for the transfer."""
        try:
            self._table.get_entity(transfer_id, event_key(event_id))
        except ResourceNotFoundError:
            return False
        return True

    def remember_event(self, transfer_id: str, event_id: str, *, kind: str) -> None:
        """Note an event as taken in; a second note of the same event is no error."""
        entity = {"PartitionKey": transfer_id, "RowKey": event_key(event_id), "Kind": kind}
        check_entity(entity)
        try:
            self._table.create_entity(entity)
        except ResourceExistsError:
            return

    def _submit(
        self, operations: list[tuple[str, dict[str, Any]]], etags: Mapping[str, str] | None = None
    ) -> None:
        check_transaction(entity for _, entity in operations)
        batch: list[Any] = []
        for kind, row in operations:
            entity = typed_entity(row)
            etag = (etags or {}).get(entity["RowKey"])
            if kind == "update":
                options: dict[str, Any] = {"mode": UpdateMode.REPLACE}
                if etag is not None:
                    options |= {"etag": etag, "match_condition": MatchConditions.IfNotModified}
                batch.append((kind, entity, options))
            else:
                batch.append((kind, entity))
        try:
            self._table.submit_transaction(batch)
        except HttpResponseError as error:
            mapped = transaction_error(error)
            if mapped is error:
                raise
            raise mapped from error

    def _claim_customer(self, transfer: Transfer) -> None:
        entity = {
            "PartitionKey": ACTIVE_PARTITION,
            "RowKey": claim_key(transfer.customer_tenant_id),
            "TransferId": transfer.id,
        }
        check_entity(entity)
        for _ in range(3):
            try:
                self._table.create_entity(entity)
                return
            except ResourceExistsError:
                if not self._release_stale_claim(transfer.customer_tenant_id):
                    existing = self.active_transfer_id(transfer.customer_tenant_id)
                    if existing is not None:
                        raise ActiveTransferExistsError(transfer.customer_tenant_id, existing) from None
        raise ConcurrencyError(f"customer {transfer.customer_tenant_id} is being claimed concurrently")

    def _release_stale_claim(self, customer_tenant_id: str) -> bool:
        """Drop an index row left behind by a crash: its transfer is missing or already finished."""
        try:
            row = self._table.get_entity(ACTIVE_PARTITION, claim_key(customer_tenant_id))
        except ResourceNotFoundError:
            return True
        header = self._header(str(row["TransferId"]))
        # a missing header: give a create in flight five minutes to write it
        stale = header.state in TERMINAL if header is not None else _age(row) > 300
        return stale and self._delete_unchanged(row)

    def _release_customer(self, transfer: Transfer) -> None:
        try:
            row = self._table.get_entity(ACTIVE_PARTITION, claim_key(transfer.customer_tenant_id))
        except ResourceNotFoundError:
            return
        if row["TransferId"] == transfer.id:
            self._delete_unchanged(row)

    def _delete_unchanged(self, row: Any) -> bool:
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
