"""The list index follows the record: written after a commit that changes what the list shows and
only then, never put back by an older write, counted exactly under concurrent writers, and put
right by the timer's scan after a write lost to a crash."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from urllib.parse import unquote

import pytest
from azure.data.tables import TableClient

from shared.domain import Change, HistoryEntry, Line, TransferState
from shared.domain.summary import SCHEDULED, listing_of
from shared.store.connection import StorageConnection
from shared.store.index import ListQuery
from shared.store.records import TransferRecord
from shared.store.repository import TransferStore
from tests.store.test_store import T0, a_transfer, created, note

E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"


def counting_client(storage: StorageConnection, table_name: str, seen: list[str]) -> TransferStore:
    def hook(request: object) -> None:
        seen.append(f"{request.http_request.method} {unquote(request.http_request.url)}")  # type: ignore[attr-defined]

    assert storage.connection_string is not None
    return TransferStore(
        TableClient.from_connection_string(storage.connection_string, table_name, raw_request_hook=hook)
    )


def listed(store: TransferStore, transfer_id: str) -> list[str]:
    return [x.id for x in store.list_transfers(ListQuery(), page_size=1000).items if x.id == transfer_id]


def accepted(
    store: TransferStore, record: TransferRecord, at: timedelta = timedelta(hours=1)
) -> TransferRecord:
    moved, entry = record.transfer.move(TransferState.ACCEPTED, at=T0 + at, actor="test")
    return store.commit(record, Change(moved, history=(entry,)))


def test_a_started_transfer_is_listed_at_once_with_its_customer_and_stage(store: TransferStore) -> None:
    transfer = replace(a_transfer(), customer_name="Contoso Ltd", customer_domain="contoso.example")

    record = created(store, transfer)

    [row] = store.list_transfers(page_size=10).items
    assert (row.id, row.customer_name, row.customer_domain, row.stage) == (
        record.transfer.id,
        "Contoso Ltd",
        "contoso.example",
        "AwaitingAcceptance",
    )
    assert row.next_move == "customer"
    assert store.counts(T0)["AwaitingAcceptance"] == 1


def test_a_commit_that_changes_nothing_the_list_shows_writes_no_list_row(
    store: TransferStore, storage: StorageConnection, table_name: str
) -> None:
    record = created(store)
    seen: list[str] = []
    watched = counting_client(storage, table_name, seen)

    watched.commit(
        record,
        Change(
            replace(record.transfer, api_calls=7, updated_at=T0 + timedelta(hours=1)),
            history=(note("polled"),),
        ),
    )
    after_note = [s for s in seen if s.startswith("POST") and "$batch" in s]
    seen.clear()
    accepted(watched, store.get(record.transfer.id))
    after_move = [s for s in seen if s.startswith("POST") and "$batch" in s]

    assert len(after_note) == 1  # the commit alone
    assert len(after_move) == 2  # the commit, then the list row
    [row] = store.list_transfers(page_size=10).items
    assert row.state is TransferState.ACCEPTED
    assert row.updated_at == T0 + timedelta(hours=1)  # the poll's time did not move the list's


def test_a_list_write_lost_to_a_crash_is_put_right_by_the_next_scan(
    store: TransferStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = created(store)
    with monkeypatch.context() as crashed:
        crashed.setattr(store.index, "write", lambda listing, version: False)
        accepted(store, record)
    assert store.list_transfers(page_size=10).items[0].state is TransferState.AWAITING_ACCEPTANCE

    scanned = store.list_active(page_size=10)

    assert [t.state for t in scanned.transfers] == [TransferState.ACCEPTED]
    [row] = store.list_transfers(page_size=10).items
    assert row.state is TransferState.ACCEPTED
    assert store.counts(T0)["Accepted"] == 1
    assert store.counts(T0)["AwaitingAcceptance"] == 0


def test_an_older_list_write_never_replaces_a_newer_one(store: TransferStore) -> None:
    record = created(store)
    older = listing_of(record.transfer, record.lines)
    newer = accepted(store, record)

    assert store.index.write(older, 1)

    [row] = store.list_transfers(page_size=10).items
    assert row.state is TransferState.ACCEPTED
    copies = list(store.index.rows(record.transfer.id))
    assert len(copies) == 6
    assert {c["Version"] for c in copies} == {newer.listing_version}


def test_concurrent_commits_of_many_transfers_keep_the_counts_exact(store: TransferStore) -> None:
    records = [created(store) for _ in range(24)]

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda r: accepted(store, r), records))

    counts = store.counts(T0)
    assert (counts["Accepted"], counts["AwaitingAcceptance"]) == (24, 0)
    assert len(store.list_transfers(ListQuery(state=TransferState.ACCEPTED), page_size=100).items) == 24


def test_a_transfer_waiting_on_a_purchase_date_shows_as_scheduled_not_provisioned(
    store: TransferStore,
) -> None:
    record = accepted(store, created(store))
    line = Line(
        transfer_id=record.transfer.id,
        source_sku_id=E3,
        source_sku_part_number="ENTERPRISEPACK",
        quantity=5,
        purchase_due=T0 + timedelta(days=40),
        original_expires=T0 + timedelta(days=54),
        source_product_name="Office 365 E3",
    )
    record = store.commit(record, Change(record.transfer, (line,), (note("planned"),)))
    provisioned, entry = record.transfer.move(TransferState.PROVISIONED, at=T0, actor="test")

    store.commit(record, Change(provisioned, history=(entry,)))

    [row] = store.list_transfers(page_size=10).items
    assert (row.state, row.stage, row.next_date) == (
        TransferState.PROVISIONED,
        SCHEDULED,
        T0 + timedelta(days=40),
    )
    assert (row.lines.total, row.lines.waiting, row.lines.done) == (1, 1, 0)
    assert store.counts(T0)[SCHEDULED] == 1
    assert store.counts(T0)["Provisioned"] == 0


def test_a_finished_transfer_keeps_its_list_row_and_frees_its_customer(store: TransferStore) -> None:
    record = created(store)
    cancelled, entry = record.transfer.cancel(record.lines, at=T0, actor="api")

    store.commit(record, Change(cancelled, history=(entry,)))

    assert store.active_transfer_id(record.transfer.customer_tenant_id) is None
    [row] = store.list_transfers(ListQuery(state=TransferState.CANCELLED), page_size=10).items
    assert (row.id, row.next_date, row.lapses_first) == (record.transfer.id, None, None)
    assert row.next_move == "none"


def test_reindex_lists_the_transfers_stored_before_the_index(
    store: TransferStore, storage: StorageConnection, table_name: str
) -> None:
    records = [created(store) for _ in range(3)]
    assert storage.connection_string is not None
    raw = TableClient.from_connection_string(storage.connection_string, table_name)
    for row in raw.query_entities("PartitionKey eq 'active-transfers'"):
        raw.delete_entity(row)  # as before the index: no list rows, no claims' versions
    assert store.list_transfers(page_size=10).items == ()

    assert store.reindex() == 3

    assert sorted(x.id for x in store.list_transfers(page_size=10).items) == sorted(
        r.transfer.id for r in records
    )
    assert store.counts(T0)["AwaitingAcceptance"] == 3


def test_history_details_are_stored_apart_from_the_message(store: TransferStore) -> None:
    record = created(store)
    entry = HistoryEntry(
        at=T0, action="cart", message="the cart was created", details=(("cartId", str(uuid.uuid4())),)
    )

    store.commit(record, Change(record.transfer, history=(entry,)))

    [_, stored] = store.history(record.transfer.id).entries
    assert stored.details == entry.details
    assert stored.message == "the cart was created"
