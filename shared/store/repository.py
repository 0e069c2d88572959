"""The transfer record on Azure Table Storage: reads, commits and listings (no business rules).

One partition per transfer: a ``header`` row, one ``line-<sku>`` row per line and an append-only
``history-<seq>`` row per step. Every commit is one entity-group transaction whose header update is
conditional on the ETag read, so two writers can never both win. One more partition,
``active-transfers``, is the index: a ``customer-<tenant>`` claim per transfer in flight, whose
insert makes "one active transfer per customer" atomic and which the timer reads instead of every
row (:mod:`shared.store.claims`), and every transfer's list row, which the listings read
(:mod:`shared.store.index`). The list row is written after a commit that changed what it shows,
never otherwise.

Reads take only what a step needs: :meth:`TransferStore.get` the header and lines (the version is
the header's), :meth:`TransferStore.history` one page of history at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from shared.domain import (
    TERMINAL,
    Change,
    HistoryEntry,
    Line,
    Transfer,
    is_transfer_id,
    merged,
)
from shared.domain.summary import Listing, listing_of
from shared.store.claims import CustomerClaims
from shared.store.connection import TABLE_STORAGE, AttemptBudget, client_options
from shared.store.errors import (
    ConcurrencyError,
    InvalidContinuationTokenError,
    StoreError,
    TransferNotFoundError,
    storage_client,
    transaction_error,
)
from shared.store.index import ListingPage, ListQuery, TransferIndex
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
from shared.store.listing_rows import INDEX_PARTITION
from shared.store.paging import read_page
from shared.store.records import HistoryPage, TransferPage, TransferRecord, committed, record_of
from shared.store.relationships import RelationshipIndex
from shared.store.rows import (
    HEADER,
    event_key,
    history_from_row,
    history_key,
    history_row,
    line_key,
    line_row,
    transfer_from_row,
    transfer_row,
)
from shared.store.tokens import decode_seq, decode_token, encode_token
from shared.store.watch import WatchedOriginals

if TYPE_CHECKING:
    from azure.data.tables import TableEntity

    from shared.store.connection import StorageConnection


LOG = logging.getLogger(__name__)

TABLE_NAME = "transfers"


ACTIVE_PARTITION = INDEX_PARTITION


@storage_client(TABLE_STORAGE)
class TransferStore:
    def __init__(self, table: TableClient) -> None:
        self._table = table
        self.leases = TransferLeases(table)  # one step runner (or admin write) per transfer at a time
        self.watched = WatchedOriginals(table)  # completed transfers whose originals have not lapsed
        self._index = TransferIndex(table)
        self._claims = CustomerClaims(table, self._header, self.sync_listing)

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

    @property
    def index(self) -> TransferIndex:
        return self._index

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
        lines = [r for r in rows if r["RowKey"].startswith("line-")]
        return record_of(header, lines, {r["RowKey"]: str(r.metadata["etag"]) for r in rows})

    def history(
        self, transfer_id: str, *, page_size: int = 100, continuation_token: str | None = None
    ) -> HistoryPage:
        """One page of a transfer's history, oldest first; pass the token back for the next."""
        check_page_size(page_size)
        check_key(transfer_id, name="transfer id", from_input=True)
        after = 0
        if continuation_token is not None:
            after = decode_seq(decode_token(continuation_token, f"history:{transfer_id}"))
        rows, more = read_page(
            self._table,
            "PartitionKey eq @pk and RowKey gt @after and RowKey lt @end",
            {"pk": transfer_id, "after": history_key(after) if after else "history-", "end": "history."},
            page_size,
        )
        entries = tuple(history_from_row(r) for r in rows)
        token = encode_token(f"history:{transfer_id}", str(entries[-1].seq)) if more and entries else None
        return HistoryPage(entries, token)

    def active_transfer_id(self, customer_tenant_id: str) -> str | None:
        return self._claims.transfer_id(customer_tenant_id)

    def list_transfers(
        self, query: ListQuery | None = None, *, page_size: int = 50, continuation_token: str | None = None
    ) -> ListingPage:
        """One page of list rows from the index, in the query's order (newest first by default);
        the token is bound to the query's filters."""
        return self._index.page(query or ListQuery(), page_size, continuation_token)

    def counts(self, attention_before: datetime) -> dict[str, int]:
        """Transfers per stage, and how many need attention (see :meth:`TransferIndex.counts`)."""
        return self._index.counts(attention_before)

    def list_active(self, *, page_size: int = 100, continuation_token: str | None = None) -> TransferPage:
        """Transfers in flight, from the claims and a point read of each header.

        A claim whose header is missing (a create in flight or a crash) or already terminal (a
        release still to come) is no active transfer: the terminal one's list row is put right and
        its claim released. A claim whose ``ListedVersion`` trails the header's ``ListingVersion``
        (a list write lost to a crash) gets its list row rewritten.
        """
        check_page_size(page_size)
        after = ""
        if continuation_token is not None:
            after = decode_token(continuation_token, "active")
            if not after.startswith("customer-") or not is_valid_key(after):
                raise InvalidContinuationTokenError
        claims, more = self._claims.page(after, page_size)
        found = []
        for claim in claims:
            row = self._header_row(str(claim["TransferId"]))
            if row is None:
                continue
            transfer = transfer_from_row(row)
            if transfer.state in TERMINAL:
                self._claims.settle_finished(claim)
                continue
            if stored_int(claim.get("ListedVersion", -1)) < stored_int(row.get("ListingVersion", 0)):
                self.sync_listing(transfer.id)
            found.append(transfer)
        return TransferPage(
            tuple(found), encode_token("active", claims[-1]["RowKey"]) if more and claims else None
        )

    def sync_listing(self, transfer_id: str) -> None:
        """Put the transfer's list row right from its stored record (after a write lost to a crash)."""
        try:
            record = self.get(transfer_id)
        except TransferNotFoundError:
            return
        listing = listing_of(record.transfer, record.lines, record.listed_at)
        self._index.write(listing, record.listing_version)

    def reindex(self, *, page_size: int = 200) -> int:
        """Write every stored transfer's list row (those stored before the index existed); idempotent.
        Reads every header: an operator's one-off, never a request's."""
        written, token = 0, None
        while True:
            pages: Any = self._table.query_entities(
                "RowKey eq @header",
                parameters={"header": HEADER},
                results_per_page=page_size,
                select=["PartitionKey"],
            ).by_page(continuation_token=token)
            for row in next(pages, []):
                if is_transfer_id(str(row["PartitionKey"])):
                    self.sync_listing(str(row["PartitionKey"]))
                    written += 1
            token = pages.continuation_token
            if not token:
                return written

    def _header_row(self, transfer_id: str) -> TableEntity | None:
        if not is_valid_key(transfer_id):
            return None
        try:
            return self._table.get_entity(transfer_id, HEADER)
        except ResourceNotFoundError:
            return None

    def _header(self, transfer_id: str) -> Transfer | None:
        row = self._header_row(transfer_id)
        return transfer_from_row(row) if row is not None else None

    # -- writing ---------------------------------------------------------------------------------

    def create(self, transfer: Transfer, *, history: HistoryEntry) -> TransferRecord:
        """Claim the customer's index row, write the header and its first history row, then list it."""
        entry = replace(history, seq=1)
        listing = listing_of(transfer, ())
        operations: list[tuple[str, dict[str, Any]]] = [
            ("create", _header_entity(transfer, 1, 1, listing)),
            ("create", history_row(transfer.id, entry)),
        ]
        check_transaction(entity for _, entity in operations)
        self._claims.claim(transfer)
        try:
            answers = self._submit(operations)
        except BaseException:
            self._claims.release(transfer)
            raise
        self._list(listing, 1)
        return committed(TransferRecord(transfer, (), 0, {}), operations, answers) or self.get(transfer.id)

    def commit(self, record: TransferRecord, change: Change) -> TransferRecord:
        """Write a change as one transaction, conditional on the record being unchanged since read;
        then, only if it changed what the list shows, the list row."""
        transfer_id = record.transfer.id
        if change.transfer.id != transfer_id or any(line.transfer_id != transfer_id for line in change.lines):
            raise ValueError("a change must stay inside its own transfer")
        history = tuple(
            replace(entry, seq=record.version + i) for i, entry in enumerate(change.history, start=1)
        )
        version = record.version + len(history)
        after = listing_of(change.transfer, _lines_after(record.lines, change.lines))
        relisted = after.digest != record.listing_digest
        if not relisted:
            after = replace(after, updated_at=record.listed_at or after.updated_at)
        listing_version = version if relisted else record.listing_version
        operations: list[tuple[str, dict[str, Any]]] = [
            ("update", _header_entity(change.transfer, version, listing_version, after))
        ]
        etags = {HEADER: record.etags[HEADER]}
        for line in change.lines:
            key = line_key(line.id)
            operations.append(("update" if key in record.etags else "create", line_row(line)))
            if key in record.etags:
                etags[key] = record.etags[key]
        operations.extend(("create", history_row(transfer_id, entry)) for entry in history)
        answers = self._submit(operations, etags)
        if relisted:
            self._list(after, listing_version)
        if change.transfer.state in TERMINAL:
            self._claims.release(change.transfer)
        return committed(record, operations, answers) or self.get(transfer_id)

    def _list(self, listing: Listing, version: int) -> None:
        """The list row after a commit: the commit stands whatever becomes of it, and a row not
        written now is written by the timer's scan (:meth:`list_active`)."""
        try:
            if self._index.write(listing, version):
                return
            LOG.warning("transfer %s: list row left for the scan to write (busy)", listing.id)
        except (AzureError, StoreError) as error:
            LOG.warning(
                "transfer %s: list row left for the scan to write: %s", listing.id, type(error).__name__
            )

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
    ) -> list[Mapping[str, Any]]:
        """Submit one transaction; Azure's answer per operation, in order (each with its ``etag``)."""
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
            return self._table.submit_transaction(batch)
        except HttpResponseError as error:
            mapped = transaction_error(error)
            if mapped is error:
                raise
            raise mapped from error


def _header_entity(
    transfer: Transfer, version: int, listing_version: int, listing: Listing
) -> dict[str, Any]:
    """The header row, with the version whose commit last changed the list row, when, and what it shows."""
    return {
        **transfer_row(transfer, version=version),
        "ListingVersion": listing_version,
        "ListedAt": listing.updated_at,
        "ListingDigest": listing.digest,
    }


def _lines_after(lines: tuple[Line, ...], changed: tuple[Line, ...]) -> list[Line]:
    """The lines once a change is committed: changed ones in place, new ones after."""
    known = {line.id for line in lines}
    return [*merged(lines, changed), *(line for line in changed if line.id not in known)]
