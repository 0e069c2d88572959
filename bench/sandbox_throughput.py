"""Requests per second the sandbox serves through one keep-alive HTTPS ``requests.Session``.

    .venv/bin/python bench/sandbox_throughput.py [--requests 3000] [--threads 1]

The sandbox runs in its own process (as in tests); the mix is the product's read path: a
Partner Center customer, a Graph subscribedSkus and a filtered, selected users page.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox.testing import SandboxHandle, start_sandbox

E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"
PC_SCOPE = "https://api.partnercenter.microsoft.com/.default"
USERS_QUERY = {
    "$filter": f"assignedLicenses/any(x:x/skuId eq {E3})",
    "$select": "id,assignedLicenses",
    "$top": "10",
}


def _token(sb: SandboxHandle, tenant: str, scope: str) -> str:
    form = {"grant_type": "client_credentials", "client_id": sb.client_id, "client_secret": sb.client_secret,
            "scope": scope}  # fmt: skip
    response = sb.http_session().post(f"{sb.authority_host}/{tenant}/oauth2/v2.0/token", data=form)
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def _worker(sb: SandboxHandle, count: int, failures: list[int]) -> None:
    customer = sb.customer("contoso")
    pc = {"Authorization": "Bearer " + _token(sb, sb.partner_tenant_id, PC_SCOPE)}
    graph = {"Authorization": "Bearer " + _token(sb, customer, "https://graph.microsoft.com/.default")}
    calls = [
        (f"{sb.partner_center_endpoint}/v1/customers/{customer}", pc, None),
        (f"{sb.graph_endpoint}/v1.0/subscribedSkus", graph, None),
        (f"{sb.graph_endpoint}/v1.0/users", graph, USERS_QUERY),
    ]
    session = sb.http_session()
    for n in range(count):
        url, headers, params = calls[n % len(calls)]
        if session.get(url, headers=headers, params=params).status_code != 200:
            failures.append(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000, help="requests per thread")
    parser.add_argument("--threads", type=int, default=1, help="client threads, each with its own session")
    args = parser.parse_args()
    with start_sandbox("default", params={"access": "granted"}) as sb:  # the reads, not the access set-up
        _worker(sb, 30, [])  # warm up: TLS handshake, token cache
        failures: list[int] = []
        workers = [
            threading.Thread(target=_worker, args=(sb, args.requests, failures)) for _ in range(args.threads)
        ]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - started
        total = args.requests * args.threads
        served = sb.ledger("requests")["requestCount"]
    rate = total / elapsed
    print(
        f"sandbox throughput: {rate:.0f} requests/s ({total} requests, {args.threads} client thread(s), "
        f"{elapsed:.2f} s, {len(failures)} non-200, {served} in the ledger)"
    )


if __name__ == "__main__":
    main()
