"""A line's failed users, named through Graph when the page asks, never stored or logged, each with
a reason in plain words and what to do; and a finished transfer's page read from its record alone."""

from __future__ import annotations

import logging

import pytest
from azure.data.tables import TableClient

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from shared.store.repository import TABLE_NAME
from tests.api.test_openapi import assert_documented
from tests.fixtures.app import pump, routes
from tests.workflow.test_cutover import (
    O365_E1,
    days_until_lapse,
    on_sandbox_time,
    provisioned,
    timer_on_sandbox_time,
)
from tests.workflow.transfers import record


def test_a_failed_user_is_named_when_asked_never_stored_or_logged_and_told_what_to_do(
    services: Services, sandbox: SandboxHandle, azurite: Azurite, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    customer = sandbox.customer("fabrikam")
    [stranded] = sandbox.add_users(customer, 1, sku_id=O365_E1, usage_location=None)
    sandbox.add_subscription(customer, O365_E1, 1, days_to_next=None)  # a seat for them
    transfer = provisioned(services, sandbox, azurite)
    sandbox.advance_clock(days=days_until_lapse(sandbox, transfer) - 3)
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))
    failed = record(services, transfer["id"])
    [e1] = [x for x in failed["lines"] if x["sourceSkuId"] == O365_E1]

    answer = routes(services).line_failures(transfer["id"], e1["id"])

    assert answer.status == 200, answer.body
    assert_documented("get", "/transfers/{id}/lines/{lineId}/failures", answer)
    [item] = answer.body["items"]
    upn = f"added.{stranded[:8]}@fabrikamsandbox.onmicrosoft.com"
    assert item == {
        "userId": stranded,
        "displayName": "Added User",
        "userPrincipalName": upn,
        "reason": "the user has no usage location, which a licence needs",
        "action": "ask the customer to give the user a usage location (Microsoft 365 admin center, the "
        "user's properties), then retry",
    }
    assert upn not in caplog.text
    rows = TableClient.from_connection_string(azurite.connection_string, TABLE_NAME).list_entities()
    assert not [row for row in rows if upn in str(row) or "Added User" in str(row)]


def test_failures_of_a_tenant_that_cannot_be_read_are_a_409_and_of_an_unknown_line_a_404(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    sandbox.add_users(customer, 1, sku_id=O365_E1, usage_location=None)
    sandbox.add_subscription(customer, O365_E1, 1, days_to_next=None)
    transfer = provisioned(services, sandbox, azurite)
    sandbox.advance_clock(days=days_until_lapse(sandbox, transfer) - 3)
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))
    sandbox.set_gdap(customer, active=False)
    sandbox.remove_gdap(customer)  # the customer took the partner's roles away

    refused = routes(services).line_failures(transfer["id"], O365_E1)
    unknown = routes(services).line_failures(transfer["id"], "00000000-0000-0000-0000-000000000000")

    assert (refused.status, refused.body["title"]) == (409, "Customer access missing")
    assert (unknown.status, unknown.body["title"]) == (404, "Line not found")
    for answer in (refused, unknown):
        assert_documented("get", "/transfers/{id}/lines/{lineId}/failures", answer)


def test_a_completed_transfers_page_shows_names_from_its_record_with_no_call_to_microsoft(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer = provisioned(services, sandbox, azurite)
    sandbox.advance_clock(days=days_until_lapse(sandbox, transfer) - 3)
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))
    calls = len(sandbox.requests())

    done = record(services, transfer["id"])

    assert done["state"] == "Completed"
    assert len(sandbox.requests()) == calls
    assert {x["sourceProductName"] for x in done["lines"]} == {"Office 365 E1", "Microsoft 365 E3"}
    titles = {r["productName"] for x in done["lines"] for r in x["replacements"]}
    assert titles
    assert all(t and ":" not in t for t in titles)
    assert done["lineCounts"]["done"] == 2
    assert done["nextMove"] == "none"
