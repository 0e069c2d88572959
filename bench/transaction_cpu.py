"""CPU per entity-group transaction: the storage SDK's own multipart path against the store's.

    .venv/bin/python -m bench.transaction_cpu [--transactions 300] [--rows 6]

Every commit and every list-index write is one transaction, so their cost is most of a transfer's
CPU. The same transactions (``rows`` upserts into one partition, a step's commit in size) go to
Azurite through ``azure.data.tables.TableClient`` and through
:class:`shared.store.transactions.TransactionTableClient`, in turns of 50 so a drift in the
machine's speed hits both; the process's CPU time and the wall time per transaction are reported.
"""

from __future__ import annotations

import argparse
import time
import uuid

from azure.data.tables import TableClient

from bench.harness import table
from devhost.azurite import running_azurite
from shared.store.transactions import TransactionTableClient

TURN = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=300)
    parser.add_argument("--rows", type=int, default=6)
    args = parser.parse_args()
    with running_azurite() as azurite:
        name = f"cpu{uuid.uuid4().hex[:8]}"
        clients: dict[str, TableClient] = {
            "azure-data-tables submit_transaction": TableClient.from_connection_string(
                azurite.connection_string, name
            ),
            "TransactionTableClient (the store's)": TransactionTableClient.from_connection_string(
                azurite.connection_string, name
            ),
        }
        next(iter(clients.values())).create_table()
        spent = {label: [0.0, 0.0] for label in clients}
        sent = 0

        def send(client: TableClient) -> None:
            nonlocal sent
            sent += 1
            rows = (
                {"PartitionKey": f"p{sent}", "RowKey": f"r{k}", "Text": "x" * 200} for k in range(args.rows)
            )
            client.submit_transaction([("upsert", row) for row in rows])

        for client in clients.values():  # connections made, code paths warm
            for _ in range(10):
                send(client)
        for _ in range(max(1, args.transactions // TURN)):
            for label, client in clients.items():
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(TURN):
                    send(client)
                spent[label][0] += time.process_time() - cpu
                spent[label][1] += time.perf_counter() - wall
    count = max(1, args.transactions // TURN) * TURN
    rows = [
        (label, f"{cpu / count * 1e3:.2f} ms", f"{wall / count * 1e3:.2f} ms")
        for label, (cpu, wall) in spent.items()
    ]
    title = f"Entity-group transactions of {args.rows} rows, {count} each"
    print(table(title, rows, ("client", "CPU", "wall")))


if __name__ == "__main__":
    main()
