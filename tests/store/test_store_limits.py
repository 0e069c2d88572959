"""Azure's limits as Azure enforces them, checked before any request and proven against Azurite."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableClient

from shared.domain import Change, HistoryEntry, SourceChannel, Transfer, TransferState, new_transfer_id
from shared.store.connection import StorageConnection
from shared.store.errors import StorageLimitError, transaction_error
from shared.store.limits import (
    MAX_TRANSACTION_BYTES,
    check_entity,
    check_key,
    check_transaction,
    entity_size,
    wire_size,
)
from shared.store.repository import TransferStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def a_transfer() -> Transfer:
    return Transfer(
        id=new_transfer_id(),
        customer_tenant_id=str(uuid.uuid4()),
        customer_country="US",
        source_channel=SourceChannel.DIRECT,
        state=TransferState.AWAITING_ACCEPTANCE,
        created_at=T0,
        updated_at=T0,
    )


def note(message: str) -> HistoryEntry:
    return HistoryEntry(at=T0, action="note", message=message, actor="test")


def raw_table(storage: StorageConnection, table_name: str) -> TableClient:
    assert storage.connection_string is not None
    return TableClient.from_connection_string(storage.connection_string, table_name)


def test_non_ascii_text_is_measured_as_the_sdk_sends_it() -> None:
    entity = {"PartitionKey": "p", "RowKey": "r", "Message": "é" * 32_000}

    # Stored as UTF-16 it is 64,000 bytes; on the wire each "é" is the six bytes of "\u00e9".
    assert entity_size(entity) < 70_000
    assert wire_size(entity) > 6 * 32_000


def test_sixty_rows_of_accented_text_are_refused_before_sending(store: TransferStore) -> None:
    record = store.create(a_transfer(), history=note("created"))
    history = tuple(note("é" * 32_000) for _ in range(60))
    sizes = [
        entity_size({"PartitionKey": "p", "RowKey": "history-0000000001", "Message": h.message})
        for h in history
    ]

    assert sum(sizes) < MAX_TRANSACTION_BYTES  # what the old check counted
    with pytest.raises(StorageLimitError, match="4 MiB"):
        store.commit(record, Change(record.transfer, history=history))
    assert store.get(record.transfer.id).version == 1


def test_accented_and_emoji_text_within_the_limit_round_trips(store: TransferStore) -> None:
    record = store.create(a_transfer(), history=note("created"))
    texts = ("é" * 32_000, "🙂" * 16_000, "naïve façade ünïcödé 中文 🚀")

    store.commit(record, Change(record.transfer, history=tuple(note(t) for t in texts)))

    assert [h.message for h in store.history(record.transfer.id).entries[1:]] == list(texts)


def test_emoji_string_over_64_kib_in_utf16_is_refused() -> None:
    # 16,385 emoji are 16,385 code points but 65,540 bytes in UTF-16 (surrogate pairs)
    with pytest.raises(StorageLimitError, match="64 KiB"):
        check_entity({"PartitionKey": "p", "RowKey": "r", "Message": "🙂" * 16_385})


def test_keys_are_limited_to_one_kib_in_utf16_and_azurite_stores_the_longest(
    storage: StorageConnection, table_name: str, store: TransferStore
) -> None:
    table = raw_table(storage, table_name)
    longest = {"PartitionKey": "p", "RowKey": "k" * 512}
    check_entity(longest)
    table.create_entity(longest)

    assert table.get_entity("p", "k" * 512)["RowKey"] == "k" * 512
    with pytest.raises(HttpResponseError):  # storage itself refuses one character more
        table.create_entity({"PartitionKey": "p", "RowKey": "k" * 513})
    for too_long in ("k" * 513, "k" * 1024, "é" * 513, "🙂" * 257):
        with pytest.raises(StorageLimitError, match="Azure allows 1024"):
            check_key(too_long)


def test_a_lone_surrogate_in_a_key_or_value_is_refused() -> None:
    with pytest.raises(StorageLimitError, match="not valid Unicode"):
        check_key("a\ud800b")
    with pytest.raises(StorageLimitError, match="not valid Unicode"):
        check_entity({"PartitionKey": "p", "RowKey": "r", "Message": "a\udfffb"})


def test_lookup_with_an_oversized_key_is_an_input_error(store: TransferStore) -> None:
    with pytest.raises(StorageLimitError) as raised:
        store.get("x" * 600)

    assert raised.value.from_input


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_integers_beyond_int64_are_a_storage_limit_not_a_type_error(value: int) -> None:
    with pytest.raises(StorageLimitError, match="64-bit integer"):
        check_transaction([{"PartitionKey": "p", "RowKey": "r", "Count": value}])


def test_int64_extremes_round_trip_through_azurite(store: TransferStore) -> None:
    from shared.domain import Line

    record = store.create(a_transfer(), history=note("created"))
    line = Line(
        transfer_id=record.transfer.id,
        source_sku_id=str(uuid.uuid4()),
        source_sku_part_number="X",
        quantity=2**63 - 1,
        users_to_move=2**31,
        users_failed=-(2**63),
    )
    check_transaction([{"PartitionKey": "p", "RowKey": "r", "Low": -(2**63), "High": 2**63 - 1}])

    after = store.commit(record, Change(record.transfer, lines=(line,), history=(note("wide"),)))

    assert after.lines == (line,)
    assert after.version == 2


def test_a_line_quantity_beyond_int64_is_refused_before_sending(store: TransferStore) -> None:
    from shared.domain import Line

    record = store.create(a_transfer(), history=note("created"))
    line = Line(
        transfer_id=record.transfer.id,
        source_sku_id=str(uuid.uuid4()),
        source_sku_part_number="X",
        quantity=2**64,
    )

    with pytest.raises(StorageLimitError, match="64-bit integer"):
        store.commit(record, Change(record.transfer, lines=(line,), history=(note("huge"),)))
    assert store.get(record.transfer.id).lines == ()


def test_an_invitation_url_of_emoji_is_refused_before_create(store: TransferStore) -> None:
    transfer = replace(a_transfer(), invitation_url="https://x.example/" + "🙂" * 16_400)

    with pytest.raises(StorageLimitError, match="64 KiB"):
        store.create(transfer, history=note("huge"))
    assert store.active_transfer_id(transfer.customer_tenant_id) is None


def test_a_transaction_storage_refuses_as_too_large_becomes_a_storage_limit_error(
    storage: StorageConnection, table_name: str, store: TransferStore
) -> None:
    table = raw_table(storage, table_name)
    # What the old check let through: 60 rows it measured at 3.85 MB, sent past every check.
    oversized = [("create", {"PartitionKey": "p", "RowKey": f"r{i}", "M": "é" * 32_000}) for i in range(60)]
    with pytest.raises(HttpResponseError) as refused:
        table.submit_transaction(oversized)

    mapped = transaction_error(refused.value)

    assert isinstance(mapped, StorageLimitError)
    assert not mapped.from_input
    assert list(table.query_entities("PartitionKey eq 'p'")) == []
