"""Calls per second through PartnerCenterClient on the sandbox: keep-alive vs a new connection per call.

Run from the repository root:

    .venv/bin/python -m bench.client_throughput [--calls 300]

It starts ``python -m sandbox --port 0`` itself, reads the sandbox's settings line, and times
``get_customer`` (one GET through the whole pipeline: ids, retry, logging, bearer token, TLS).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared.clients.auth import PartnerCredential
from shared.clients.http import make_session
from shared.clients.partner_center import PartnerCenterClient


@contextmanager
def sandbox() -> Iterator[dict[str, Any]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(timeout=10)


def measure(info: dict[str, Any], *, keep_alive: bool, calls: int) -> tuple[float, list[float]]:
    """Calls per second and per-call latencies (ms) for ``calls`` sequential ``get_customer``."""
    ca = info["ca_bundle"]
    credential = PartnerCredential(
        tenant_id=info["partner_tenant_id"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        refresh_token=info["refresh_token"],
        authority_host=info["authority_host"],
        verify=ca,
    )
    session = make_session(ca)
    if not keep_alive:
        # The server closes after each answer, so every call pays TCP and TLS set-up again.
        session.headers["Connection"] = "close"
    with PartnerCenterClient(
        info["partner_center_endpoint"], credential, session=session, verify=ca
    ) as client:
        customer_id = next(iter(client.list_customers(page_size=1))).id
        client.get_customer(customer_id)  # token and first connection outside the timing
        latencies = []
        started = time.perf_counter()
        for _ in range(calls):
            begun = time.perf_counter()
            client.get_customer(customer_id)
            latencies.append((time.perf_counter() - begun) * 1000)
        elapsed = time.perf_counter() - started
    session.close()
    return calls / elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    with sandbox() as info:
        for keep_alive in (True, False):
            rate, latencies = measure(info, keep_alive=keep_alive, calls=args.calls)
            label = "keep-alive (pooled session)" if keep_alive else "new connection per call"
            p95 = statistics.quantiles(latencies, n=20)[18]
            print(
                f"{label:30s} {rate:8.1f} calls/s   median {statistics.median(latencies):6.2f} ms"
                f"   p95 {p95:6.2f} ms   ({args.calls} sequential get_customer)"
            )


if __name__ == "__main__":
    main()
