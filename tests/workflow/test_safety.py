"""Crash windows and state-machine holes found in review: none may buy twice or strand a transfer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle
from shared.api.parsing import parse_decisions, parse_start_request
from shared.api.problems import ApiResponse
from shared.bootstrap import Services
from shared.domain.events import EventType, TransferEvent
from shared.workflow.purchase import PROVISIONING_POLLS
from shared.workflow.runner import StepFailedError
from tests.fixtures.app import pump, routes
from tests.workflow.transfers import (
    TEAMS_OFFERS,
    acceptance,
    acceptance_message,
    accepted,
    record,
    start,
    started_and_accepted,
)


def test_a_submitted_cart_whose_order_is_not_listed_yet_is_not_bought_again(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    """Partner Center lists a new order late; "already submitted" with no order found is not a failed line."""
    _, transfer = started_and_accepted(services, sandbox)
    sandbox.set_knobs(idempotency=False)  # a re-sent checkout is refused as already submitted
    sandbox.add_fault("drop_after_commit", service="partner_center", method="POST", path="/checkout$")
    sandbox.add_fault("status", service="partner_center", method="GET", path="/orders$", status=200, times=-1)
    body = acceptance_message(transfer)

    for dequeue in range(1, 6):
        with pytest.raises(StepFailedError, match="check_out"):
            services.runner.handle_message(body, dequeue_count=dequeue)

    failed = record(services, transfer["id"])
    assert failed["state"] == "Failed"
    assert {line["state"] for line in failed["lines"]} == {"Ordering"}  # never "not in any order"
    sandbox.clear_faults()
    assert routes(services).retry(transfer["id"]).status == 202
    pump(azurite, services)

    assert record(services, transfer["id"])["state"] == "Provisioned"
    assert len(sandbox.purchases()) == 1


def waiting_for_approval(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> tuple[str, list[str]]:
    """fabrikam's transfer, blocked on lines whose equivalents lose Teams; their ids."""
    customer = sandbox.customer("fabrikam")
    for carries_teams in TEAMS_OFFERS:
        sandbox.set_offer(carries_teams, purchasable=False)
    _, transfer = start(services, customer)
    sandbox.accept_invitation(customer)
    accepted(services, transfer)
    pump(azurite, services)
    blocked = record(services, transfer["id"])
    assert blocked["state"] == "Blocked"
    return transfer["id"], [line["id"] for line in blocked["lines"] if line["state"] == "NeedsApproval"]


def test_retry_while_lines_wait_for_a_decision_is_refused_and_buys_nothing(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer_id, _ = waiting_for_approval(services, sandbox, azurite)

    refused = routes(services).retry(transfer_id)
    pump(azurite, services)

    assert refused.status == 409
    assert "approve" in refused.body["detail"]
    assert record(services, transfer_id)["state"] == "Blocked"
    assert sandbox.purchases() == []


def test_a_cancelled_transfer_takes_no_approval(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer_id, pending = waiting_for_approval(services, sandbox, azurite)
    assert routes(services).cancel(transfer_id).status == 200

    refused = routes(services).approve(transfer_id, json.dumps({"approve": pending}).encode())

    assert refused.status == 409
    assert "Cancelled" in refused.body["detail"]
    assert {line["state"] for line in record(services, transfer_id)["lines"]} >= {"NeedsApproval"}


def test_a_gdap_request_that_failed_at_start_is_made_once_the_customer_accepts(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    sandbox.add_fault(
        "status", service="graph", method="POST", path="delegatedAdminRelationships$", status=503, times=-1
    )
    status, transfer = start(services, customer)
    assert (status, transfer["gdap"]) == (201, None)
    sandbox.clear_faults()
    sandbox.accept_invitation(customer)
    accepted(services, transfer)

    pump(azurite, services)

    asked = record(services, transfer["id"])
    assert (asked["state"], asked["gdap"]["status"]) == ("Accepted", "approvalPending")
    assert [a["action"] for a in asked["customerActions"]] == ["approve-gdap"]
    assert sandbox.purchases() == []


@pytest.mark.parametrize("parse", [parse_start_request, parse_decisions])
def test_deeply_nested_json_is_a_bad_request_not_a_crash(parse: object) -> None:
    assert callable(parse)
    answer = parse(b"[" * 60_000)

    assert isinstance(answer, ApiResponse)
    assert answer.status == 400


def test_a_transfer_still_polling_for_provisioning_is_not_nudged_into_a_second_poll(
    services: Services, sandbox: SandboxHandle
) -> None:
    """A nudge starts another chain of polls beside the live one; each timer run would add one."""
    customer, transfer = started_and_accepted(services, sandbox)
    sandbox.set_knobs(provisioning_delay_s=86_400)
    now = [datetime.now(UTC)]
    workflow = services.new_runner(clock=lambda: now[0])
    timer = services.new_timer(clock=lambda: now[0], stuck_after=timedelta(minutes=30))
    accepted_event = acceptance(transfer)
    workflow.handle_message(json.dumps(accepted_event.to_json()))  # buys, then waits for provisioning
    assert record(services, transfer["id"])["state"] == "Provisioning"

    for _ in range(3):  # the live chain polls every 20 minutes: still pending
        now[0] += timedelta(minutes=20)
        poll = TransferEvent(EventType.CONTINUE, transfer["id"], customer, "workflow", attempt=5)
        workflow.handle_message(json.dumps(poll.to_json()))

    assert timer.scan().nudged == 0
    now[0] += timedelta(minutes=31)  # and once the polls stop, the timer does nudge
    assert timer.scan().nudged == 1


def test_provisioning_that_never_finishes_fails_the_transfer_with_a_reason_and_retry_polls_again(
    services: Services, sandbox: SandboxHandle
) -> None:
    """Without a limit the polls would go on for ever, and the transfer would look alive to the timer."""
    customer, transfer = started_and_accepted(services, sandbox)
    sandbox.set_knobs(provisioning_delay_s=86_400 * 30)
    accepted_event = acceptance(transfer)
    services.runner.handle_message(json.dumps(accepted_event.to_json()))
    poll = TransferEvent(EventType.CONTINUE, transfer["id"], customer, "workflow", attempt=PROVISIONING_POLLS)

    services.runner.handle_message(json.dumps(poll.to_json()))

    failed = record(services, transfer["id"])
    assert (failed["state"], failed["resumeState"]) == ("Failed", "Provisioning")
    assert "not provisioned" in failed["reason"]
    assert {line["state"] for line in failed["lines"]} == {"Ordered"}
    assert routes(services).retry(transfer["id"]).body["state"] == "Provisioning"
    assert len(sandbox.purchases()) == 1


def test_a_customer_not_yet_showing_the_relationship_is_waited_for_not_failed(
    services: Services, sandbox: SandboxHandle
) -> None:
    """Right after acceptance Partner Center answers 403 20002 for a while (its one customer read:
    the company profile is read only when Graph gives no tenant country)."""
    customer, transfer = started_and_accepted(services, sandbox)
    sandbox.add_fault(
        "error",
        service="partner_center",
        method="GET",
        path=f"/customers/{customer}$",
        status=403,
        code=20002,
    )
    event = acceptance(transfer)

    services.runner.handle_message(json.dumps(event.to_json()))  # does not raise

    assert record(services, transfer["id"])["state"] == "AwaitingAcceptance"
    services.runner.handle_message(json.dumps(event.again().to_json()))  # as the queue hands it back
    assert record(services, transfer["id"])["state"] == "Provisioned"
    assert len(sandbox.purchases()) == 1
