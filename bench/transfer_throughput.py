"""Transfers per minute at Partner Center's documented quota, and the calls each transfer makes by phase.

    .venv/bin/python -m bench.transfer_throughput [--customers 1000] [--speedup 2.5]

A fleet of customers (3 SKUs and 50 users each: Office 365 E3, an equivalent whose holders are
swapped at cutover, and EMS E3 and Exchange Online (Plan 2), identical offers) moves end to end
through one local host (``function_app.py``, Azurite, the sandbox): ``POST /api/transfers``, the
customers accept (signed webhooks), the product buys, the originals lapse, the timer starts every
cutover. The sandbox enforces Partner Center's 500 requests per minute per partner tenant and
Graph's 3,000 writes per 150 s per tenant, both with their windows shortened ``--speedup`` times,
so a run takes minutes; figures are given as measured and scaled back to real minutes.
"""

from __future__ import annotations

import argparse
from collections import Counter

from bench.harness import PC_QUOTA, PHASES, PURPOSES, Moved, limits, running_fleet, table

#: The fewest Partner Center calls one transfer of this fleet can make. Five at most are the
#: transfer's own: the customer read that confirms the relationship and carries the company profile,
#: one cart, its checkout, one read of the order's subscriptions (``?order_id=``); the catalog (one
#: download per country and segment, and one read of today's availabilities per product and SKU bought,
#: both shared by every customer of the country and segment, so they round to 0) and the invitation
#: link (the partner's, read once) cost nothing per transfer. The rest are what documented rules need:
#: the customer's qualifications (its segment) and one read of its customer agreement (confirmed
#: before, as this fleet's are), the application's consent in the tenant, and each new subscription's
#: provisioning status in the tenant (4 here: Office 365 E3 is bought as two).
MINIMUM_PC = {
    "invitation link": 0,
    "customer and its country": 1,
    "customer agreement and segment": 2,
    "catalog": 0,
    "cart and checkout": 2,
    "order and provisioning": 1 + 4,
    "application consent": 1,
}
#: The fewest Graph calls, per transfer of this fleet (one SKU to swap, ~17 holders): the tenant's
#: names at start; the GDAP relationship, its approval lock, one read once approved, the access
#: assignment and one read of it active, the read that verifies access (its country serves the
#: region check), and ending the relationship; the inventory (subscriptions and seats) to plan; the
#: holders of the swapped SKU to plan and to swap (not those of identical lines: nobody moves on
#: them); a glance at the originals' dates by the timer and the seats before the swap; one $batch
#: per 20 holders.
MINIMUM_GRAPH = {
    "GDAP and delegated access": 8,
    "inventory and seats": 4,
    "license holders": 2,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--skus", type=int, default=3, help="SKUs per customer (1-3)")
    parser.add_argument("--users", type=int, default=50, help="users per customer")
    parser.add_argument("--speedup", type=float, default=2.5, help="quota windows shortened this many times")
    args = parser.parse_args()
    with running_fleet(
        customers=args.customers,
        customer_skus=args.skus,
        customer_users=args.users,
        rate_limits=limits(args.speedup),
    ) as fleet:
        fleet.register_webhook()
        moved = fleet.move(fleet.customers(args.customers))
    report(moved, args.speedup, args.users, args.skus)


def report(moved: Moved, speedup: float, users: int, skus: int) -> None:
    calls = moved.calls()
    n = moved.transfers
    pc_per = sum(v for (_, service, _), v in calls.items() if service == "partner_center") / n
    minimum = sum(MINIMUM_PC.values())
    rate = n / (moved.seconds / 60)
    real_rate = rate / speedup
    bound = PC_QUOTA / minimum
    product_bound = PC_QUOTA / pc_per
    print(
        f"{n} customers x {skus} SKUs x {users} users; Partner Center quota {PC_QUOTA}/min and Graph "
        f"3,000 writes/150 s, windows {speedup:g}x shorter; states: {dict(moved.states)}\n"
    )
    paced = moved.marks["buy"] - moved.marks["begin"]  # start to Provisioned: every Partner Center call
    paced_rate = n / (paced / 60) / speedup
    pc_calls = sum(v for (_, service, _), v in calls.items() if service == "partner_center")
    pc_429s = moved.status_count("partner_center", 429)
    rows = [
        ("elapsed", f"{moved.seconds:.0f} s", f"{moved.seconds * speedup / 60:.1f} min"),
        ("of which start to Provisioned (PC's phases)", f"{paced:.0f} s", f"{paced * speedup / 60:.1f} min"),
        ("transfers per minute in PC's phases", f"{paced_rate * speedup:.1f}", f"{paced_rate:.1f}"),
        ("  ratio to the bound at the product's PC calls", "", f"{paced_rate / product_bound:.0%}"),
        ("transfers per minute", f"{rate:.1f}", f"{real_rate:.1f}"),
        ("quota-bound maximum (500 / min. PC calls)", f"{bound * speedup:.1f}", f"{bound:.1f}"),
        ("ratio to the quota-bound maximum", f"{real_rate / bound:.0%}", f"{real_rate / bound:.0%}"),
        ("bound at the product's own PC calls", f"{product_bound * speedup:.1f}", f"{product_bound:.1f}"),
        ("ratio to that bound", f"{real_rate / product_bound:.0%}", f"{real_rate / product_bound:.0%}"),
        ("host CPU per transfer (process CPU / transfers)", f"{moved.host_cpu_s / n * 1000:.0f} ms", ""),
        ("429s received (Partner Center)", str(pc_429s), f"{pc_429s / max(pc_calls, 1):.2%} of {pc_calls}"),
        (
            "429s received (Graph, $batch members incl.)",
            str(moved.throttled["graph"] + moved.throttled["graph_writes"]),
            "",
        ),
        ("SKUs purchased twice (must be 0)", str(moved.bought_twice()), ""),
        ("licences swapped twice (must be 0)", str(moved.swapped_twice()), ""),
    ]
    print(table("1. Throughput", rows, ("figure", "measured", "real time")))
    print()
    print(
        table(
            "2. Calls per transfer by phase",
            phase_rows(calls, n),
            ("service / purpose", *PHASES, "total", "minimum"),
        )
    )


def phase_rows(calls: Counter[tuple[str, str, str]], transfers: int) -> list[tuple[str, ...]]:
    """Per purpose: calls per transfer in each phase, the total, and the fewest it could be."""
    rows: list[tuple[str, ...]] = []
    minima = {"partner_center": MINIMUM_PC, "graph": MINIMUM_GRAPH}
    for service in ("partner_center", "graph"):
        names = [name for s, _, name in PURPOSES if s == service and name != "webhook registration"]
        for name in names:
            per_phase = [calls[(phase, service, name)] / transfers for phase in PHASES]
            least = minima[service].get(name)
            rows.append(
                (
                    f"{'PC' if service == 'partner_center' else 'Graph'}: {name}",
                    *(f"{v:.2f}" for v in per_phase),
                    f"{sum(per_phase):.2f}",
                    "" if least is None else str(least),
                )
            )
        total = [sum(calls[(p, service, x)] for x in names) / transfers for p in PHASES]
        floor = sum(minima[service].values())
        rows.append(
            (
                f"{'PC' if service == 'partner_center' else 'Graph'} total",
                *(f"{v:.2f}" for v in total),
                f"{sum(total):.2f}",
                f"{floor}{' + swaps' if service == 'graph' else ''}",
            )
        )
    return rows


if __name__ == "__main__":
    main()
