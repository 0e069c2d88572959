"""From start to provisioned through the workflow's own entry points, against Azurite and the sandbox.

The queue is fed to the workflow as the queue trigger would feed it; the sandbox's ledger proves
what was bought and how often.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from shared.domain import LineState
from shared.domain.events import MalformedEventError
from shared.resources.commerce import CartCheckoutResult
from shared.resources.webhook_events import PartnerCenterEvent
from shared.workflow.purchase import cart_items, ordered_lines
from shared.workflow.runner import StepFailedError
from tests.fixtures.app import pump, routes
from tests.fixtures.clients import assign_directly
from tests.workflow.transfers import (
    O365_E5,
    TEAMS_OFFERS,
    acceptance,
    acceptance_message,
    accepted,
    gdap_approved,
    record,
    start,
    started_and_accepted,
    waiting_for_approval,
)


def test_start_issues_the_invitation_and_a_gdap_request_for_the_cutover_roles(
    services: Services, sandbox: SandboxHandle
) -> None:
    status, body = start(services, sandbox.customer("fabrikam"), contactEmail="it@fabrikam.example")

    assert status == 201, body
    assert body["state"] == "AwaitingAcceptance"
    assert body["invitationUrl"]
    assert body["gdap"]["status"] == "approvalPending"
    assert set(body["gdap"]["roles"]) == {
        "Directory Readers",
        "License Administrator",
        "Cloud Application Administrator",  # the least role that may consent the partner's app
    }
    assert [a["action"] for a in body["customerActions"]] == ["accept-reseller-relationship", "approve-gdap"]
    assert sandbox.purchases() == []


def test_region_mismatch_is_refused_and_nothing_stored(services: Services, sandbox: SandboxHandle) -> None:
    status, body = start(services, sandbox.customer("northwind"), country="DE")

    assert status == 422
    assert "region" in body["detail"]
    assert routes(services).list_transfers({}).body["items"] == []


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
    answer = routes(services).start_transfer(json.dumps(body).encode())

    assert answer.status == 400
    assert answer.content_type == "application/problem+json"
    assert {e["field"] for e in answer.body["errors"]} == fields


def test_accepted_transfer_buys_each_line_once_with_the_original_counts(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    _, transfer = started_and_accepted(services, sandbox)
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
    _, transfer = started_and_accepted(services, sandbox)
    for _ in range(3):
        accepted(services, transfer)

    pump(azurite, services)

    assert record(services, transfer["id"])["state"] == "Provisioned"
    assert len(sandbox.purchases()) == 1


@pytest.mark.parametrize("idempotency", [True, False], ids=["request-id-honoured", "request-id-ignored"])
def test_checkout_answer_lost_after_the_order_was_placed_still_buys_once(
    services: Services, sandbox: SandboxHandle, azurite: Azurite, idempotency: bool
) -> None:
    _, transfer = started_and_accepted(services, sandbox)
    sandbox.set_knobs(idempotency=idempotency)
    sandbox.add_fault("drop_after_commit", service="partner_center", method="POST", path="/checkout$")
    accepted(services, transfer)

    pump(azurite, services)

    assert record(services, transfer["id"])["state"] == "Provisioned"
    assert len(sandbox.purchases()) == 1


def test_an_accepted_transfer_waits_for_the_gdap_approval_and_goes_on_by_itself(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    _, transfer = start(services, customer)
    sandbox.accept_invitation(customer, approve_gdap=False)  # the reseller link only
    accepted(services, transfer)
    pump(azurite, services)

    waiting = record(services, transfer["id"])
    assert (waiting["state"], waiting["gdap"]["status"]) == ("Accepted", "approvalPending")
    assert [a["action"] for a in waiting["customerActions"]] == ["approve-gdap"]
    assert waiting["lines"] == []  # the tenant is not read before access is verified
    assert sandbox.purchases() == []

    gdap_approved(services, sandbox, transfer)
    pump(azurite, services)

    final = record(services, transfer["id"])
    assert final["state"] == "Provisioned", final["reason"]
    assert final["gdap"]["access"]["verifiedAt"]
    assert len(sandbox.purchases()) == 1


def test_company_profile_outside_the_region_blocks_after_acceptance(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    _, transfer = start(services, sandbox.customer("northwind"), country="US")  # the admin said US
    gdap_approved(services, sandbox, transfer)
    accepted(services, transfer)

    pump(azurite, services)

    final = record(services, transfer["id"])
    assert final["state"] == "Blocked"
    assert "DE" in final["reason"]
    assert sandbox.purchases() == []


def test_a_line_losing_a_data_bearing_plan_waits_for_approval_then_is_bought(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer = waiting_for_approval(services, sandbox, azurite)

    waiting = record(services, transfer["id"])
    assert waiting["state"] == "Blocked"
    assert "approve" in waiting["reason"]
    pending = [line["id"] for line in waiting["lines"] if line["state"] == "NeedsApproval"]
    assert pending
    assert sandbox.purchases() == []

    refused = routes(services).approve(transfer["id"], json.dumps({"approve": ["no-such-line"]}).encode())
    assert refused.status == 409
    answer = routes(services).approve(transfer["id"], json.dumps({"approve": pending}).encode())
    assert answer.status == 200, answer.body
    pump(azurite, services)

    final = record(services, transfer["id"])
    assert final["state"] == "Provisioned"
    assert len(sandbox.purchases()) == 1


def test_cancel_is_refused_once_something_was_bought(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    _, transfer = started_and_accepted(services, sandbox)
    accepted(services, transfer)
    pump(azurite, services)

    refused = routes(services).cancel(transfer["id"])

    assert refused.status == 409
    assert "purchases exist" in refused.body["detail"]


def test_cancel_before_acceptance_ends_the_transfer_and_frees_the_customer(
    services: Services, sandbox: SandboxHandle
) -> None:
    customer = sandbox.customer("fabrikam")
    _, transfer = start(services, customer)

    assert routes(services).cancel(transfer["id"]).body["state"] == "Cancelled"
    assert start(services, customer)[0] == 201


def test_more_seats_than_one_subscription_holds_are_bought_as_several_in_the_one_cart(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    sandbox.add_subscription(customer, O365_E5, 350)
    _, transfer = start(services, customer)
    sandbox.accept_invitation(customer)
    accepted(services, transfer)

    pump(azurite, services)

    final = record(services, transfer["id"])
    assert final["state"] == "Provisioned", final["reason"]
    [e5] = [line for line in final["lines"] if line["sourceSkuId"] == O365_E5]
    assert (e5["decision"], sorted(r["quantity"] for r in e5["replacements"])) == ("identical", [50, 300])
    assert len(e5["subscriptionIds"]) == 2
    [order] = sandbox.purchases()
    assert sum(item["quantity"] for item in order["lines"] if item["quantity"] in (50, 300)) == 350


@pytest.mark.slow
def test_a_step_failing_on_its_last_delivery_marks_the_transfer_failed_and_retry_completes_it(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    _, transfer = started_and_accepted(services, sandbox)
    sandbox.add_fault("status", service="partner_center", method="POST", path="/carts$", status=503, times=-1)
    body = acceptance_message(transfer)

    with pytest.raises(StepFailedError, match="503"):  # not the last delivery: the host will retry
        services.runner.handle_message(body, dequeue_count=1)
    assert record(services, transfer["id"])["state"] == "Provisioning"
    with pytest.raises(StepFailedError, match="503"):  # the last: on to the poison queue, and recorded
        services.runner.handle_message(body, dequeue_count=5)

    failed = record(services, transfer["id"])
    assert failed["state"] == "Failed"
    assert failed["resumeState"] == "Provisioning"
    assert "create_cart" in failed["reason"]
    assert "503" in failed["reason"]

    sandbox.clear_faults()
    assert routes(services).retry(transfer["id"]).status == 202
    pump(azurite, services)

    assert record(services, transfer["id"])["state"] == "Provisioned"
    assert len(sandbox.purchases()) == 1


@pytest.mark.slow
def test_throttling_puts_the_step_back_after_its_retry_after_without_failing(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    _, transfer = started_and_accepted(services, sandbox)
    sandbox.add_fault(
        "status", service="partner_center", method="POST", path="/carts$", status=429, retry_after="6"
    )  # longer than the client sleeps: the step is put back
    event = acceptance(transfer)

    services.runner.handle_message(json.dumps(event.to_json()), dequeue_count=1)  # does not raise

    assert record(services, transfer["id"])["state"] == "Provisioning"
    pump(azurite, services, idle_s=8)
    assert record(services, transfer["id"])["state"] == "Provisioned"
    assert len(sandbox.purchases()) == 1


def test_a_malformed_message_is_refused_for_the_poison_queue(services: Services) -> None:
    with pytest.raises(MalformedEventError, match="transferId"):
        services.runner.handle_message(json.dumps({"type": "transfer-continue", "transferId": "../x"}))


def test_the_user_preflight_after_acceptance_is_recorded_before_anything_is_bought(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("wingtip")  # as in the plan route's test of the same pre-flight
    o365_e3 = sandbox.ids.skus["O365_E3"]
    sandbox.set_gdap(customer, roles=["License Administrator"], active=True)  # the customer's own admin
    services.graph.assign_group_license(customer, sandbox.ids.groups["wingtip.unlicensed"], add=[o365_e3])
    sandbox.advance_clock(seconds=sandbox.knobs()["group_license_delay_s"])  # once Entra has processed it
    sandbox.add_subscription(customer, o365_e3, 1, days_to_next=100)
    assign_directly(services.graph, customer, sandbox.ids.users["wingtip.spare_2"], add=[o365_e3])
    sandbox.set_gdap(customer, roles=[], active=False)
    sandbox.advance_clock(days=11)  # the Warning seats are suspended: one seat left for three holders
    _, transfer = start(services, customer)
    gdap_approved(services, sandbox, transfer)
    accepted(services, transfer)

    pump(azurite, services)

    history = [h for h in record(services, transfer["id"])["history"] if h["action"] == "preflight"]
    assert [h["message"].split(";")[0] for h in history] == [
        "pre-flight: 1 user(s) would fail at cutover (1 assignment error)"
    ]
    assert "seats short of the holders: Office 365 E3 by 2" in history[0]["message"]


def test_a_line_bought_in_part_keeps_its_order_and_a_retry_buys_only_the_rest(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    _, transfer = started_and_accepted(services, sandbox)
    sandbox.add_fault("status", service="partner_center", method="POST", path="/carts$", status=400)
    services.runner.handle_message(
        json.dumps(acceptance(transfer).to_json())
    )  # a definite refusal of the cart: the transfer fails with its lines being ordered
    stored = services.store.get(transfer["id"])
    e3 = next(x for x in stored.lines if len(x.replacements) == 2)
    first, second = e3.replacements
    # Partner Center placed one order group and refused the other (orderErrors).
    result = CartCheckoutResult.from_json(
        {
            "orders": [
                {
                    "id": "order-1",
                    "status": "completed",
                    "creationDate": "2026-11-29T00:00:00Z",
                    "lineItems": [
                        {"lineItemNumber": 0, "offerId": first.catalog_item_id, "quantity": first.quantity}
                    ],
                }
            ],
            "orderErrors": [{"orderGroupId": "1", "code": 800002, "description": "refused"}],
        }
    )
    [after], _ = ordered_lines([e3], result, datetime.now(UTC))

    assert after.state is LineState.FAILED
    assert [r.order_id for r in after.replacements] == ["order-1", None]
    assert [i.catalog_item_id for i in cart_items([after])] == [second.catalog_item_id]


def test_declining_every_line_completes_the_transfer_with_nothing_bought(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    for carries_teams in TEAMS_OFFERS:
        sandbox.set_offer(carries_teams, purchasable=False)
    _, transfer = started_and_accepted(services, sandbox)
    accepted(services, transfer)
    pump(azurite, services)
    waiting = [line["id"] for line in record(services, transfer["id"])["lines"]]

    routes(services).approve(transfer["id"], json.dumps({"decline": waiting}).encode())
    pump(azurite, services)

    done = record(services, transfer["id"])
    assert done["state"] == "Completed"
    assert done["history"][-1]["message"].startswith("completed: 0 subscription(s) bought for 0 line(s)")
    assert sandbox.purchases() == []


def test_an_acceptance_announced_after_the_transfer_moved_on_is_a_duplicate(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer, transfer = started_and_accepted(services, sandbox)
    accepted(services, transfer)
    pump(azurite, services)
    event = PartnerCenterEvent.parse(
        json.dumps(
            {
                "EventName": "reseller-relationship-accepted-by-customer",
                "ResourceUri": f"https://api.partnercenter.microsoft.com/v1/customers/{customer}",
                "ResourceName": "customer",
                "AuditUri": None,
                "ResourceChangeUtcDate": "2026-11-29T06:00:00.000Z",
            }
        ).encode()
    )

    assert services.intake.take_webhook(event) == "duplicate"
