"""The cutover of one big tenant: Graph calls against ceil(users / 20) batches, time, and the write quota.

    .venv/bin/python -m bench.cutover_scale [--users 5000] [--speedup 10]

Tenant "bigcorp" of the sandbox's ``large`` scenario holds Office 365 E3 (discontinued) for every
user, directly; the product buys its equivalent and, once the original lapses, swaps each user's
licence in ``$batch`` requests of 20. The sandbox enforces Graph's write quota of 3,000 writes per
150 s per app and tenant (each ``$batch`` member counts) with the window shortened ``--speedup``
times, and pages users 999 at a time as Graph does for ``$top=999``.
"""

from __future__ import annotations

import argparse
import math

from bench.harness import GRAPH_WRITES, limits, running_fleet, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--speedup", type=float, default=10.0, help="quota windows shortened this many times")
    args = parser.parse_args()
    with running_fleet(
        customers=0,
        bigcorp_users=args.users,
        rate_limits=limits(args.speedup, pc=False),
    ) as fleet:
        fleet.sandbox.set_knobs(graph_page_size=999)
        fleet.register_webhook()
        moved = fleet.move([fleet.sandbox.customer("bigcorp")])
    calls = moved.calls()
    graph = {
        name: n for (phase, service, name), n in calls.items() if phase == "cutover" and service == "graph"
    }
    access = graph.pop("GDAP and delegated access", 0)  # the relationship ended after: not the cutover's
    batches = graph.get("license swaps ($batch of 20)", 0)
    least = math.ceil(args.users / 20)
    elapsed = moved.marks["cutover"] - moved.marks["buy"]
    # Time the sandbox spent inside its $batch answers (it keeps each SKU's direct seats counted).
    serving = sum(
        float(r["latencyMs"]) / 1000
        for r in moved.requests
        if r["service"] == "graph" and r["path"].endswith("$batch") and float(r["at"]) > moved.marks["buy"]
    )
    writes, window = GRAPH_WRITES
    floor_s = max(0.0, (args.users - writes) / writes * window)  # a full bucket, then the refill rate
    rows = [
        ("users swapped", str(moved.swaps()), ""),
        ("Graph $batch calls (20 writes each)", str(batches), f"ceil(users/20) = {least}"),
        *(
            (f"Graph {name}", str(n), "")
            for name, n in sorted(graph.items())
            if not name.startswith("license swaps")
        ),
        (
            "Graph calls for the cutover",
            str(sum(graph.values())),
            f"{sum(graph.values()) / least:.3f} x ceil(users/20)",
        ),
        ("Graph: ending delegated access, after", str(access), "not the cutover's"),
        (
            "elapsed, lapse to Completed",
            f"{elapsed:.1f} s",
            f"{elapsed * args.speedup / 60:.1f} min real time",
        ),
        (
            "of which the sandbox answering $batch",
            f"{serving:.1f} s",
            "",
        ),
        (
            "the rest (product, queue, timer)",
            f"{elapsed - serving:.1f} s",
            f"{(elapsed - serving) * args.speedup / 60:.1f} min real time",
        ),
        (
            "least time the write quota allows",
            f"{floor_s / args.speedup:.1f} s",
            f"{floor_s / 60:.1f} min real time ({writes:,} writes per {window:.0f} s)",
        ),
        ("Graph 429s (writes over the quota)", str(moved.throttled["graph_writes"]), "each waited out"),
        ("licences swapped twice (must be 0)", str(moved.swapped_twice()), ""),
        ("transfer", ", ".join(f"{n} {s}" for s, n in moved.states.items()), ""),
    ]
    title = (
        f"3. Cutover of a {args.users:,}-user tenant (Graph's write quota, windows {args.speedup:g}x shorter)"
    )
    print(table(title, rows, ("figure", "measured", "against")))


if __name__ == "__main__":
    main()
