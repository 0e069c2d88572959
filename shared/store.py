"""The transfer record on Azure Table Storage (no business rules).

One partition per transfer: a ``header`` row, one ``line-<sku>`` row per line and an
append-only ``history-<seq>`` row per step. Every commit is one entity-group transaction whose
header update is conditional on the ETag read, so two writers can never both win. One more
partition, ``active-transfers``, holds a ``customer-<tenant>`` row per transfer in flight: its
insert makes "one active transfer per customer" atomic, and it is the index the timer and the
listings of an in-flight state read instead of scanning every row.

Reads take only what a step needs: :meth:`TransferStore.get` the header and lines (the
version is the header's), :meth:`TransferStore.history` one page of history at a time.

Azure enforces limits that Azurite does not (100 operations and 4 MiB per transaction, 1 MiB
and 252 properties per entity, 1 KiB keys, forbidden key characters, 64-bit integers), so they
are checked here before any request. Continuation tokens are this store's own (a position in
its key order, bound to the listing that issued it), so a forged one cannot reach the SDK.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import (
    EdmType,
    EntityProperty,
    TableClient,
    TableEntity,
    UpdateMode,
)
from azure.data.tables._serialize import _add_entity_properties

from .domain import (
    TERMINAL,
    Change,
    GdapRequest,
    HistoryEntry,
    Line,
    LineState,
    LineTransfer,
    PartnerTransferRequest,
    Purchase,
    Replacement,
    SourceChannel,
    SourcePartner,
    Transfer,
    TransferOptions,
    TransferState,
    UserFailure,
    is_transfer_id,
)

if TYPE_CHECKING:
    from .settings import StorageConnection

TABLE_NAME = "transfers"
MAX_TRANSACTION_OPERATIONS = 100
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
MAX_ENTITY_BYTES = 1024 * 1024
MAX_CUSTOM_PROPERTIES = 252
#: PartitionKey and RowKey: "up to 1 KiB in size" (Table service data model), counted in UTF-16
#: like every string Azure stores, so at most 512 characters of the Basic Multilingual Plane.
MAX_KEY_BYTES = 1024
MAX_STRING_BYTES = 64 * 1024
MIN_INT32, MAX_INT32 = -(2**31), 2**31 - 1
MIN_INT64, MAX_INT64 = -(2**63), 2**63 - 1
#: A transaction's payload also carries, per operation, a multipart boundary, part headers and
#: the request line; 512 bytes covers them (the keys in the URL are counted separately).
OPERATION_OVERHEAD_BYTES = 512
MAX_TOKEN_CHARS = 2048
ACTIVE_PARTITION = "active-transfers"
_HEADER = "header"
#: Per storage call: at most 3 retries (0.8 s, 1.6 s, 3.2 s apart), 5 s to connect, 20 s to read.
_BOUNDS: dict[str, Any] = {"retry_total": 3, "connection_timeout": 5, "read_timeout": 20}
_TOKEN_TEXT = re.compile(r"[A-Za-z0-9_-]+")
_FORBIDDEN_KEY_CHARACTERS = frozenset("/\\#?") | {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))}
_SYSTEM_PROPERTIES = frozenset({"PartitionKey", "RowKey", "Timestamp", "etag"})


class StoreError(Exception):
    """Base of the store's own errors."""


class StorageLimitError(StoreError, ValueError):
    """The request would break an Azure Table Storage limit (or storage said it did).

    ``from_input`` is true when the offending value came from the caller (a key to look up), so
    the answer is a 400; otherwise the app itself built something too large.
    """

    def __init__(self, message: str, *, from_input: bool = False) -> None:
        super().__init__(message)
        self.from_input = from_input


class TransferNotFoundError(StoreError, LookupError):
    def __init__(self, transfer_id: str) -> None:
        super().__init__(f"no transfer with id {transfer_id!r}")
        self.transfer_id = transfer_id


class ConcurrencyError(StoreError):
    """Someone else changed the transfer since it was read; re-read and re-apply."""


class ActiveTransferExistsError(StoreError):
    def __init__(self, customer_tenant_id: str, transfer_id: str) -> None:
        super().__init__(f"customer {customer_tenant_id} already has an active transfer {transfer_id}")
        self.customer_tenant_id = customer_tenant_id
        self.transfer_id = transfer_id


@dataclass(frozen=True)
class TransferRecord:
    """A transfer as read: header, lines, the header's version (its last history seq), and the
    ETags its next commit is conditional on. History is read apart, a page at a time."""

    transfer: Transfer
    lines: tuple[Line, ...]
    version: int
    etags: Mapping[str, str]

    def line(self, line_id: str) -> Line:
        for line in self.lines:
            if line.id == line_id:
                return line
        raise KeyError(line_id)


@dataclass(frozen=True)
class TransferPage:
    transfers: tuple[Transfer, ...]
    continuation_token: str | None


@dataclass(frozen=True)
class HistoryPage:
    """History entries oldest first, and the token for the next page (None at the end)."""

    entries: tuple[HistoryEntry, ...]
    continuation_token: str | None


class InvalidContinuationTokenError(StoreError, ValueError):
    """A continuation token that this store did not hand out for this listing."""

    def __init__(self) -> None:
        super().__init__("the continuation token is not one this API handed out for this listing")


class TransferStore:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    @classmethod
    def connect(cls, storage: StorageConnection, table_name: str = TABLE_NAME) -> TransferStore:
        """A store over a connection string (Azurite, local) or a service URI and managed identity.

        The SDK's defaults (10 retries backing off up to 120 s, no read timeout) could hold an
        HTTP-triggered function past its 230 s; these bounds keep an outage a prompt 503.
        """
        if storage.connection_string is not None:
            return cls(TableClient.from_connection_string(storage.connection_string, table_name, **_BOUNDS))
        assert storage.table_service_uri is not None
        return cls(
            TableClient(
                endpoint=storage.table_service_uri,
                table_name=table_name,
                credential=storage.identity(),
                **_BOUNDS,
            )
        )

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
                parameters={"pk": transfer_id, "header": _HEADER, "lines": "line-", "end": "line."},
            )
        )
        header = next((r for r in rows if r["RowKey"] == _HEADER), None)
        if header is None:
            raise TransferNotFoundError(transfer_id)
        lines = tuple(_line_from(r) for r in rows if r["RowKey"].startswith("line-"))
        etags = {r["RowKey"]: str(r.metadata["etag"]) for r in rows}
        return TransferRecord(_transfer_from(header), lines, _int(header["Version"]), etags)

    def history(
        self, transfer_id: str, *, page_size: int = 100, continuation_token: str | None = None
    ) -> HistoryPage:
        """One page of a transfer's history, oldest first; pass the token back for the next."""
        _check_page_size(page_size)
        check_key(transfer_id, name="transfer id", from_input=True)
        after = 0
        if continuation_token is not None:
            after = _seq(_decode_token(continuation_token, f"history:{transfer_id}"))
        rows, more = self._read_page(
            "PartitionKey eq @pk and RowKey gt @after and RowKey lt @end",
            {"pk": transfer_id, "after": _history_key(after) if after else "history-", "end": "history."},
            page_size,
        )
        entries = tuple(_history_from(r) for r in rows)
        token = _encode_token(f"history:{transfer_id}", str(entries[-1].seq)) if more and entries else None
        return HistoryPage(entries, token)

    def active_transfer_id(self, customer_tenant_id: str) -> str | None:
        try:
            row = self._table.get_entity(ACTIVE_PARTITION, _claim_key(customer_tenant_id))
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
        _check_page_size(page_size)
        scope = f"transfers:{state or '*'}"
        after = ""
        if continuation_token is not None:
            after = _decode_token(continuation_token, scope)
            if not is_transfer_id(after):
                raise InvalidContinuationTokenError
        if state is not None and state not in TERMINAL:
            return self._list_in_flight(state, page_size, after, scope)
        query = "RowKey eq @rk and PartitionKey gt @after" + (" and State eq @state" if state else "")
        parameters = {"rk": _HEADER, "after": after, **({"state": str(state)} if state else {})}
        rows, more = self._read_page(query, parameters, page_size)
        found = tuple(_transfer_from(row) for row in rows)
        return TransferPage(found, _encode_token(scope, found[-1].id) if more and found else None)

    def list_active(self, *, page_size: int = 100, continuation_token: str | None = None) -> TransferPage:
        """Transfers in flight, from the index partition and a point read of each header.

        A claim whose header is missing (a create in flight or a crash) or already terminal (a
        release still to come) is skipped: it is not an active transfer.
        """
        _check_page_size(page_size)
        after = ""
        if continuation_token is not None:
            after = _decode_token(continuation_token, "active")
            if not after.startswith("customer-") or not _is_valid_key(after):
                raise InvalidContinuationTokenError
        rows, more = self._read_page(
            "PartitionKey eq @pk and RowKey gt @after", {"pk": ACTIVE_PARTITION, "after": after}, page_size
        )
        headers = (self._header(str(row["TransferId"])) for row in rows)
        found = tuple(t for t in headers if t is not None and t.state not in TERMINAL)
        return TransferPage(found, _encode_token("active", rows[-1]["RowKey"]) if more and rows else None)

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
                return TransferPage(tuple(found), _encode_token(scope, transfer_id) if more else None)
        return TransferPage(tuple(found), None)

    def _header(self, transfer_id: str) -> Transfer | None:
        if not _is_valid_key(transfer_id):
            return None
        try:
            return _transfer_from(self._table.get_entity(transfer_id, _HEADER))
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
            ("create", _transfer_entity(transfer, version=1)),
            ("create", _history_entity(transfer.id, entry)),
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
            ("update", _transfer_entity(change.transfer, version=record.version + len(history)))
        ]
        etags = {_HEADER: record.etags[_HEADER]}
        for line in change.lines:
            key = _line_key(line.id)
            operations.append(("update" if key in record.etags else "create", _line_entity(line)))
            if key in record.etags:
                etags[key] = record.etags[key]
        operations.extend(("create", _history_entity(transfer_id, entry)) for entry in history)
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
            self._table.get_entity(transfer_id, _event_key(event_id))
        except ResourceNotFoundError:
            return False
        return True

    def remember_event(self, transfer_id: str, event_id: str, *, kind: str) -> None:
        """Note an event as taken in; a second note of the same event is no error."""
        entity = {"PartitionKey": transfer_id, "RowKey": _event_key(event_id), "Kind": kind}
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
            entity = _typed(row)
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
            "RowKey": _claim_key(transfer.customer_tenant_id),
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
            row = self._table.get_entity(ACTIVE_PARTITION, _claim_key(customer_tenant_id))
        except ResourceNotFoundError:
            return True
        header = self._header(str(row["TransferId"]))
        # a missing header: give a create in flight five minutes to write it
        stale = header.state in TERMINAL if header is not None else _age(row) > 300
        if not stale:
            return False
        try:
            self._table.delete_entity(
                row, etag=row.metadata["etag"], match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    def _release_customer(self, transfer: Transfer) -> None:
        try:
            row = self._table.get_entity(ACTIVE_PARTITION, _claim_key(transfer.customer_tenant_id))
        except ResourceNotFoundError:
            return
        if row["TransferId"] != transfer.id:
            return
        try:
            self._table.delete_entity(
                row, etag=row.metadata["etag"], match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return


def transaction_error(error: HttpResponseError) -> Exception:
    """What a refused transaction means here: a conflict to re-read and retry, a limit storage
    enforces that the checks missed (never raw), or the storage error itself (a 503 upstream)."""
    code = getattr(error, "error_code", None)
    if error.status_code in (409, 412) or code in ("UpdateConditionNotSatisfied", "EntityAlreadyExists"):
        return ConcurrencyError(f"transfer changed concurrently ({code})")
    if error.status_code in (400, 413):
        return StorageLimitError(f"Table Storage refused the transaction ({code or error.status_code})")
    return error


# -- Azure limits ---------------------------------------------------------------------------------


def check_key(value: str, *, name: str = "key", from_input: bool = False) -> None:
    if not value:
        raise StorageLimitError(f"{name} must not be empty", from_input=from_input)
    if not _is_unicode(value):
        raise StorageLimitError(f"{name} is not valid Unicode text", from_input=from_input)
    size = _utf16_bytes(value)
    if size > MAX_KEY_BYTES:
        raise StorageLimitError(
            f"{name} is {size} bytes in UTF-16; Azure allows {MAX_KEY_BYTES} (1 KiB)", from_input=from_input
        )
    bad = sorted({c for c in value if c in _FORBIDDEN_KEY_CHARACTERS})
    if bad:
        raise StorageLimitError(
            f"{name} {value[:100]!r} contains characters Azure Tables forbid in keys: {bad}",
            from_input=from_input,
        )


def _is_valid_key(value: str) -> bool:
    try:
        check_key(value)
    except StorageLimitError:
        return False
    return True


def encode_key(value: str) -> str:
    """An external id made safe for a key: forbidden characters and '%' percent-encoded."""
    return "".join(f"%{ord(c):02X}" if c in _FORBIDDEN_KEY_CHARACTERS or c == "%" else c for c in value)


def entity_size(entity: Mapping[str, Any]) -> int:
    """Bytes Azure counts for an entity (its documented formula: UTF-16 strings, fixed-size scalars)."""
    size = 4 + _utf16_bytes(str(entity["PartitionKey"])) + _utf16_bytes(str(entity["RowKey"]))
    for name, value in entity.items():
        if name in _SYSTEM_PROPERTIES:
            continue
        size += 8 + 2 * len(name) + _value_size(value)
    return size


def check_entity(entity: Mapping[str, Any]) -> None:
    check_key(str(entity["PartitionKey"]), name="PartitionKey")
    check_key(str(entity["RowKey"]), name="RowKey")
    custom = [name for name in entity if name not in _SYSTEM_PROPERTIES]
    where = f"entity {entity['PartitionKey']}/{entity['RowKey']}"
    if len(custom) > MAX_CUSTOM_PROPERTIES:
        raise StorageLimitError(f"{where} has {len(custom)} properties; Azure allows {MAX_CUSTOM_PROPERTIES}")
    for name in custom:
        value = entity[name]
        if isinstance(value, str) and not _is_unicode(value):
            raise StorageLimitError(f"{where}: property {name} is not valid Unicode text")
        if isinstance(value, str) and _utf16_bytes(value) > MAX_STRING_BYTES:
            raise StorageLimitError(f"{where}: property {name} is over Azure's 64 KiB string limit")
        if isinstance(value, int) and not isinstance(value, bool) and not MIN_INT64 <= value <= MAX_INT64:
            raise StorageLimitError(f"{where}: property {name} is outside Azure's 64-bit integer range")
    size = entity_size(entity)
    if size > MAX_ENTITY_BYTES:
        raise StorageLimitError(f"{where} is {size} bytes; Azure allows {MAX_ENTITY_BYTES} (1 MiB)")


def check_transaction(entities: Iterable[Mapping[str, Any]]) -> None:
    batch = list(entities)
    if len(batch) > MAX_TRANSACTION_OPERATIONS:
        raise StorageLimitError(
            f"a transaction of {len(batch)} operations; Azure allows {MAX_TRANSACTION_OPERATIONS}"
        )
    if len({e["PartitionKey"] for e in batch}) > 1:
        raise StorageLimitError("a transaction must stay inside one partition")
    keys = [e["RowKey"] for e in batch]
    if len(keys) != len(set(keys)):
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        raise StorageLimitError(f"a transaction may touch each entity once; repeated: {repeated}")
    for entity in batch:
        check_entity(entity)
    total = sum(wire_size(e) for e in batch)
    if total > MAX_TRANSACTION_BYTES:
        raise StorageLimitError(
            f"a transaction of {total} bytes; Azure allows {MAX_TRANSACTION_BYTES} (4 MiB)"
        )


def wire_size(entity: Mapping[str, Any]) -> int:
    """Bytes one operation adds to a transaction's payload, measured as the SDK sends it: JSON
    with every non-ASCII character escaped (``é`` is six bytes, an emoji twelve), the keys
    percent-encoded in the request URL, and the multipart framing."""
    body = json.dumps(_add_entity_properties(_typed(entity)))
    keys = quote(str(entity["PartitionKey"]), safe="") + quote(str(entity["RowKey"]), safe="")
    return len(body) + len(keys) + OPERATION_OVERHEAD_BYTES


def _typed(entity: Mapping[str, Any]) -> dict[str, Any]:
    """The entity as the SDK must get it: it sends a plain int as Int32, so wider ones say Int64."""
    return {
        name: EntityProperty(value, EdmType.INT64)
        if isinstance(value, int) and not isinstance(value, bool) and not MIN_INT32 <= value <= MAX_INT32
        else value
        for name, value in entity.items()
    }


def _int(value: Any) -> int:
    """A stored integer: Int64 properties come back wrapped in an ``EntityProperty``."""
    return int(value.value if isinstance(value, EntityProperty) else value)


def _value_size(value: Any) -> int:
    if isinstance(value, bool):
        return 1
    if isinstance(value, int):
        return 4 if -(2**31) <= value < 2**31 else 8
    if isinstance(value, float | datetime):
        return 8
    if isinstance(value, bytes):
        return 4 + len(value)
    if value is None:
        return 0
    return 4 + _utf16_bytes(str(value))


def _utf16_bytes(text: str) -> int:
    return len(text.encode("utf-16-le", errors="surrogatepass"))


def _is_unicode(text: str) -> bool:
    """False for a lone surrogate, which no storage request can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_page_size(page_size: int) -> None:
    if not 1 <= page_size <= 1000:
        raise ValueError("page_size must be from 1 to 1000")


# -- rows <-> domain ------------------------------------------------------------------------------


def _claim_key(customer_tenant_id: str) -> str:
    return f"customer-{encode_key(customer_tenant_id.lower())}"


def _event_key(event_id: str) -> str:
    return f"event-{encode_key(event_id)}"


def _history_key(seq: int) -> str:
    return f"history-{seq:010d}"


def _line_key(line_id: str) -> str:
    return f"line-{encode_key(line_id)}"


def _transfer_entity(t: Transfer, *, version: int) -> dict[str, Any]:
    return _without_none(
        {
            "PartitionKey": t.id,
            "RowKey": _HEADER,
            "Kind": "transfer",
            "Version": version,
            "CustomerTenantId": t.customer_tenant_id,
            "CustomerCountry": t.customer_country,
            "SourceChannel": str(t.source_channel),
            "State": str(t.state),
            "Reason": t.reason,
            "ResumeState": str(t.resume_state) if t.resume_state else None,
            "ContactEmail": t.contact_email,
            "TermDuration": t.options.term_duration,
            "BillingCycle": t.options.billing_cycle,
            "PurchaseTiming": t.options.purchase_timing,
            "PurchaseLeadDays": t.options.purchase_lead_days,
            "InvitationUrl": t.invitation_url,
            "Gdap": json.dumps(asdict(t.gdap)) if t.gdap else None,
            "Purchase": json.dumps(asdict(t.purchase)) if t.purchase else None,
            "SourcePartner": json.dumps(asdict(t.source_partner)) if t.source_partner else None,
            "PartnerTransfer": json.dumps(asdict(t.partner_transfer)) if t.partner_transfer else None,
            "ApiCalls": t.api_calls,
            "Planned": t.planned,
            "CreatedAt": t.created_at,
            "UpdatedAt": t.updated_at,
        }
    )


def _transfer_from(row: Mapping[str, Any]) -> Transfer:
    resume = row.get("ResumeState")
    return Transfer(
        id=row["PartitionKey"],
        customer_tenant_id=row["CustomerTenantId"],
        customer_country=row["CustomerCountry"],
        source_channel=SourceChannel(row["SourceChannel"]),
        state=TransferState(row["State"]),
        created_at=_utc(row["CreatedAt"]),
        updated_at=_utc(row["UpdatedAt"]),
        contact_email=row.get("ContactEmail"),
        options=TransferOptions(
            term_duration=row["TermDuration"],
            billing_cycle=row["BillingCycle"],
            purchase_timing=row.get("PurchaseTiming", "onAcceptance"),
            purchase_lead_days=_int(row.get("PurchaseLeadDays", 14)),
        ),
        invitation_url=row.get("InvitationUrl"),
        gdap=_gdap_from(row.get("Gdap")),
        purchase=Purchase(**json.loads(row["Purchase"])) if row.get("Purchase") else None,
        source_partner=SourcePartner(**json.loads(row["SourcePartner"]))
        if row.get("SourcePartner")
        else None,
        partner_transfer=PartnerTransferRequest(**json.loads(row["PartnerTransfer"]))
        if row.get("PartnerTransfer")
        else None,
        api_calls=_int(row.get("ApiCalls", 0)),
        planned=bool(row.get("Planned", False)),
        reason=row.get("Reason"),
        resume_state=TransferState(resume) if resume else None,
    )


def _gdap_from(text: str | None) -> GdapRequest | None:
    if not text:
        return None
    data = json.loads(text)
    return GdapRequest(**{**data, "roles": tuple(data["roles"])})


def _line_entity(line: Line) -> dict[str, Any]:
    return _without_none(
        {
            "PartitionKey": line.transfer_id,
            "RowKey": _line_key(line.id),
            "Kind": "line",
            "SourceSkuId": line.source_sku_id,
            "SourceSkuPartNumber": line.source_sku_part_number,
            "Quantity": line.quantity,
            "State": str(line.state),
            "OriginalExpires": line.original_expires,
            "Decision": line.decision,
            "Replacements": json.dumps([asdict(r) for r in line.replacements]),
            "OriginalSubscriptionIds": json.dumps(line.original_subscription_ids),
            "Explanation": line.explanation,
            "OrderIds": json.dumps(line.order_ids),
            "SubscriptionIds": json.dumps(line.subscription_ids),
            "UsersToMove": line.users_to_move,
            "UsersMoved": line.users_moved,
            "UsersFailed": line.users_failed,
            "UsersPending": line.users_pending,
            "UserFailures": json.dumps([asdict(f) for f in line.user_failures]),
            "PurchaseDue": line.purchase_due,
            "PartnerTransfer": json.dumps(asdict(line.partner_transfer)) if line.partner_transfer else None,
            "Reason": line.reason,
            "ResumeState": str(line.resume_state) if line.resume_state else None,
        }
    )


def _line_from(row: Mapping[str, Any]) -> Line:
    resume = row.get("ResumeState")
    expires = row.get("OriginalExpires")
    return Line(
        transfer_id=row["PartitionKey"],
        source_sku_id=row["SourceSkuId"],
        source_sku_part_number=row["SourceSkuPartNumber"],
        quantity=_int(row["Quantity"]),
        state=LineState(row["State"]),
        original_expires=_utc(expires) if expires else None,
        decision=row.get("Decision"),
        replacements=tuple(Replacement(**r) for r in json.loads(row["Replacements"])),
        original_subscription_ids=tuple(json.loads(row["OriginalSubscriptionIds"])),
        explanation=row.get("Explanation"),
        order_ids=tuple(json.loads(row["OrderIds"])),
        subscription_ids=tuple(json.loads(row["SubscriptionIds"])),
        users_to_move=_int(row["UsersToMove"]),
        users_moved=_int(row["UsersMoved"]),
        users_failed=_int(row["UsersFailed"]),
        users_pending=_int(row.get("UsersPending", 0)),
        user_failures=tuple(UserFailure(**f) for f in json.loads(row.get("UserFailures") or "[]")),
        purchase_due=_utc(row["PurchaseDue"]) if row.get("PurchaseDue") else None,
        partner_transfer=LineTransfer(**json.loads(row["PartnerTransfer"]))
        if row.get("PartnerTransfer")
        else None,
        reason=row.get("Reason"),
        resume_state=LineState(resume) if resume else None,
    )


def _history_entity(transfer_id: str, entry: HistoryEntry) -> dict[str, Any]:
    return _without_none(
        {
            "PartitionKey": transfer_id,
            "RowKey": _history_key(entry.seq),
            "Kind": "history",
            "At": entry.at,
            "Action": entry.action,
            "Message": entry.message,
            "Actor": entry.actor,
            "FromState": entry.from_state,
            "ToState": entry.to_state,
            "LineId": entry.line_id,
            "EventId": entry.event_id,
        }
    )


def _history_from(row: Mapping[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        seq=int(row["RowKey"].removeprefix("history-")),
        at=_utc(row["At"]),
        action=row["Action"],
        message=row["Message"],
        actor=row["Actor"],
        from_state=row.get("FromState"),
        to_state=row.get("ToState"),
        line_id=row.get("LineId"),
        event_id=row.get("EventId"),
    )


def _without_none(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if v is not None}


def _utc(value: datetime) -> datetime:
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=UTC,
    )


def _age(row: Any) -> float:
    stamp = row.metadata.get("timestamp")
    return (datetime.now(UTC) - _utc(stamp)).total_seconds() if stamp else 0.0


def _encode_token(scope: str, after: str) -> str:
    """A position in a listing, tied to the listing (``scope``) it belongs to."""
    return base64.urlsafe_b64encode(f"{scope}\n{after}".encode()).decode().rstrip("=")


def _decode_token(text: str, scope: str) -> str:
    """The position a token holds, after checking it is bounded, well-formed and for ``scope``."""
    if len(text) > MAX_TOKEN_CHARS or not _TOKEN_TEXT.fullmatch(text):
        raise InvalidContinuationTokenError
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidContinuationTokenError from None
    token_scope, separator, after = decoded.partition("\n")
    if not separator or token_scope != scope or not after:
        raise InvalidContinuationTokenError
    return after


def _seq(text: str) -> int:
    if not re.fullmatch(r"[0-9]{10}|[1-9][0-9]{0,9}", text):
        raise InvalidContinuationTokenError
    return int(text)
