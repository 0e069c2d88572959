"""The transfer record on Table Storage, against a real Azurite."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from azure.data.tables import TableClient

from shared.domain import (
    Change,
    HistoryEntry,
    Line,
    Replacement,
    SourceChannel,
    Transfer,
    TransferState,
    UserFailure,
    new_transfer_id,
)
from shared.store.connection import StorageConnection
from shared.store.errors import (
    ActiveTransferExistsError,
    ConcurrencyError,
    InvalidContinuationTokenError,
    StorageLimitError,
    TransferNotFoundError,
)
from shared.store.index import ListQuery
from shared.store.limits import check_entity, encode_key, entity_size
from shared.store.records import TransferRecord
from shared.store.repository import ACTIVE_PARTITION, TransferStore
from shared.store.tokens import encode_token

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
OLDEST_FIRST = ListQuery(order="asc")
E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"


def a_transfer(customer: str | None = None) -> Transfer:
    return Transfer(
        id=new_transfer_id(),
        customer_tenant_id=customer or str(uuid.uuid4()),
        customer_country="US",
        source_channel=SourceChannel.DIRECT,
        state=TransferState.AWAITING_ACCEPTANCE,
        created_at=T0,
        updated_at=T0,
        contact_email="admin@contoso.example",
    )


def created(store: TransferStore, transfer: Transfer | None = None) -> TransferRecord:
    transfer = transfer or a_transfer()
    return store.create(
        transfer, history=HistoryEntry(at=T0, action="created", message="started", actor="api")
    )


def note(message: str) -> HistoryEntry:
    return HistoryEntry(at=T0, action="note", message=message, actor="test")


def history_of(store: TransferStore, transfer_id: str) -> list[HistoryEntry]:
    """Every history entry, read a page at a time."""
    entries: list[HistoryEntry] = []
    token: str | None = None
    while True:
        page = store.history(transfer_id, page_size=3, continuation_token=token)
        entries.extend(page.entries)
        token = page.continuation_token
        if token is None:
            return entries


def test_created_transfer_reads_back_with_its_first_history_row(store: TransferStore) -> None:
    record = created(store)

    again = store.get(record.transfer.id)

    assert again.transfer == record.transfer
    assert [(h.seq, h.action) for h in history_of(store, record.transfer.id)] == [(1, "created")]
    assert again.version == 1
    assert again.lines == ()


def test_unknown_transfer_is_not_found(store: TransferStore) -> None:
    with pytest.raises(TransferNotFoundError):
        store.get(new_transfer_id())


def test_state_change_and_history_commit_together(store: TransferStore) -> None:
    record = created(store)
    accepted, entry = record.transfer.move(TransferState.ACCEPTED, at=T0, actor="webhook")
    line = Line(
        transfer_id=accepted.id, source_sku_id=E3, source_sku_part_number="ENTERPRISEPACK", quantity=25
    )

    after = store.commit(record, Change(accepted, lines=(line,), history=(entry,)))

    assert after.transfer.state is TransferState.ACCEPTED
    assert after.lines == (line,)
    assert [(h.seq, h.to_state) for h in history_of(store, accepted.id)] == [(1, None), (2, "Accepted")]
    assert after.version == 2


def test_a_commit_answers_the_record_a_read_would_find(store: TransferStore) -> None:
    """The committed record is built from the rows sent and the ETags answered, not read back."""
    record = created(store)
    assert record == store.get(record.transfer.id)
    accepted, entry = record.transfer.move(TransferState.ACCEPTED, at=T0, actor="webhook")
    lines = tuple(
        Line(transfer_id=accepted.id, source_sku_id=sku, source_sku_part_number=sku[:8], quantity=n)
        for n, sku in enumerate((str(uuid.uuid4()), E3, str(uuid.uuid4())), start=1)
    )
    first = store.commit(record, Change(accepted, lines=lines, history=(entry,)))
    assert first == store.get(accepted.id)

    more = replace(lines[1], quantity=40, original_expires=T0, order_ids=("o-1",))
    second = store.commit(first, Change(replace(accepted, reason="a reason", updated_at=T0), lines=(more,)))

    assert second == store.get(accepted.id)
    assert second.etags != first.etags


def test_a_line_of_a_20000_seat_tenant_is_stored_whole_and_shrinks_back_without_leftovers(
    store: TransferStore, storage: StorageConnection, table_name: str
) -> None:
    """300 seats per subscription: 67 subscriptions of each of two offers, over one string's 64 KiB."""
    record = created(store)
    accepted, entry = record.transfer.move(TransferState.ACCEPTED, at=T0, actor="webhook")
    replacements = tuple(
        Replacement(
            f"CFQ7TTC0{n:04d}:0001:CFQ7TTC0SA0{n % 10}",
            str(uuid.uuid4()),
            300,
            "P1Y",
            "monthly",
            product_name="Office 365 E3 (no Teams) — ünïcode",
        )
        for n in range(134)
    )
    big = Line(
        transfer_id=accepted.id,
        source_sku_id=E3,
        source_sku_part_number="ENTERPRISEPACK",
        quantity=20_000,
        replacements=replacements,
        user_failures=tuple(UserFailure(str(uuid.uuid4()), "no usage location") for _ in range(900)),
    )

    stored = store.commit(record, Change(accepted, lines=(big,), history=(entry,)))
    read = store.get(accepted.id)
    small = replace(big, replacements=replacements[:1], user_failures=())
    shrunk = store.commit(stored, Change(accepted, lines=(small,)))

    assert stored.lines == (big,) == read.lines
    assert shrunk.lines == (small,) == store.get(accepted.id).lines
    rows = storage.table(table_name).query_entities("PartitionKey eq @pk", parameters={"pk": accepted.id})
    [row] = [r for r in rows if r.get("Kind") == "line"]
    assert [name for name in row if name.startswith("Replacements")] == ["Replacements"]


def test_a_commit_on_the_record_a_commit_answered_is_conditional_on_the_etag_azure_gave(
    store: TransferStore,
) -> None:
    record = created(store)
    after = store.commit(record, Change(record.transfer, history=(note("writer A"),)))
    store.commit(after, Change(after.transfer, history=(note("writer A again"),)))

    with pytest.raises(ConcurrencyError):
        store.commit(after, Change(after.transfer, history=(note("writer B, on a record now stale"),)))
    assert [h.message for h in history_of(store, record.transfer.id)] == [
        "started",
        "writer A",
        "writer A again",
    ]


def test_losing_writer_gets_a_conflict_then_reapplies_and_both_changes_land_in_order(
    store: TransferStore,
) -> None:
    record = created(store)
    first = store.get(record.transfer.id)
    second = store.get(record.transfer.id)

    store.commit(first, Change(first.transfer, history=(note("writer A"),)))
    with pytest.raises(ConcurrencyError):
        store.commit(second, Change(second.transfer, history=(note("writer B"),)))
    final = store.update(
        record.transfer.id, lambda fresh: Change(fresh.transfer, history=(note("writer B"),))
    )

    assert [h.message for h in history_of(store, final.transfer.id)] == ["started", "writer A", "writer B"]


def test_concurrent_updates_from_threads_all_land_exactly_once(store: TransferStore) -> None:
    record = created(store)
    start = threading.Barrier(6)

    def writer(n: int) -> None:
        start.wait()
        store.update(record.transfer.id, lambda fresh: Change(fresh.transfer, history=(note(f"w{n}"),)))

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(writer, range(6)))

    history = history_of(store, record.transfer.id)
    assert sorted(h.message for h in history[1:]) == [f"w{n}" for n in range(6)]
    assert [h.seq for h in history] == list(range(1, 8))
    assert store.get(record.transfer.id).version == 7


def test_failed_transaction_leaves_nothing_half_written(
    store: TransferStore, storage: StorageConnection, table_name: str
) -> None:
    record = created(store)
    transfer_id = record.transfer.id
    # Another writer slipped a row in where this commit will try to create its line.
    assert storage.connection_string is not None
    raw = TableClient.from_connection_string(storage.connection_string, table_name)
    raw.create_entity({"PartitionKey": transfer_id, "RowKey": f"line-{E3}", "Kind": "planted"})
    accepted, entry = record.transfer.move(TransferState.ACCEPTED, at=T0, actor="webhook")
    line = Line(
        transfer_id=transfer_id, source_sku_id=E3, source_sku_part_number="ENTERPRISEPACK", quantity=5
    )

    with pytest.raises(ConcurrencyError):
        store.commit(record, Change(accepted, lines=(line,), history=(entry,)))

    rows = {r["RowKey"]: r for r in raw.query_entities("PartitionKey eq @pk", parameters={"pk": transfer_id})}
    assert rows["header"]["State"] == "AwaitingAcceptance"
    assert rows["header"]["Version"] == 1
    assert rows[f"line-{E3}"]["Kind"] == "planted"
    assert sorted(rows) == ["header", "history-0000000001", f"line-{E3}"]


def test_ten_concurrent_starts_for_one_customer_create_exactly_one_transfer(store: TransferStore) -> None:
    customer = str(uuid.uuid4())
    start = threading.Barrier(10)

    def attempt(_: int) -> str:
        transfer = a_transfer(customer)
        start.wait()
        try:
            return created(store, transfer).transfer.id
        except ActiveTransferExistsError as refused:
            return f"refused:{refused.transfer_id}"

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(attempt, range(10)))

    winners = [o for o in outcomes if not o.startswith("refused:")]
    assert len(winners) == 1
    assert all(o == f"refused:{winners[0]}" for o in outcomes if o.startswith("refused:"))
    assert store.active_transfer_id(customer) == winners[0]
    assert [t.id for t in store.list_transfers(page_size=50).items] == winners


def test_finished_transfer_frees_the_customer_for_a_new_one(store: TransferStore) -> None:
    record = created(store)
    cancelled, entry = record.transfer.cancel(record.lines, at=T0, actor="api")
    store.commit(record, Change(cancelled, history=(entry,)))

    second = created(store, a_transfer(record.transfer.customer_tenant_id))

    assert store.active_transfer_id(record.transfer.customer_tenant_id) == second.transfer.id


def test_a_claim_left_by_a_crash_before_the_header_was_written_does_not_block_forever(
    store: TransferStore, storage: StorageConnection, table_name: str
) -> None:
    customer = str(uuid.uuid4())
    assert storage.connection_string is not None
    raw = TableClient.from_connection_string(storage.connection_string, table_name)
    finished = created(store, a_transfer(customer))
    done, entry = finished.transfer.cancel(finished.lines, at=T0, actor="api")
    store.commit(finished, Change(done, history=(entry,)))
    # The process died after the final commit but before it released the customer's index row.
    raw.upsert_entity(
        {"PartitionKey": ACTIVE_PARTITION, "RowKey": f"customer-{customer}", "TransferId": done.id}
    )

    fresh = created(store, a_transfer(customer))

    assert store.active_transfer_id(customer) == fresh.transfer.id


def test_key_with_forbidden_characters_is_refused_before_any_request(
    unreachable_store: TransferStore,
) -> None:
    for bad in ("a/b", "a\\b", "a#b", "a?b", "a\x07b", "a\x7fb"):
        with pytest.raises(StorageLimitError, match="forbid"):
            unreachable_store.get(bad)


def test_transaction_over_a_hundred_operations_is_refused_before_any_request(
    unreachable_store: TransferStore,
) -> None:
    transfer = a_transfer()
    record = TransferRecord(transfer, (), 0, {"header": 'W/"x"'})
    lines = tuple(
        Line(transfer_id=transfer.id, source_sku_id=str(uuid.uuid4()), source_sku_part_number="X", quantity=1)
        for _ in range(99)
    )

    with pytest.raises(StorageLimitError, match="101 operations; Azure allows 100"):
        unreachable_store.commit(record, Change(transfer, lines=lines, history=(note("too big"),)))


def test_transaction_touching_one_entity_twice_is_refused_before_any_request(
    unreachable_store: TransferStore,
) -> None:
    transfer = a_transfer()
    record = TransferRecord(transfer, (), 0, {"header": 'W/"x"'})
    line = Line(
        transfer_id=transfer.id, source_sku_id=E3, source_sku_part_number="ENTERPRISEPACK", quantity=1
    )

    with pytest.raises(StorageLimitError, match="each entity once"):
        unreachable_store.commit(record, Change(transfer, lines=(line, replace(line, quantity=2))))


def test_string_over_64_kib_is_refused_before_any_request(unreachable_store: TransferStore) -> None:
    transfer = replace(a_transfer(), invitation_url="https://x.example/" + "a" * 40_000)

    with pytest.raises(StorageLimitError, match="64 KiB"):
        unreachable_store.create(transfer, history=note("huge"))


def test_entity_over_one_mib_is_refused() -> None:
    entity = {"PartitionKey": "p", "RowKey": "r", **{f"P{i}": "x" * 30_000 for i in range(20)}}

    assert entity_size(entity) > 1024 * 1024
    with pytest.raises(StorageLimitError, match="1 MiB"):
        check_entity(entity)


def test_entity_with_more_than_252_properties_is_refused() -> None:
    entity = {"PartitionKey": "p", "RowKey": "r", **{f"P{i}": i for i in range(253)}}

    with pytest.raises(StorageLimitError, match="253 properties; Azure allows 252"):
        check_entity(entity)
    check_entity({"PartitionKey": "p", "RowKey": "r", **{f"P{i}": i for i in range(252)}})


def test_external_ids_are_encoded_into_safe_keys() -> None:
    assert encode_key("CFQ7TTC0LH18:0001/x#1?%") == "CFQ7TTC0LH18:0001%2Fx%231%3F%25"
    check_entity({"PartitionKey": encode_key("a/b\\c"), "RowKey": encode_key("\x01")})


@pytest.fixture
def unreachable_store() -> TransferStore:
    """A store whose every request would fail to connect, to prove the limits need none."""
    connection = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    )
    return TransferStore(TableClient.from_connection_string(connection, "nowhere", retry_total=0))


def test_history_pages_oldest_first_and_get_reads_no_history(store: TransferStore) -> None:
    record = created(store)
    for start in range(0, 240, 80):
        fresh = store.get(record.transfer.id)
        batch = tuple(note(f"n{i}") for i in range(start, start + 80))
        store.commit(fresh, Change(fresh.transfer, history=batch))

    first = store.history(record.transfer.id, page_size=100)
    second = store.history(record.transfer.id, page_size=100, continuation_token=first.continuation_token)
    third = store.history(record.transfer.id, page_size=100, continuation_token=second.continuation_token)

    seqs = [h.seq for page in (first, second, third) for h in page.entries]
    assert seqs == list(range(1, 242))
    assert third.continuation_token is None
    assert store.get(record.transfer.id).version == 241


def test_a_history_token_of_one_transfer_is_refused_for_another(store: TransferStore) -> None:
    one, other = created(store), created(store)
    store.commit(one, Change(one.transfer, history=(note("a"), note("b"))))
    token = store.history(one.transfer.id, page_size=1).continuation_token
    assert token is not None

    with pytest.raises(InvalidContinuationTokenError):
        store.history(other.transfer.id, continuation_token=token)


def test_a_listing_token_is_bound_to_the_state_filter_it_was_issued_for(store: TransferStore) -> None:
    for _ in range(3):
        created(store)
    token = store.list_transfers(page_size=1).continuation_token
    assert token is not None

    with pytest.raises(InvalidContinuationTokenError):
        store.list_transfers(ListQuery(state=TransferState.CANCELLED), continuation_token=token)
    assert len(store.list_transfers(page_size=5, continuation_token=token).items) == 2


@pytest.mark.parametrize(
    "token",
    [
        "[" * 4096,
        "eyJQYXJ0aXRpb25LZXkiOiAiYSIsICJSb3dLZXkiOiAiYiJ9",  # {"PartitionKey": "a", "RowKey": "b"}
        "\ud800",
        encode_token(ListQuery().scope(), "list-created-asc-x"),  # the right scope, another order's key
        "A" * 5000,
        "====",
    ],
)
def test_forged_listing_tokens_are_refused_before_any_query(
    unreachable_store: TransferStore, token: str
) -> None:
    with pytest.raises(InvalidContinuationTokenError):
        unreachable_store.list_transfers(continuation_token=token)


def test_active_index_lists_only_transfers_in_flight_a_page_at_a_time(
    store: TransferStore, storage: StorageConnection, table_name: str
) -> None:
    active = [created(store).transfer for _ in range(5)]
    finished = created(store)
    done, entry = finished.transfer.cancel(finished.lines, at=T0, actor="api")
    store.commit(finished, Change(done, history=(entry,)))
    assert storage.connection_string is not None
    raw = TableClient.from_connection_string(storage.connection_string, table_name)
    # a claim whose release never ran, and one whose header was never written
    raw.upsert_entity(
        {"PartitionKey": ACTIVE_PARTITION, "RowKey": "customer-zz-finished", "TransferId": done.id}
    )
    raw.upsert_entity(
        {"PartitionKey": ACTIVE_PARTITION, "RowKey": "customer-zz-crashed", "TransferId": new_transfer_id()}
    )

    seen: list[str] = []
    token: str | None = None
    while True:
        page = store.list_active(page_size=2, continuation_token=token)
        seen.extend(t.id for t in page.transfers)
        token = page.continuation_token
        if token is None:
            break

    assert sorted(seen) == sorted(t.id for t in active)
    with pytest.raises(InvalidContinuationTokenError):
        store.list_active(continuation_token=store.list_transfers(page_size=1).continuation_token)
