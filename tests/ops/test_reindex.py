"""``python -m ops.reindex`` lists the transfers stored before the list index, once."""

from __future__ import annotations

import pytest
from azure.data.tables import TableClient

from devhost.azurite import Azurite
from ops.reindex import main
from shared.store.repository import TABLE_NAME, TransferStore
from tests.store.test_store import created


def test_reindex_lists_every_stored_transfer_and_again_changes_nothing(
    app_store: TransferStore, azurite: Azurite, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = {created(app_store).transfer.id for _ in range(2)}
    raw = TableClient.from_connection_string(azurite.connection_string, TABLE_NAME)
    for row in raw.query_entities("PartitionKey eq 'active-transfers'"):
        raw.delete_entity(row)  # as stored before the index existed

    assert main([]) == 0
    assert main([]) == 0

    assert {x.id for x in app_store.list_transfers(page_size=10).items} == ids
    assert capsys.readouterr().out.splitlines() == ["2 transfer(s) listed", "2 transfer(s) listed"]
