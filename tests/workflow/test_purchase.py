"""From start to provisioned through the workflow's own entry points, against Azurite and the sandbox.

The queue is fed to the workflow as the queue trigger would feed it; the sandbox's ledger proves
what was bought and how often.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from shared.events import EventType, TransferEvent
from tests.fixtures.app import pump

TEAMS_OFFERS = (
    "7e31c0d9-9551-471d-836f-32ee72be4a01",  # Microsoft Teams Enterprise
    "3b555118-da6a-4418-894f-7df1e2096870",  # Microsoft 365 Business Basic
    "f245ecc8-75af-4f8e-b61f-27d8114de5f3",  # Microsoft 365 Business Standard
    "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46",  # Microsoft 365 Business Premium
    "c7df2760-2c81-4ef7-b578-5b5392b571df",  # Office 365 E5
)


def start(services: Services, customer: str, country: str = "US", **extra: Any) -> tuple[int, dict[str, Any]]:
    body = {"customerTenantId": customer, "customerCountry": country, "sourceChannel": "Direct", **extra}
    answer = services.admin.start_transfer(json.dumps(body).encode())
    return answer.status, answer.body


def accepted(services: Services, transfer: dict[str, Any], *, source: str = "webhook") -> None:
    services.queue.send(
        TransferEvent(EventType.INVITATION_ACCEPTED, transfer["id"], transfer["customerTenantId"], source)
    )


def record(services: Services, transfer_id: str) -> dict[str, Any]:
    answer = services.admin.get_transfer(transfer_id)
    assert answer.status == 200, answer.body
    body: dict[str, Any] = answer.body
    return body


def test_start_issues_the_invitation_and_a_gdap_request_for_the_cutover_roles(
    services: Services, sandbox: SandboxHandle
) -> None:
    status, body = start(services, sandbox.customer("fabrikam"), contactEmail="it@fabrikam.example")

    assert status == 201, body
    assert body["state"] == "AwaitingAcceptance"
    assert body["invitationUrl"]
    assert body["gdap"]["status"] == "approvalPending"
    assert set(body["gdap"]["roles"]) == {"Directory Readers", "License Administrator"}
    assert [a["action"] for a in body["customerActions"]] == ["accept-reseller-relationship", "approve-gdap"]
    assert sandbox.purchases() == []


def test_region_mismatch_is_refused_and_nothing_stored(services: Services, sandbox: SandboxHandle) -> None:
    status, body = start(services, sandbox.customer("northwind"), country="DE")

    assert status == 422
    assert "region" in body["detail"]
    assert services.admin.list_transfers({}).body["items"] == []


def test_second_start_for_the_same_customer_is_a_conflict_naming_the_first(
    services: Services, sandbox: SandboxHandle
) -> None:
    _, first = start(services, sandbox.customer("fabrikam"))
    status, body = start(services, sandbox.customer("fabrikam"))

    assert status == 409
    assert body["transferId"] == first["id"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"customerTenantId", "customerCountry", "sourceChannel"}),
        (
            {"customerTenantId": "x", "customerCountry": "ZZ", "sourceChannel": "Shop", "colour": 1},
            {"customerTenantId", "customerCountry", "sourceChannel", "colour"},
        ),
        (
            {
                "customerTenantId": "6d0ea1b8-c5f9-4c3c-8f0b-7a4bd2a53c01",
                "customerCountry": "US",
                "sourceChannel": "Direct",
                "contactEmail": "not an address",
                "options": {"termDuration": "P5Y"},
            },
            {"contactEmail", "options"},
        ),
    ],
)
def test_bad_start_request_names_every_wrong_field(services: Services, body: Any, fields: set[str]) -> None:
    answer = services.admin.start_transfer(json.dumps(body).encode())

    assert answer.status == 400
    assert answer.content_type == "application/problem+json"
    assert {e["field"] for e in answer.body["errors"]} == fields


def test_accepted_transfer_buys_each_line_once_with_the_original_counts(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    _, transfer = start(services, customer)
    sandbox.accept_invitation(customer)
    accepted(services, transfer)

    pump(azurite, services)

    final = record(services, transfer["id"])
    assert final["state"] == "Provisioned", final
    assert {line["state"] for line in final["lines"]} == {"Active"}
    purchases = sandbox.purchases()
    assert len(purchases) == 1
    bought = sorted(item["quantity"] for item in purchases[0]["lines"])
    assert bought == sorted(r["quantity"] for line in final["lines"] for r in line["replacements"])
    assert sorted(line["quantity"] for line in final["lines"]) == [5, 10]


def test_the_same_acceptance_delivered_three_times_buys_once(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    _, transfer = start(services, customer)
    sandbox.accept_invitation(customer)
    for _ in range(3):
        accepted(services, transfer)

    pump(azurite, services)

    assert record(services, transfer["id"])["state"] == "Provisioned"
    assert len(sandbox.purchases()) == 1


@pytest.mark.parametrize("idempotency", [True, False], ids=["request-id-honoured", "request-id-ignored"])
def test_checkout_answer_lost_after_the_order_was_placed_still_buys_once(
    services: Services, sandbox: SandboxHandle, azurite: Azurite, idempotency: bool
) -> None:
    customer = sandbox.customer("fabrikam")
    _, transfer = start(services, customer)
    sandbox.accept_invitation(customer)
    sandbox.set_knobs(idempotency=idempotency)
    sandbox.add_fault("drop_after_commit", service="partner_center", method="POST", path="/checkout$")
    accepted(services, transfer)

    pump(azurite, services)

    assert record(services, transfer["id"])["state"] == "Provisioned"
    assert len(sandbox.purchases()) == 1


def test_missing_delegated_access_blocks_with_instructions_and_retry_completes(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    _, transfer = start(services, customer)
    sandbox.accept_invitation(customer)
    granted = sandbox.set_gdap(customer)["roles"]
    sandbox.set_gdap(customer, roles=[], active=False)
    accepted(services, transfer)
    pump(azurite, services)

    blocked = record(services, transfer["id"])
    assert blocked["state"] == "Blocked"
    assert "GDAP" in blocked["reason"]
    assert blocked["gdap"]["approvalUrl"] in blocked["reason"]
    assert sandbox.purchases() == []

    sandbox.set_gdap(customer, roles=granted, active=True)
    assert services.admin.retry(transfer["id"]).status == 202
    pump(azurite, services)

    assert record(services, transfer["id"])["state"] == "Provisioned"
    assert len(sandbox.purchases()) == 1


def test_company_profile_outside_the_region_blocks_after_acceptance(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    _, transfer = start(services, sandbox.customer("northwind"), country="US")  # the admin said US
    accepted(services, transfer)

    pump(azurite, services)

    final = record(services, transfer["id"])
    assert final["state"] == "Blocked"
    assert "DE" in final["reason"]
    assert sandbox.purchases() == []


def test_a_line_losing_a_data_bearing_plan_waits_for_approval_then_is_bought(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    for carries_teams in TEAMS_OFFERS:  # the suites' successors without Teams lose chats and channels
        sandbox.set_offer(carries_teams, purchasable=False)
    _, transfer = start(services, customer)
    sandbox.accept_invitation(customer)
    accepted(services, transfer)
    pump(azurite, services)

    waiting = record(services, transfer["id"])
    assert waiting["state"] == "Blocked"
    assert "approve" in waiting["reason"]
    pending = [line["id"] for line in waiting["lines"] if line["state"] == "NeedsApproval"]
    assert pending
    assert sandbox.purchases() == []

    refused = services.admin.approve(transfer["id"], json.dumps({"approve": ["no-such-line"]}).encode())
    assert refused.status == 409
    answer = services.admin.approve(transfer["id"], json.dumps({"approve": pending}).encode())
    assert answer.status == 200, answer.body
    pump(azurite, services)

    final = record(services, transfer["id"])
    assert final["state"] == "Provisioned"
    assert len(sandbox.purchases()) == 1


def test_cancel_is_refused_once_something_was_bought(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    _, transfer = start(services, customer)
    sandbox.accept_invitation(customer)
    accepted(services, transfer)
    pump(azurite, services)

    refused = services.admin.cancel(transfer["id"])

    assert refused.status == 409
    assert "purchases exist" in refused.body["detail"]


def test_cancel_before_acceptance_ends_the_transfer_and_frees_the_customer(
    services: Services, sandbox: SandboxHandle
) -> None:
    customer = sandbox.customer("fabrikam")
    _, transfer = start(services, customer)

    assert services.admin.cancel(transfer["id"]).body["state"] == "Cancelled"
    assert start(services, customer)[0] == 201
