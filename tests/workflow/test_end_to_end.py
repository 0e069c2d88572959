"""The product as deployed, end to end: function_app.py run by the local host, over HTTP and the queue.

Azurite holds the queue and the tables; the sandbox plays Partner Center, Graph, Entra and the
customer, and delivers signed webhooks to the host. Every assertion reads either the admin API or
the sandbox's ledger.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from azure.storage.queue import QueueClient

from devhost.azurite import Azurite
from devhost.host import LocalHostHandle, start_local_host
from devhost.run import local_settings
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from shared.store.queue import QUEUE_NAME

pytestmark = pytest.mark.slow

ACCEPTED = "reseller-relationship-accepted-by-customer"


@pytest.fixture
def host(services: Services, sandbox: SandboxHandle, azurite: Azurite) -> Iterator[LocalHostHandle]:
    with start_local_host(local_settings(sandbox, azurite), message_lease_s=4) as running:
        yield running


def hook_url(host: LocalHostHandle) -> str:
    return f"{host.url}/api/webhooks/partner-center"


def start(host: LocalHostHandle, customer: str) -> dict[str, Any]:
    body = {"customerTenantId": customer, "customerCountry": "US", "sourceChannel": "Direct"}
    answer = requests.post(f"{host.url}/api/transfers", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    transfer: dict[str, Any] = answer.json()
    return transfer


def wait_for(host: LocalHostHandle, transfer_id: str, state: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        record: dict[str, Any] = requests.get(f"{host.url}/api/transfers/{transfer_id}", timeout=10).json()
        if record["state"] == state or time.monotonic() > deadline:
            assert record["state"] == state, record
            return record
        time.sleep(0.3)


def wait_for_line(
    host: LocalHostHandle, transfer_id: str, line_id: str, state: str, timeout_s: float = 90
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        record: dict[str, Any] = requests.get(f"{host.url}/api/transfers/{transfer_id}", timeout=10).json()
        [line] = [x for x in record["lines"] if x["id"] == line_id] or [{"state": None}]
        if line["state"] == state:
            return record
        assert time.monotonic() < deadline, record
        time.sleep(0.3)


def first_answers(sandbox: SandboxHandle, ids: list[str], timeout_s: float = 20) -> set[int]:
    """The app's answer to the first attempt of each delivery, without waiting out the redeliveries."""
    deadline = time.monotonic() + timeout_s
    while True:
        attempts = {d["id"]: d["attempts"] for d in sandbox.webhook_deliveries() if d["id"] in ids}
        if len(attempts) == len(ids) and all(attempts.values()):
            return {a[0]["status"] for a in attempts.values()}
        assert time.monotonic() < deadline, attempts
        time.sleep(0.05)


def queued(azurite: Azurite) -> int:
    queue = QueueClient.from_connection_string(azurite.connection_string, QUEUE_NAME)
    return queue.get_queue_properties().approximate_message_count or 0


def test_signed_webhook_takes_a_started_transfer_to_provisioned(
    host: LocalHostHandle, services: Services, sandbox: SandboxHandle
) -> None:
    customer = sandbox.customer("fabrikam")
    services.partner_center.create_or_update_webhook_registration(hook_url(host), [ACCEPTED])
    transfer = start(host, customer)

    accepted = sandbox.accept_invitation(customer)

    deliveries = sandbox.wait_webhooks(accepted["webhookDeliveries"])
    assert [d["attempts"][-1]["status"] for d in deliveries] == [200]
    record = wait_for(host, transfer["id"], "Provisioned")
    assert {line["state"] for line in record["lines"]} == {"Active"}
    assert len(sandbox.purchases()) == 1


def test_the_same_webhook_delivered_three_times_buys_once(
    host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = start(host, customer)
    sandbox.accept_invitation(customer)

    statuses = [
        d["attempts"][-1]["status"]
        for _ in range(3)
        for d in sandbox.send_webhook(ACCEPTED, customer_id=customer, url=hook_url(host), mode="duplicate")
    ]

    assert set(statuses) == {200}
    wait_for(host, transfer["id"], "Provisioned")
    again = sandbox.send_webhook(ACCEPTED, customer_id=customer, url=hook_url(host))
    assert [d["attempts"][-1]["status"] for d in again] == [200]  # acknowledged
    assert len(sandbox.purchases()) == 1


@pytest.mark.parametrize("mode", ["forged-signature", "wrong-cert-url", "redirecting-cert-url"])
def test_an_unverifiable_webhook_is_refused_and_nothing_is_queued(
    host: LocalHostHandle, sandbox: SandboxHandle, azurite: Azurite, mode: str
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = start(host, customer)
    sandbox.accept_invitation(customer)

    sent = sandbox.send_webhook(ACCEPTED, customer_id=customer, url=hook_url(host), mode=mode, wait=False)

    assert first_answers(sandbox, [d["id"] for d in sent]) == {401}  # Partner Center would retry
    assert queued(azurite) == 0
    assert requests.get(f"{host.url}/api/transfers/{transfer['id']}", timeout=10).json()["state"] == (
        "AwaitingAcceptance"
    )


def test_without_a_webhook_the_timer_finds_the_acceptance(
    host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = start(host, customer)
    sandbox.accept_invitation(customer)  # no webhook registered: nothing is delivered

    ran = requests.post(f"{host.url}/admin/functions/scan_transfers", json={"input": ""}, timeout=10)

    assert ran.status_code == 202
    wait_for(host, transfer["id"], "Provisioned")
    assert len(sandbox.purchases()) == 1


def test_host_killed_during_checkout_restarts_and_buys_once(
    host: LocalHostHandle, services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = start(host, customer)
    sandbox.add_fault("delay", service="partner_center", method="POST", path="/checkout$", delay_s=3)
    sandbox.accept_invitation(customer)
    sandbox.send_webhook(ACCEPTED, customer_id=customer, url=hook_url(host))
    deadline = time.monotonic() + 30
    while not any(r["path"].endswith("/checkout") for r in sandbox.requests()):
        assert time.monotonic() < deadline, "the checkout never started"
        time.sleep(0.05)

    host.kill()  # SIGKILL while Partner Center is still placing the order
    with start_local_host(local_settings(sandbox, azurite), message_lease_s=4) as restarted:
        wait_for(restarted, transfer["id"], "Provisioned", timeout_s=90)

    assert len(sandbox.purchases()) == 1


def test_host_killed_during_cutover_restarts_with_nobody_unlicensed_or_swapped_twice(
    host: LocalHostHandle, services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    o365_e1 = sandbox.ids.skus["O365_E1"]
    sandbox.add_users(customer, 200, sku_id=o365_e1)
    sandbox.add_subscription(customer, o365_e1, 200, days_to_next=3)  # lapses inside the lead window
    transfer = start(host, customer)
    sandbox.add_fault("delay", service="graph", method="POST", path=r"/\$batch$", delay_s=0.5, times=-1)
    sandbox.accept_invitation(customer)
    sandbox.send_webhook(ACCEPTED, customer_id=customer, url=hook_url(host))
    deadline = time.monotonic() + 60
    while len(sandbox.license_changes()) < 30:  # some users swapped, most not yet
        assert time.monotonic() < deadline, "the cutover never started"
        time.sleep(0.05)

    host.kill()
    with start_local_host(local_settings(sandbox, azurite), message_lease_s=4) as restarted:
        record = wait_for_line(restarted, transfer["id"], o365_e1, "Completed")

    changes = sandbox.license_changes()
    swapped = [c["userId"] for c in changes if o365_e1 in c["removed"]]
    assert len(swapped) == len(set(swapped))  # nobody twice
    assert not list(services.graph.list_users_with_sku(customer, o365_e1))  # nobody left on the old SKU
    [e1] = [line for line in record["lines"] if line["sourceSkuId"] == o365_e1]
    assert record["state"] == "CuttingOver"  # the other line's original lapses later: it waits
    targets = {r["skuId"] for r in e1["replacements"]}
    for sku in targets:
        assert set(swapped) <= {u.id for u in services.graph.list_users_with_sku(customer, sku)}
    assert len(sandbox.purchases()) == 1
