"""From the acceptance webhook to Provisioned, one customer at a time: the wait an admin sees.

    .venv/bin/python -m bench.acceptance_latency [--customers 20]

Each customer of the sandbox's ``large`` fleet (3 SKUs, 50 users) is started, then its Global
Administrator accepts: Partner Center sends the signed webhook to the local host, which queues the
acceptance; the workflow confirms it, sets up delegated access, plans, buys and waits for the new
subscriptions to be provisioned. Timed from the acceptance until the transfer's header row says
Provisioned (read from the table every 20 ms), one customer after the other so nothing queues
behind anything else. No quota is enforced by the sandbox: the product paces itself to Partner
Center's 500 calls a minute, which 20 transfers stay far inside.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.harness import Fleet, running_fleet, table

SLOWEST_S = 120.0  # a transfer not Provisioned by then ends the bench


def accepted_to_provisioned(fleet: Fleet, customer: str) -> float:
    """Seconds from the customer's acceptance to its transfer's Provisioned state."""
    fleet.start([customer], threads=1)
    header = fleet.table()
    transfer_id = fleet.transfers[customer]
    began = time.perf_counter()
    fleet.accept([customer], threads=1)
    while time.perf_counter() - began < SLOWEST_S:
        state = str(header.get_entity(transfer_id, "header").get("State"))
        if state == "Provisioned":
            return time.perf_counter() - began
        if state in ("Failed", "Blocked"):
            raise SystemExit(f"transfer {transfer_id} stopped {state}")
        time.sleep(0.02)
    raise SystemExit(f"transfer {transfer_id} not Provisioned after {SLOWEST_S:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20)
    args = parser.parse_args()
    with running_fleet(customers=args.customers + 1) as fleet:
        fleet.register_webhook()
        *measured, first = fleet.customers(args.customers + 1)
        accepted_to_provisioned(fleet, first)  # not counted: the host's first catalog fetch and tokens
        times = [accepted_to_provisioned(fleet, c) for c in measured]
    rows = [
        ("median", f"{statistics.median(times):.2f} s"),
        ("fastest", f"{min(times):.2f} s"),
        ("slowest", f"{max(times):.2f} s"),
    ]
    title = f"Acceptance webhook to Provisioned, one customer at a time ({args.customers} customers)"
    print(table(title, rows, ("figure", "measured")))


if __name__ == "__main__":
    main()
