"""Storage cost: Table Storage transactions per transfer; listing in-flight transfers beside 100,000 done.

    .venv/bin/python -m bench.storage_cost [--customers 50] [--finished 100000]

Part a moves a small fleet (3 SKUs and 50 users per customer) end to end through the local host
with Azurite logging every request it serves; the requests are counted by operation (a
transaction of up to 100 rows in one partition is one billable transaction, as is each page of a
query) and divided by the transfers. The driver's own reads (watching the states) are left out.

Part b stores ``--finished`` completed transfers (their header rows, straight into Azurite's REST
API) and 100 in flight (through the store), then times one page of 50 of
each listing of in-flight transfers an admin or the timer asks for, and counts the requests each
makes (``bench.list_scale`` measures the list's every order and filter beside 10,000 in flight).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from typing import Any

import aiohttp
from azure.data.tables import TableClient, TableServiceClient
from azure.data.tables._serialize import _add_entity_properties

from bench.harness import reads_and_time, running_fleet, table
from devhost.azurite import ACCOUNT, ACCOUNT_KEY, Azurite, running_azurite
from shared.domain import Change, HistoryEntry, SourceChannel, Transfer, TransferState, new_transfer_id
from shared.store.index import ListQuery
from shared.store.limits import typed_entity
from shared.store.repository import TABLE_NAME, TransferStore
from shared.store.rows import transfer_row

IN_FLIGHT = 100
PAGE = 50
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def per_transfer(customers: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as workdir:
        log = Path(workdir) / "azurite.log"
        with running_fleet(customers=customers, azurite_log=log) as fleet:
            fleet.register_webhook()
            moved = fleet.move(fleet.customers(customers))
            served = fleet.storage_requests()
            own = fleet.own_table_requests
    # The driver's reads are queries; its last ones may land after the log was read, so at most
    # those few are left in.
    served["Table_QueryEntities"] = max(0, served["Table_QueryEntities"] - own)
    tables = {k: v for k, v in served.items() if k.startswith("Table_") and k != "Table_Create"}
    queues = {k: v for k, v in served.items() if k.startswith(("Messages_", "MessageId_"))}
    rows = [(name, str(n), f"{n / customers:.1f}") for name, n in sorted(tables.items())]
    rows.append(
        ("Table Storage in all", str(sum(tables.values())), f"{sum(tables.values()) / customers:.1f}")
    )
    rows += [(name, str(n), f"{n / customers:.1f}") for name, n in sorted(queues.items())]
    title = (
        f"5a. Storage transactions per transfer ({customers} transfers, {moved.seconds:.0f} s; "
        "queue reads include the host's idle polls)"
    )
    print(table(title, rows, ("operation", "requests", "per transfer")))


def finished(index: int) -> Transfer:
    return Transfer(
        id=new_transfer_id()[:12] + f"{index:020x}",
        customer_tenant_id=f"00000000-0000-4000-8000-{index:012x}",
        customer_country="US",
        source_channel=SourceChannel.DIRECT,
        state=TransferState.COMPLETED,
        created_at=T0,
        updated_at=T0,
        api_calls=40,
        planned=True,
    )


def store_finished(azurite: Azurite, count: int) -> float:
    """``count`` completed transfers' header rows, straight into Azurite's REST API.

    Each transfer is its own partition, so no transaction can carry two of them: this sends the
    inserts themselves, 32 at a time over keep-alive connections, signed with the development
    account's key (SharedKeyLite), which is several times faster than the SDK's pipeline.
    """
    started = time.perf_counter()
    asyncio.run(_insert(azurite.table_endpoint, (finished(n) for n in range(count))))
    return time.perf_counter() - started


async def _insert(endpoint: str, transfers: Iterable[Transfer]) -> None:
    key = base64.b64decode(ACCOUNT_KEY)
    resource = f"/{ACCOUNT}/{ACCOUNT}/{TABLE_NAME}"
    gate = asyncio.Semaphore(32)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session:

        async def insert(transfer: Transfer) -> None:
            body = json.dumps(_add_entity_properties(typed_entity(transfer_row(transfer, version=7))))
            async with gate:
                date = formatdate(usegmt=True)
                signature = hmac.new(key, f"{date}\n{resource}".encode(), hashlib.sha256).digest()
                headers = {
                    "x-ms-date": date,
                    "x-ms-version": "2019-02-02",
                    "Content-Type": "application/json",
                    "Accept": "application/json;odata=nometadata",
                    "Prefer": "return-no-content",
                    "Authorization": f"SharedKeyLite {ACCOUNT}:{base64.b64encode(signature).decode()}",
                }
                async with session.post(f"{endpoint}/{TABLE_NAME}", data=body, headers=headers) as answer:
                    if answer.status != 204:
                        raise RuntimeError(f"insert refused: {answer.status} {await answer.text()}")

        await asyncio.gather(*(insert(t) for t in transfers))


def counted(connection: str, seen: list[str]) -> TableClient:
    """A client that notes every request it sends."""

    def note(request: Any) -> None:
        seen.append(request.http_request.url)

    return TableClient.from_connection_string(connection, TABLE_NAME, raw_request_hook=note)


def listing(finished_count: int) -> None:
    with running_azurite() as azurite:
        TableServiceClient.from_connection_string(azurite.connection_string).create_table(TABLE_NAME)
        writing = store_finished(azurite, finished_count)
        store = TransferStore(TableClient.from_connection_string(azurite.connection_string, TABLE_NAME))
        for n in range(IN_FLIGHT):
            transfer = finished(finished_count + n)
            transfer = replace(transfer, id=new_transfer_id(), state=TransferState.AWAITING_ACCEPTANCE)
            record = store.create(transfer, history=HistoryEntry(at=T0, action="created", message="started"))
            if n % 2:
                moved, entry = record.transfer.move(TransferState.ACCEPTED, at=T0, actor="bench")
                store.commit(record, Change(moved, history=(entry,)))
        seen: list[str] = []
        reader = counted(azurite.connection_string, seen)
        watched = TransferStore(reader)

        def header_scan() -> int:
            """The query ``list_transfers`` made for a state before the index answered it."""
            query = "RowKey eq @rk and PartitionKey gt @after and State eq @state"
            parameters = {"rk": "header", "after": "", "state": "Accepted"}
            pages = reader.query_entities(query, parameters=parameters, results_per_page=PAGE).by_page()
            return len(list(next(pages)))

        cases: list[tuple[str, Callable[[], int]]] = [
            (
                "in flight, state=Accepted (the index)",
                lambda: len(
                    watched.list_transfers(ListQuery(state=TransferState.ACCEPTED), page_size=PAGE).items
                ),
            ),
            (
                "in flight, the timer's list_active",
                lambda: len(watched.list_active(page_size=PAGE).transfers),
            ),
            ("in flight, state=Accepted (header scan, before)", header_scan),
        ]
        rows = reads_and_time(cases, seen)
    title = (
        f"5b. One page of {PAGE} beside {finished_count:,} completed transfers and {IN_FLIGHT} in flight "
        f"(written in {writing:.0f} s, {finished_count / writing:.0f} transfers/s)"
    )
    print(table(title, rows, ("listing", "found", "requests", "median of 3")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--finished", type=int, default=100_000)
    args = parser.parse_args()
    per_transfer(args.customers)
    print()
    listing(args.finished)


if __name__ == "__main__":
    main()
