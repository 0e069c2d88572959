"""The list index: what ``GET /api/transfers`` shows, kept in the index partition so that a page,
whatever its sort and filter, is one range read, however many transfers are stored.

Each transfer has one copy of its list row per sort order (:mod:`shared.store.listing_rows`);
the counts per stage are kept in count shards. A write happens only when something the list shows
changed, after the commit that changed it, as one transaction: the anchor (conditional on the ETag
read, so concurrent writers take turns), the other copies, the count shard (conditional too) and
the claim's ``ListedVersion``. A write older than what the anchor holds is dropped, so a late or
repeated write never puts an older row back. A write lost to a crash leaves the index one change
behind: the claim's ``ListedVersion`` then trails the header's ``ListingVersion``, and the timer's
scan rewrites it (:meth:`TransferStore.list_active`).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.data.tables import TableClient, TableEntity, UpdateMode

from shared.domain import TERMINAL, TransferState
from shared.domain.summary import Listing
from shared.store.errors import InvalidContinuationTokenError
from shared.store.limits import check_page_size, check_transaction, is_valid_key, stored_int, typed_entity
from shared.store.listing_rows import (
    INDEX_PARTITION,
    anchor_key,
    count_entity,
    count_key,
    counted,
    listing_entity,
    listing_from_row,
    prefix_end,
    row_keys,
    row_prefix,
)
from shared.store.paging import read_page
from shared.store.rows import claim_key
from shared.store.tokens import decode_token, encode_token

#: A text search reads at most this many pages of 1,000 rows for one answer; a page that found
#: fewer matches comes back with a token to go on from where it stopped.
MAX_SEARCH_READS = 20
#: Spaced inside the brackets: the SDK's ``@name`` ends at a space.
_ATTENTION = "( State eq 'Blocked' or State eq 'Failed' or LapsesFirst le @soon )"


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What a list page shows: its order, and the filters a token is bound to."""

    sort: str = "created"
    order: str = "desc"
    state: TransferState | None = None
    stage: str | None = None
    attention_before: datetime | None = None  # attention only: halted, or a lapse before this
    text: str | None = None

    def scope(self) -> str:
        """The listing a token belongs to: these filters (the attention moment excepted, which moves)."""
        filters = (
            self.sort,
            self.order,
            self.state,
            self.stage,
            self.attention_before is not None,
            self.text,
        )
        return "list:" + hashlib.sha256(repr(filters).encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class ListingPage:
    items: tuple[Listing, ...]
    continuation_token: str | None


#: A row of the index as this process last wrote or read it, and its ETag then.
Held = tuple[Mapping[str, Any], str]


class TransferIndex:
    def __init__(self, table: TableClient) -> None:
        self._table = table
        # The anchors and count shards this process wrote last, with the ETags Azure answered: the
        # next write of the same rows is conditional on them without reading them first; a row
        # someone else changed since fails that condition, is forgotten and read again.
        self._held: dict[str, Held] = {}
        self._held_lock = threading.Lock()

    def write(self, listing: Listing, version: int, *, attempts: int = 8) -> bool:
        """Put ``listing`` (as of the header's ``version``) in the index unless it holds a newer one.
        ``False`` when other writers kept winning: the scan puts it right later."""
        deletes = True
        keys = (anchor_key(listing.id), count_key(listing.id))
        for _ in range(attempts):
            anchor, shard = (self._known(key) for key in keys)
            if anchor is not None and stored_int(anchor[0]["Version"]) >= version:
                if not self._forget(keys[:1]):
                    return True  # as read: the index holds this version or a newer one
                continue  # as this process wrote it: only a read can tell
            operations = self._operations(listing, version, anchor, shard, deletes=deletes)
            check_transaction(entity for _, entity, *_ in operations)
            try:
                answers = self._table.submit_transaction(
                    [(kind, typed_entity(e), *rest) for kind, e, *rest in operations]
                )
            except HttpResponseError as error:
                self._forget(keys)
                if error.status_code == 404:
                    deletes = False  # a copy the anchor names is gone already: nothing to delete
                elif error.status_code not in (409, 412):
                    raise
            else:
                self._remember(operations, answers, keys, finished=listing.state in TERMINAL)
                return True
        return False

    def _known(self, key: str) -> Held | None:
        with self._held_lock:
            held = self._held.get(key)
        if held is not None:
            return held
        row = self._row(key)
        return (row, str(row.metadata["etag"])) if row is not None else None

    def _remember(
        self,
        operations: list[tuple[Any, ...]],
        answers: list[Mapping[str, Any]],
        keys: tuple[str, str],
        *,
        finished: bool,
    ) -> None:
        """The anchor and shard as written, with their new ETags (a finished transfer's anchor is
        not kept: it is seldom written again)."""
        with self._held_lock:
            for (_, entity, *_), answer in zip(operations, answers, strict=True):
                key = entity["RowKey"]
                if key in keys and answer.get("etag") and not (finished and key == keys[0]):
                    self._held[key] = (entity, str(answer["etag"]))
                elif key in keys:
                    self._held.pop(key, None)

    def _forget(self, keys: tuple[str, ...]) -> bool:
        """Read these rows again next time; whether any was held."""
        with self._held_lock:
            return bool([self._held.pop(key) for key in keys if key in self._held])

    def _operations(
        self,
        listing: Listing,
        version: int,
        anchor: Held | None,
        shard: Held | None,
        *,
        deletes: bool,
    ) -> list[tuple[Any, ...]]:
        keys = row_keys(listing)
        operations: list[tuple[Any, ...]] = []
        tally = counted(shard[0] if shard else None)
        if anchor is not None:
            held = listing_from_row(anchor[0])
            tally[held.stage] -= 1
            if deletes:
                gone = set(row_keys(held).values()) - set(keys.values())
                operations += [
                    ("delete", {"PartitionKey": INDEX_PARTITION, "RowKey": k}) for k in sorted(gone)
                ]
        tally[listing.stage] += 1
        for key in keys.values():
            entity = listing_entity(listing, version, key)
            if key != anchor_key(listing.id):
                operations.append(("upsert", entity, {"mode": UpdateMode.REPLACE}))
            else:
                operations.append(_conditional(entity, anchor))
        operations.append(_conditional(count_entity(listing.id, tally), shard))
        if listing.state not in TERMINAL:
            claim = {
                "PartitionKey": INDEX_PARTITION,
                "RowKey": claim_key(listing.customer_tenant_id),
                "TransferId": listing.id,
                "ListedVersion": version,
            }
            operations.append(("upsert", claim, {"mode": UpdateMode.MERGE}))
        return operations

    def page(self, query: ListQuery, page_size: int, continuation_token: str | None = None) -> ListingPage:
        """One page in the query's order; pass the token back, with the same filters, for the next."""
        check_page_size(page_size)
        prefix = row_prefix(query.sort, query.order)
        scope = query.scope()
        after = prefix
        if continuation_token is not None:
            after = decode_token(continuation_token, scope)
            if not after.startswith(prefix) or not is_valid_key(after):
                raise InvalidContinuationTokenError(scope)
        where, parameters = _filter(query, after, prefix)
        if query.text:
            return self._search(where, parameters, query.text.strip().lower(), page_size, scope)
        rows, more = read_page(self._table, where, parameters, page_size)
        token = encode_token(scope, rows[-1]["RowKey"]) if more and rows else None
        return ListingPage(tuple(listing_from_row(row) for row in rows), token)

    def _search(
        self, where: str, parameters: dict[str, Any], text: str, page_size: int, scope: str
    ) -> ListingPage:
        """Rows whose name, domain or tenant id holds ``text``: Table Storage cannot match a part of
        a string, so the rows are read in order, a thousand at a time, and matched here."""
        found: list[Listing] = []
        for _ in range(MAX_SEARCH_READS):
            rows, more = read_page(self._table, where, parameters, 1000)
            for number, row in enumerate(rows, start=1):
                if text in str(row.get("Search", "")):
                    found.append(listing_from_row(row))
                if len(found) == page_size:
                    rest = more or number < len(rows)
                    return ListingPage(tuple(found), encode_token(scope, row["RowKey"]) if rest else None)
            if not more or not rows:
                return ListingPage(tuple(found), None)
            parameters = {**parameters, "after": rows[-1]["RowKey"]}
        return ListingPage(tuple(found), encode_token(scope, parameters["after"]))

    def counts(self, attention_before: datetime) -> dict[str, int]:
        """Transfers per stage, from the count shards (one read), and how many need attention now
        (one read per thousand of them)."""
        shards = self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end",
            parameters={"pk": INDEX_PARTITION, "start": "count-", "end": "count."},
        )
        tally = counted(None)
        for shard in shards:
            for stage, n in counted(shard).items():
                tally[stage] += n
        prefix = row_prefix("created", "asc")
        lapsing = self._table.query_entities(
            "PartitionKey eq @pk and RowKey gt @after and RowKey lt @end and LapsesFirst le @soon"
            " and State ne 'Blocked' and State ne 'Failed'",
            parameters={
                "pk": INDEX_PARTITION,
                "after": prefix,
                "end": prefix_end(prefix),
                "soon": attention_before,
            },
            select=["RowKey"],
        )
        halted = tally[str(TransferState.BLOCKED)] + tally[str(TransferState.FAILED)]
        return {**tally, "attention": halted + sum(1 for _ in lapsing)}

    def rows(self, transfer_id: str) -> Iterator[TableEntity]:
        """Every copy the index holds of a transfer's row (for tests and repairs)."""
        anchor = self._row(anchor_key(transfer_id))
        if anchor is None:
            return
        for key in row_keys(listing_from_row(anchor)).values():
            row = self._row(key)
            if row is not None:
                yield row

    def _row(self, key: str) -> TableEntity | None:
        try:
            return self._table.get_entity(INDEX_PARTITION, key)
        except ResourceNotFoundError:
            return None


def _conditional(entity: dict[str, Any], held: Held | None) -> tuple[Any, ...]:
    """Create the row, or replace it only as it was read: a writer that read it earlier loses."""
    if held is None:
        return ("create", entity)
    condition = {"etag": held[1], "match_condition": MatchConditions.IfNotModified}
    return ("update", entity, {"mode": UpdateMode.REPLACE, **condition})


def _filter(query: ListQuery, after: str, prefix: str) -> tuple[str, dict[str, Any]]:
    where = "PartitionKey eq @pk and RowKey gt @after and RowKey lt @end"
    parameters: dict[str, Any] = {"pk": INDEX_PARTITION, "after": after, "end": prefix_end(prefix)}
    if query.state is not None:
        where += " and State eq @state"
        parameters["state"] = str(query.state)
    if query.stage is not None:
        where += " and Stage eq @stage"
        parameters["stage"] = query.stage
    if query.attention_before is not None:
        where += f" and {_ATTENTION}"
        parameters["soon"] = query.attention_before
    return where, parameters
