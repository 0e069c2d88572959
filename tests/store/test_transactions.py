"""Transactions written and read as plain text (shared.store.transactions), on Azurite: the same rows,
answers and errors as the storage SDK's own multipart path, with every kind of operation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.data.tables import TableClient, UpdateMode

from shared.store.connection import StorageConnection
from shared.store.transactions import TransactionRefusedError, TransactionTableClient, answer_parts

IF_NOT_MODIFIED = MatchConditions.IfNotModified


def clients(storage: StorageConnection, table_name: str) -> tuple[TableClient, TableClient]:
    """The SDK's client and ours over the same table."""
    connection = storage.connection_string or ""
    sdk = TableClient.from_connection_string(connection, table_name)
    sdk.create_table()
    return sdk, TransactionTableClient.from_connection_string(connection, table_name)


def every_kind(client: TableClient, partition: str) -> list[Any]:
    """A transaction with each operation the store sends, on rows made first."""
    made = client.create_entity({"PartitionKey": partition, "RowKey": "kept", "N": 1})
    client.create_entity({"PartitionKey": partition, "RowKey": "gone", "N": 1})
    new = {
        "PartitionKey": partition,
        "RowKey": "new é",
        "Text": 'h\u00e9 \u2713 "quoted" \r\n--batch_not_a_boundary',
        "Double": 1.5,
        "Flag": True,
        "At": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "Blob": b"\x00\xff",
    }
    return client.submit_transaction(
        [
            ("create", new),
            (
                "update",
                {"PartitionKey": partition, "RowKey": "kept", "N": 2},
                {"mode": UpdateMode.REPLACE, "etag": made["etag"], "match_condition": IF_NOT_MODIFIED},
            ),
            ("upsert", {"PartitionKey": partition, "RowKey": "merged", "N": 3}),
            ("delete", {"PartitionKey": partition, "RowKey": "gone"}),
        ]
    )


def rows(client: TableClient, partition: str) -> list[dict[str, Any]]:
    return [dict(e) for e in client.query_entities("PartitionKey eq @p", parameters={"p": partition})]


def test_a_transaction_written_as_text_stores_what_the_sdk_stores_and_answers_each_etag(
    storage: StorageConnection, table_name: str
) -> None:
    sdk, ours = clients(storage, table_name)

    answers = every_kind(ours, "ours")
    every_kind(sdk, "sdk")

    assert [r | {"PartitionKey": "-"} for r in rows(ours, "ours")] == [
        r | {"PartitionKey": "-"} for r in rows(sdk, "sdk")
    ]
    assert len(answers) == 4
    etags = {e["RowKey"]: e.metadata["etag"] for e in ours.query_entities("PartitionKey eq 'ours'")}
    assert [a.get("etag") for a in answers[:3]] == [etags["new é"], etags["kept"], etags["merged"]]


def test_a_refused_operation_raises_the_sdks_error_with_its_status_code_and_index(
    storage: StorageConnection, table_name: str
) -> None:
    _, ours = clients(storage, table_name)
    made = ours.create_entity({"PartitionKey": "p", "RowKey": "a"})
    ours.update_entity({"PartitionKey": "p", "RowKey": "a", "N": 1})  # the ETag moves on

    with pytest.raises(TransactionRefusedError) as refused:
        ours.submit_transaction(
            [
                ("create", {"PartitionKey": "p", "RowKey": "b"}),
                (
                    "update",
                    {"PartitionKey": "p", "RowKey": "a", "N": 2},
                    {"etag": made["etag"], "match_condition": MatchConditions.IfNotModified},
                ),
            ]
        )

    assert (refused.value.status_code, refused.value.error_code) == (412, "UpdateConditionNotSatisfied")
    assert refused.value.index == 1
    assert [r["RowKey"] for r in rows(ours, "p")] == ["a"]  # nothing of it was written

    with pytest.raises(TransactionRefusedError) as exists:
        ours.submit_transaction([("create", {"PartitionKey": "p", "RowKey": "a"})])
    assert (exists.value.status_code, exists.value.error_code) == (409, "EntityAlreadyExists")


def test_an_answer_with_crlf_or_bare_newlines_is_read_part_by_part() -> None:
    answer = (
        "--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n"
        "--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        "HTTP/1.1 204 No Content\r\nETag: W/\"datetime'1'\"\r\n\r\n\r\n"
        "--changesetresponse_2\nContent-Type: application/http\n\n"
        'HTTP/1.1 201 Created\nETag: W/"datetime\'2\'"\n\n{"RowKey": "--changesetresponse_2 inside"}\n'
        "--changesetresponse_2--\r\n--batchresponse_1--\r\n"
    )

    parts = answer_parts("multipart/mixed; boundary=batchresponse_1", answer)

    assert [(p.status, p.headers["etag"]) for p in parts] == [
        (204, "W/\"datetime'1'\""),
        (201, "W/\"datetime'2'\""),
    ]
    assert parts[1].body == '{"RowKey": "--changesetresponse_2 inside"}'
