"""Calls per transfer: each Partner Center call counts against the partner's 500 a minute, and none
should grow with the number of customers the partner has."""

from __future__ import annotations

import re

import pytest

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from tests.fixtures.app import pump
from tests.workflow.transfers import accepted, record, started, started_and_accepted


def partner_center_reads(sandbox: SandboxHandle, pattern: str) -> int:
    return sum(
        1
        for r in sandbox.requests()
        if r["service"] == "partner_center" and r["method"] == "GET" and re.search(pattern, r["path"])
    )


def test_transfers_started_one_after_another_read_the_invitation_link_once(
    services: Services, sandbox: SandboxHandle
) -> None:
    first = started(services, sandbox.customer("fabrikam"))
    second = started(services, sandbox.customer("tailspin"))

    assert first["invitationUrl"] == second["invitationUrl"]
    assert partner_center_reads(sandbox, r"/relationshiprequests$") == 1


def test_provisioning_reads_each_order_once_not_each_new_subscription(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer, transfer = started_and_accepted(services, sandbox)
    accepted(services, transfer)

    pump(azurite, services)

    body = record(services, transfer["id"])
    bought = [line for p in sandbox.purchases() for line in p["lines"]]
    orders = {p["order_id"] for p in sandbox.purchases()}
    assert body["state"] == "Provisioned", body["reason"]
    assert len(bought) >= 3  # E1 and Microsoft 365 E3 each replaced by a suite and Teams Enterprise
    assert partner_center_reads(sandbox, rf"/customers/{customer}/subscriptions$") == len(orders)
    assert partner_center_reads(sandbox, r"/subscriptions/[^/]+$") == 0
    assert partner_center_reads(sandbox, r"/provisioningstatus$") == len(bought)


@pytest.mark.scenario("large", customers=150, users=0)
def test_a_start_finds_its_gdap_request_in_one_read_however_many_customers_the_partner_has(
    services: Services, sandbox: SandboxHandle
) -> None:
    started(services, sandbox.customer("customer00001"))
    started(services, sandbox.customer("customer00002"))

    reads = [
        r
        for r in sandbox.requests()
        if r["service"] == "graph"
        and r["method"] == "GET"
        and r["path"].endswith("/delegatedAdminRelationships")
    ]
    assert len(reads) == 2
