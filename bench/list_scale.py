"""The transfer list at scale: one page, each order and filter, beside 10,000 transfers in flight.

    .venv/bin/python -m bench.list_scale [--in-flight 10000] [--finished 2000]

The list rows are written straight into the index partition, a hundred a transaction, through the
index's own row layout (writing 12,000 transfers one by one through the store would measure the
emulator, for an hour). Then each page an admin asks for is read through the store, three times:
the requests it sent (every request Azurite serves is a billable transaction) and the median time.
Before the index, a page filtered by an in-flight state read every in-flight transfer's header.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import timedelta

from azure.data.tables import TableClient, TableServiceClient

from bench.harness import reads_and_time, table
from devhost.azurite import running_azurite
from shared.domain import TransferState
from shared.domain.summary import SCHEDULED, Listing
from shared.store.index import ListQuery
from shared.store.repository import TABLE_NAME, TransferStore
from tests.store.listed import T0, a_listing, bulk_list

PAGE = 50
STATES = (
    TransferState.AWAITING_ACCEPTANCE,
    TransferState.PROVISIONED,
    TransferState.CUTTING_OVER,
    TransferState.BLOCKED,
    TransferState.PROVISIONING,
)


def fleet(in_flight: int, finished: int) -> list[Listing]:
    listings = []
    for n in range(in_flight):
        state = STATES[n % len(STATES)]
        stage = SCHEDULED if state is TransferState.PROVISIONED and n % 3 == 0 else str(state)
        listings.append(a_listing(n, state, stage=stage))
    listings += [a_listing(n, TransferState.COMPLETED) for n in range(in_flight, in_flight + finished)]
    return listings


def page_of(store: TransferStore, query: ListQuery) -> Callable[[], int]:
    return lambda: len(store.list_transfers(query, page_size=PAGE).items)


def measure(in_flight: int, finished: int) -> None:
    with running_azurite() as azurite:
        TableServiceClient.from_connection_string(azurite.connection_string).create_table(TABLE_NAME)
        started = time.perf_counter()
        listings = fleet(in_flight, finished)
        bulk_list(TableClient.from_connection_string(azurite.connection_string, TABLE_NAME), listings)
        writing = time.perf_counter() - started
        seen: list[str] = []
        client = TableClient.from_connection_string(
            azurite.connection_string, TABLE_NAME, raw_request_hook=lambda r: seen.append(r.http_request.url)
        )
        store = TransferStore(client)
        soon = T0 + timedelta(days=60)
        queries = (
            ("newest first (the default)", ListQuery()),
            ("next date, soonest first", ListQuery(sort="next")),
            ("last change, oldest first", ListQuery(sort="updated", order="asc")),
            ("state=Blocked", ListQuery(state=TransferState.BLOCKED)),
            ("stage=Scheduled, by next date", ListQuery(sort="next", stage=SCHEDULED)),
            ("attention=true", ListQuery(attention_before=soon)),
            ("q=customer 09999 (a text search)", ListQuery(text="customer 09999")),
        )
        cases: list[tuple[str, Callable[[], int]]] = [
            (name, page_of(store, query)) for name, query in queries
        ]
        cases.append(("counts per stage and attention", lambda: len(store.counts(soon))))
        rows = reads_and_time(cases, seen)
    title = (
        f"One page of {PAGE} beside {in_flight:,} transfers in flight and {finished:,} finished "
        f"({len(listings) * 6:,} list rows written in {writing:.0f} s)"
    )
    print(table(title, rows, ("page", "rows", "requests", "median of 3")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-flight", type=int, default=10_000)
    parser.add_argument("--finished", type=int, default=2_000)
    args = parser.parse_args()
    measure(args.in_flight, args.finished)


if __name__ == "__main__":
    main()
