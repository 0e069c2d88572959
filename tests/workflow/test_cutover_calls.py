"""Graph calls for one big tenant's cutover: about one per 20 users (the ``$batch`` swaps), and the
reads around them growing with the users, not with their square. Counted on the sandbox's ledger,
so the figure does not depend on the machine."""

from __future__ import annotations

import math
from typing import Any

import pytest

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from tests.fixtures.app import pump
from tests.workflow.test_cutover import days_until_lapse, on_sandbox_time, timer_on_sandbox_time
from tests.workflow.transfers import accepted, record, started

USERS = 1000
READS = 4  # the originals' dates, the tenant's SKUs, and what the last pages cost over 1.05x


def graph_calls_in_the_tenant(requests: list[dict[str, Any]], tenant: str) -> list[dict[str, Any]]:
    """The Graph calls made into the customer's tenant (GDAP, from the partner's, aside)."""
    return [r for r in requests if r["service"] == "graph" and r.get("tenantId") == tenant]


@pytest.mark.scenario("large", customers=0, users=USERS, access="granted")
def test_a_big_tenants_cutover_makes_about_one_graph_call_per_twenty_users(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("bigcorp")
    transfer = started(services, customer)
    sandbox.accept_invitation(customer)
    accepted(services, transfer)
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))
    provisioned = record(services, transfer["id"])
    assert provisioned["state"] == "Provisioned", provisioned["reason"]

    sandbox.advance_clock(days=days_until_lapse(sandbox, provisioned) - 3)
    before = len(sandbox.requests())
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))

    done = record(services, transfer["id"])
    assert done["state"] == "Completed", done["reason"]
    calls = graph_calls_in_the_tenant(sandbox.requests(before), customer)
    batches = [r for r in calls if r["path"].endswith("$batch")]
    assert len(batches) == math.ceil(USERS / 20)
    assert len(calls) <= 1.05 * math.ceil(USERS / 20) + READS, sorted({r["path"] for r in calls})
