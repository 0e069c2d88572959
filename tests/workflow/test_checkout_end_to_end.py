"""What is checked before money moves, through the product as deployed: function_app.py run by the
local host over HTTP and the queue, on Azurite and the sandbox (whose ledger proves what was bought)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devhost.azurite import Azurite
from devhost.host import LocalHostHandle, start_local_host
from devhost.run import local_settings
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from tests.workflow.test_end_to_end import ACCEPTED, hook_url, start, wait_for

CONTACT = {"firstName": "Ada", "lastName": "Admin", "email": "ada@litware.example"}


@pytest.fixture
def host(services: Services, sandbox: SandboxHandle, azurite: Azurite) -> Iterator[LocalHostHandle]:
    """The app as deployed, on the sandbox's world of this test."""
    with start_local_host(local_settings(sandbox, azurite), message_lease_s=4) as app:
        yield app


def accept(host: LocalHostHandle, services: Services, sandbox: SandboxHandle, customer: str) -> None:
    """The customer accepts; Partner Center delivers the signed webhook to the host."""
    services.partner_center.create_or_update_webhook_registration(hook_url(host), [ACCEPTED])
    deliveries = sandbox.accept_invitation(customer)["webhookDeliveries"]
    assert [d["attempts"][-1]["status"] for d in sandbox.wait_webhooks(deliveries)] == [200]


def accepted(host: LocalHostHandle, services: Services, sandbox: SandboxHandle, key: str) -> dict[str, Any]:
    """``key``'s transfer, started over HTTP and accepted by the customer."""
    transfer = start(host, sandbox.customer(key))
    accept(host, services, sandbox, sandbox.customer(key))
    return transfer


def test_a_customer_without_the_agreement_is_confirmed_on_its_behalf_then_bought_once(
    host: LocalHostHandle, services: Services, sandbox: SandboxHandle
) -> None:
    customer = sandbox.customer("litware")
    transfer = accepted(host, services, sandbox, "litware")

    blocked = wait_for(host, transfer["id"], "Blocked")
    assert [a["action"] for a in blocked["customerActions"]] == ["confirm-customer-agreement"]
    assert sandbox.purchases() == []
    retried = requests.post(
        f"{host.url}/api/transfers/{transfer['id']}/retry", json={"customerContact": CONTACT}, timeout=30
    )
    assert retried.status_code == 202, retried.text

    done = wait_for(host, transfer["id"], "Provisioned")
    assert (done["agreement"]["basis"], done["customerContact"]["email"]) == ("Attested", CONTACT["email"])
    assert len(sandbox.agreements(customer)["agreements"]) == 1
    assert len(sandbox.purchases()) == 1


def test_only_commercial_new_commerce_items_are_bought(
    host: LocalHostHandle, services: Services, sandbox: SandboxHandle
) -> None:
    transfer = accepted(host, services, sandbox, "fabrikam")

    wait_for(host, transfer["id"], "Provisioned")

    lines = [line for purchase in sandbox.purchases() for line in purchase["lines"]]
    assert lines
    assert {(x["segment"], x["productType"]) for x in lines} == {("commercial", "OnlineServicesNCE")}


def test_a_deferred_purchase_past_a_month_boundary_buys_under_the_current_ids(
    host: LocalHostHandle, services: Services, sandbox: SandboxHandle
) -> None:
    customer = sandbox.customer("fabrikam")
    body: dict[str, Any] = {"customerTenantId": customer, "customerCountry": "US", "sourceChannel": "Direct"}
    body["options"] = {"purchaseTiming": "beforeLapse", "purchaseLeadDays": 14}
    answer = requests.post(f"{host.url}/api/transfers", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    transfer: dict[str, Any] = answer.json()
    accept(host, services, sandbox, customer)
    planned = wait_for(host, transfer["id"], "Provisioned")
    planned_ids = {r["catalogItemId"] for x in planned["lines"] for r in x["replacements"]}
    assert sandbox.purchases() == []

    sandbox.advance_clock(days=41)  # past the originals' end, and past a month boundary
    ran = requests.post(f"{host.url}/admin/functions/scan_transfers", json={"input": ""}, timeout=10)
    assert ran.status_code == 202

    done = wait_for(host, transfer["id"], "Completed", timeout_s=120)
    ids = {x["catalogItemId"] for p in sandbox.purchases() for x in p["lines"]}
    assert len(sandbox.purchases()) == 1
    assert ids.isdisjoint(planned_ids)
    assert ids == {r["catalogItemId"] for x in done["lines"] for r in x["replacements"]}
