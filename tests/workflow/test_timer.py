"""The timer's backstop, against Azurite and the sandbox: it reads only in-flight transfers, finds
acceptances no webhook announced, and wakes transfers whose next message was lost."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from azure.storage.queue import QueueClient

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from shared.store.queue import QUEUE_NAME
from tests.fixtures.app import pump, routes
from tests.workflow.transfers import acceptance, started


def state(services: Services, transfer_id: str) -> str:
    return str(routes(services).get_transfer(transfer_id).body["state"])


def later(hours: float) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + timedelta(hours=hours)


def test_scan_leaves_a_waiting_customer_alone_and_finds_its_acceptance_once_given(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = started(services, customer)

    assert services.timer.scan().accepted == 0
    pump(azurite, services)
    assert state(services, transfer["id"]) == "AwaitingAcceptance"

    sandbox.accept_invitation(customer)  # no webhook registered: only the timer can notice
    report = services.timer.scan()
    pump(azurite, services)

    assert (report.active, report.accepted) == (1, 1)
    assert state(services, transfer["id"]) == "Provisioned"


def test_many_waiting_customers_are_checked_with_one_paged_customer_listing(
    services: Services, sandbox: SandboxHandle
) -> None:
    started(services, sandbox.customer("fabrikam"))
    sandbox.accept_invitation(sandbox.customer("fabrikam"))
    sandbox.clear_ledger()

    report = services.new_timer(point_reads_up_to=0).scan()

    customer_reads = [r for r in sandbox.requests() if "/v1/customers" in r["path"]]
    assert [r["path"].rsplit("/partnercenter", 1)[-1] for r in customer_reads] == ["/v1/customers"]
    assert report.accepted == 1


def test_a_transfer_whose_message_was_lost_is_nudged_once_it_is_stuck(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = started(services, customer)
    sandbox.accept_invitation(customer)
    sandbox.add_fault("status", service="graph", status=429, retry_after="600", times=-1)
    event = acceptance(transfer)
    services.runner.handle_message(json.dumps(event.to_json()))  # accepted, then throttled: put back
    QueueClient.from_connection_string(azurite.connection_string, QUEUE_NAME).clear_messages()  # lost
    sandbox.clear_faults()
    assert state(services, transfer["id"]) == "Accepted"

    assert services.timer.scan().nudged == 0  # not stuck yet
    assert services.new_timer(clock=later(1)).scan().nudged == 1
    pump(azurite, services)

    assert state(services, transfer["id"]) == "Provisioned"
    assert len(sandbox.purchases()) == 1
