"""Delegated access as deployed: function_app.py run by the local host, the webhook registered as the
partner registers it, the customer's admin played by the sandbox, which signs and delivers Partner
Center's GDAP events. No admin action but the start (and, where said, a cancel)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devhost.azurite import Azurite
from devhost.host import LocalHostHandle, start_local_host
from devhost.run import local_settings, register_webhook
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from tests.workflow.test_partner_transfer_end_to_end import wait_until


@pytest.fixture
def host(services: Services, sandbox: SandboxHandle, azurite: Azurite) -> Iterator[LocalHostHandle]:
    with start_local_host(local_settings(sandbox, azurite), message_lease_s=4) as running:
        register_webhook(sandbox, f"{running.url}/api", azurite=azurite)
        yield running


def started_and_accepted(host: LocalHostHandle, sandbox: SandboxHandle) -> dict[str, Any]:
    """fabrikam's transfer, its reseller invitation accepted (the webhook delivered), and the
    workflow waiting for the GDAP request the customer has not approved yet."""
    body = {
        "customerTenantId": sandbox.customer("fabrikam"),
        "customerCountry": "US",
        "sourceChannel": "Direct",
    }
    answer = requests.post(f"{host.url}/api/transfers", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    transfer: dict[str, Any] = answer.json()
    sent = sandbox.accept_invitation(sandbox.customer("fabrikam"), approve_gdap=False)["webhookDeliveries"]
    assert [d["attempts"][-1]["status"] for d in sandbox.wait_webhooks(sent) if d["id"] in sent] == [200]
    return wait_until(host, transfer["id"], lambda r: r["state"] == "Accepted")


def delivered(sandbox: SandboxHandle, answer: dict[str, Any]) -> dict[str, int]:
    ids = answer["webhookDeliveries"]
    return {d["eventName"]: d["attempts"][-1]["status"] for d in sandbox.wait_webhooks(ids) if d["id"] in ids}


def test_a_customer_who_approves_gdap_has_the_transfer_buy_with_no_admin_action(
    host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    waiting = started_and_accepted(host, sandbox)
    assert [a["action"] for a in waiting["customerActions"]] == ["approve-gdap"]
    assert sandbox.purchases() == []

    approved = sandbox.approve_gdap(sandbox.customer("fabrikam"))

    assert delivered(sandbox, approved) == {"granular-admin-relationship-approved": 200}
    done = wait_until(host, waiting["id"], lambda r: r["state"] == "Provisioned")
    access = done["gdap"]["access"]
    assert (access["assignmentStatus"], access["consented"]) == ("active", True)
    assert access["verifiedAt"]
    assert not [h for h in done["history"] if h["action"] == "transfer-retry"]  # nobody retried
    assert len(sandbox.purchases()) == 1


def test_a_customer_without_license_administrator_stops_the_transfer_before_anything_is_bought(
    host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    waiting = started_and_accepted(host, sandbox)

    sandbox.approve_gdap(
        sandbox.customer("fabrikam"), roles=["Directory Readers", "Cloud Application Administrator"]
    )

    blocked = wait_until(host, waiting["id"], lambda r: r["state"] == "Blocked")
    assert blocked["reason"].startswith("the customer has not granted License Administrator")
    assert blocked["lines"] == []
    assert sandbox.purchases() == []


def test_cancelling_a_transfer_withdraws_its_pending_gdap_request(
    host: LocalHostHandle, services: Services, sandbox: SandboxHandle
) -> None:
    waiting = started_and_accepted(host, sandbox)

    cancelled = requests.post(f"{host.url}/api/transfers/{waiting['id']}/cancel", timeout=30)

    assert cancelled.status_code == 200, cancelled.text
    gdap = cancelled.json()["gdap"]
    assert (cancelled.json()["state"], gdap["status"], gdap["access"]["ended"]) == (
        "Cancelled",
        "terminated",
        "withdrawn",
    )
    assert services.delegated_admin.get_admin_relationship(gdap["relationshipId"]).status == "terminated"
    approved = sandbox.approve_gdap(sandbox.customer("fabrikam"))["approved"]
    assert gdap["relationshipId"] not in approved  # the customer can no longer approve it
