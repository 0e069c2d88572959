"""`make demo`: one customer's transfer, end to end, through the product's own triggers.

Azurite holds the queue and the tables, the sandbox plays Microsoft and the customer, and the
local host runs function_app.py as Azure would: the transfer starts with `POST /api/transfers`,
the customer's acceptance arrives as a signed Partner Center webhook, and the queue-driven
workflow plans, buys and waits for provisioning. Progress is read back from the admin API.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import requests

from devhost.azurite import running_azurite
from devhost.host import LocalHostHandle, start_local_host
from devhost.run import local_settings
from sandbox.testing import SandboxHandle, start_sandbox

CUSTOMER = "fabrikam"  # a US customer with direct Office 365 E1 and Microsoft 365 E3 seats
ACCEPTED = "reseller-relationship-accepted-by-customer"


class Progress:
    def __init__(self) -> None:
        self._started = time.monotonic()
        self._step = 0

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self._step += 1
        print(f"\n[{time.monotonic() - self._started:6.2f}s] {self._step}. {title}", flush=True)
        yield

    @staticmethod
    def say(text: str) -> None:
        print(f"           {text}", flush=True)


def main() -> int:
    progress = Progress()
    with ExitStack() as running:
        with progress.step("Starting Azurite, the sandbox (Partner Center, Graph, Entra) and the local host"):
            azurite = running.enter_context(running_azurite())
            sandbox = running.enter_context(start_sandbox("default"))
            host = running.enter_context(start_local_host(local_settings(sandbox, azurite)))
            progress.say(f"storage   {azurite.queue_endpoint} (queues), {azurite.table_endpoint} (tables)")
            progress.say(f"sandbox   {sandbox.base_url} (its own CA, trusted through REQUESTS_CA_BUNDLE)")
            progress.say(
                f"app       {host.url}/api  ({len(host.info['functions'])} functions of function_app.py)"
            )
        run(progress, sandbox, host)
    return 0


def run(progress: Progress, sandbox: SandboxHandle, host: LocalHostHandle) -> None:
    api = f"{host.url}/api"
    customer = sandbox.customer(CUSTOMER)
    http = requests.Session()

    with progress.step("The partner registers its webhook with Partner Center"):
        hook = f"{api}/webhooks/partner-center"
        _register(sandbox, hook)
        progress.say(f"{ACCEPTED} -> {hook}")

    with progress.step(f"An admin starts a transfer for {CUSTOMER} (country US): POST /api/transfers"):
        answer = http.post(
            f"{api}/transfers",
            json={"customerTenantId": customer, "customerCountry": "US", "sourceChannel": "Direct"},
            timeout=60,
        )
        transfer = _ok(answer, 201)
        progress.say(f"201 Created: transfer {transfer['id']} is {transfer['state']}")
        for action in transfer["customerActions"]:
            progress.say(f"the customer's admin must {action['action']}: {action['url']}")

    with progress.step("The customer's Global Administrator accepts the invitation and approves GDAP"):
        accepted = sandbox.accept_invitation(customer)
        for delivery in sandbox.wait_webhooks(accepted["webhookDeliveries"]):
            attempt = delivery["attempts"][-1]
            progress.say(
                f"Partner Center delivered a signed {ACCEPTED}: the app answered {attempt['status']}"
            )

    with progress.step(
        "The queue-driven workflow confirms, plans, buys in one cart and waits for provisioning"
    ):
        record = _follow(
            progress, http, f"{api}/transfers/{transfer['id']}", until={"Provisioned", "Blocked"}
        )

    with progress.step("What was bought"):
        for line in record["lines"]:
            bought = ", ".join(f"{r['quantity']} x {r['catalogItemId']}" for r in line["replacements"]) or "-"
            progress.say(
                f"{line['sourceSkuPartNumber']:<14} {line['quantity']:>3} seats  {line['decision']:<10} "
                f"{line['state']:<8} -> {bought}"
            )
        purchases = sandbox.purchases()
        progress.say(f"Partner Center orders placed: {len(purchases)} (one cart for the whole transfer)")
        progress.say("originals: never cancelled; the cutover runs when they reach their end date")

    print(f"\nDone: transfer {transfer['id']} is {record['state']}; everything started here is stopped.")


def _register(sandbox: SandboxHandle, url: str) -> None:
    from shared.bootstrap import Services
    from shared.settings import Settings

    services = Services(Settings(sandbox.env()), verify=sandbox.ca_bundle)
    try:
        services.partner_center.create_or_update_webhook_registration(url, [ACCEPTED])
    finally:
        services.close()


def _follow(
    progress: Progress, http: requests.Session, url: str, *, until: set[str], timeout_s: float = 120
) -> dict[str, Any]:
    """Print each new history entry as the workflow writes it, until the transfer reaches a state."""
    shown = 0
    deadline = time.monotonic() + timeout_s
    while True:
        record = _ok(http.get(url, timeout=30), 200)
        history = record["history"]
        for entry in history[shown:]:
            progress.say(f"{entry['at'][11:19]} {entry['actor']:<8} {entry['message'][:150]}")
        shown = len(history)
        if record["state"] in until:
            return record
        if time.monotonic() > deadline:
            raise SystemExit(f"the transfer is still {record['state']} after {timeout_s:.0f} s")
        time.sleep(0.25)


def _ok(answer: requests.Response, status: int) -> dict[str, Any]:
    if answer.status_code != status:
        raise SystemExit(f"{answer.request.method} {answer.url} -> {answer.status_code}: {answer.text[:500]}")
    body: dict[str, Any] = answer.json()
    return body


if __name__ == "__main__":
    sys.exit(main())
