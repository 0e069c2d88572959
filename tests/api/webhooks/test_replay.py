"""A captured, genuinely signed delivery sent again: the signature still verifies, so what keeps a
replay harmless is that the app remembers each delivery and acts only on what Partner Center itself
says when asked with the app's own token."""

from __future__ import annotations

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from tests.api.webhooks.conftest import Deliver
from tests.fixtures.app import pump, routes
from tests.workflow.transfers import record, started


def test_a_replayed_acceptance_for_a_customer_who_has_not_accepted_buys_nothing(
    services: Services, sandbox: SandboxHandle, azurite: Azurite, deliver: Deliver
) -> None:
    transfer = started(services, sandbox.customer("fabrikam"))
    [(headers, body)] = deliver(customer="fabrikam")  # signed, but fabrikam never accepted

    first = routes(services).receive_webhook(headers, body)
    pump(azurite, services)
    replayed = [routes(services).receive_webhook(headers, body) for _ in range(3)]

    assert (first.status, first.body) == (200, {"status": "accepted"})
    assert {(r.status, r.body["status"]) for r in replayed} == {(200, "duplicate")}
    assert record(services, transfer["id"])["state"] == "AwaitingAcceptance"
    assert sandbox.purchases() == []


def test_a_delivery_replayed_after_the_transfer_moved_on_is_acknowledged_and_changes_nothing(
    services: Services, sandbox: SandboxHandle, azurite: Azurite, deliver: Deliver
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = started(services, customer)
    sandbox.accept_invitation(customer)
    [(headers, body)] = deliver(customer="fabrikam")
    assert routes(services).receive_webhook(headers, body).status == 200
    pump(azurite, services, idle_s=3)
    before = record(services, transfer["id"])
    assert before["state"] == "Provisioned"

    replayed = routes(services).receive_webhook(headers, body)
    pump(azurite, services)

    assert (replayed.status, replayed.body["status"]) == (200, "duplicate")
    assert record(services, transfer["id"]) == before
    assert len(sandbox.purchases()) == 1
