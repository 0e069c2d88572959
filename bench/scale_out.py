"""Scale-out: two local hosts on the same queue and tables against one, with no purchase or swap made twice.

    .venv/bin/python -m bench.scale_out [--customers 200] [--speedup 0]

The same fleet (3 SKUs and 50 users per customer) moves end to end twice on fresh storage and a
fresh sandbox: once through one local host, once through two that share the queue and the
tables (the admins' requests alternate between them; webhooks go to the first). Without
``--speedup`` no quota is enforced, so the figure is the product's own scaling on this machine;
with it, Partner Center's and Graph's quotas apply as in ``bench.transfer_throughput``.
"""

from __future__ import annotations

import argparse

from bench.harness import Moved, limits, running_fleet, table


def run(customers: int, hosts: int, speedup: float) -> Moved:
    rate_limits = limits(speedup) if speedup else None
    with running_fleet(customers=customers, hosts=hosts, rate_limits=rate_limits) as fleet:
        fleet.register_webhook()
        return fleet.move(fleet.customers(customers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument(
        "--speedup", type=float, default=0.0, help="enforce the quotas, windows this much shorter"
    )
    args = parser.parse_args()
    one, two = run(args.customers, 1, args.speedup), run(args.customers, 2, args.speedup)
    rows = []
    for hosts, moved in ((1, one), (2, two)):
        phases = [
            moved.marks[p] - moved.marks[q]
            for q, p in (("begin", "start"), ("start", "buy"), ("buy", "cutover"))
        ]
        rows.append(
            (
                f"{hosts} host{'s' if hosts > 1 else ''}",
                f"{moved.seconds:.0f} s",
                *(f"{p:.0f} s" for p in phases),
                f"{moved.transfers / (moved.seconds / 60):.1f}",
                str(moved.bought_twice()),
                str(moved.swapped_twice()),
                ", ".join(f"{n} {s}" for s, n in moved.states.items()),
            )
        )
    quota = f"quotas enforced, windows {args.speedup:g}x shorter" if args.speedup else "no quota enforced"
    header = (
        "",
        "elapsed",
        "start",
        "buy",
        "cutover",
        "transfers/min",
        "bought twice",
        "swapped twice",
        "end",
    )
    print(table(f"6. Scale-out: {args.customers} transfers ({quota})", rows, header))
    print(f"two hosts / one host: {one.seconds / two.seconds:.2f}x the throughput")


if __name__ == "__main__":
    main()
