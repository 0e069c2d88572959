"""Listing in-flight transfers reads the in-flight index, never the finished transfers."""

from __future__ import annotations

from urllib.parse import unquote

from azure.core.pipeline.transport import HttpRequest
from azure.data.tables import TableClient

from shared.domain import Change, TransferState
from shared.store.connection import StorageConnection
from shared.store.repository import TransferStore
from tests.store.test_store import T0, created


def counting_store(storage: StorageConnection, table_name: str, seen: list[str]) -> TransferStore:
    """The store over a client that notes every request's URL, to see what a listing reads."""

    def note(request: object) -> None:
        http: HttpRequest = request.http_request  # type: ignore[attr-defined]
        seen.append(unquote(http.url))

    assert storage.connection_string is not None
    client = TableClient.from_connection_string(storage.connection_string, table_name, raw_request_hook=note)
    return TransferStore(client)


def test_listing_an_in_flight_state_never_reads_finished_transfers(
    store: TransferStore, storage: StorageConnection, table_name: str
) -> None:
    finished = []
    for _ in range(30):
        record = created(store)
        moved, entry = record.transfer.cancel(record.lines, at=T0, actor="api")
        finished.append(store.commit(record, Change(moved, history=(entry,))).transfer.id)
    waiting = sorted(created(store).transfer.id for _ in range(5))
    record = created(store)
    accepted, entry = record.transfer.move(TransferState.ACCEPTED, at=T0, actor="test")
    store.commit(record, Change(accepted, history=(entry,)))
    seen: list[str] = []
    counting = counting_store(storage, table_name, seen)

    pages, token = [], None
    while True:
        page = counting.list_transfers(
            state=TransferState.AWAITING_ACCEPTANCE, page_size=2, continuation_token=token
        )
        pages.append([t.id for t in page.transfers])
        token = page.continuation_token
        if token is None:
            break

    assert pages == [waiting[0:2], waiting[2:4], waiting[4:5]]
    assert not [url for url in seen if any(transfer_id in url for transfer_id in finished)]
    assert all("active-transfers" in url or "RowKey='header'" in url for url in seen)
    assert len(seen) == 3 + 6  # an index query a page, and one read per in-flight header passed


def test_listing_a_finished_state_still_finds_the_finished_transfers(store: TransferStore) -> None:
    record = created(store)
    moved, entry = record.transfer.cancel(record.lines, at=T0, actor="api")
    store.commit(record, Change(moved, history=(entry,)))
    created(store)

    page = store.list_transfers(state=TransferState.CANCELLED)

    assert [t.id for t in page.transfers] == [record.transfer.id]
