"""Partner-to-partner transfers, in process: the workflow over Azurite and the sandbox, whose control
API plays the source partner. Events are pumped from the real queue as the queue trigger would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from devhost.azurite import Azurite
from sandbox.scenarios import OTHER_PARTNER_NAME
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from shared.events import EventType, TransferEvent
from tests.fixtures.app import pump
from tests.workflow.transfers import accepted, record, start

CONTACT = "it-admin@adatum.example"


def start_from_partner(services: Services, sandbox: SandboxHandle, **extra: Any) -> dict[str, Any]:
    status, transfer = start(
        services,
        sandbox.customer("adatum"),
        sourceChannel="OtherPartner",
        sourcePartnerTenantId=sandbox.ids.other_partner_tenant_id,
        sourcePartnerName=OTHER_PARTNER_NAME,
        contactEmail=CONTACT,
        **extra,
    )
    assert status == 201, transfer
    return transfer


def requested(services: Services, sandbox: SandboxHandle, azurite: Azurite) -> dict[str, Any]:
    """adatum's transfer, accepted by the customer, with its transfer request made."""
    transfer = start_from_partner(services, sandbox)
    sandbox.accept_invitation(sandbox.customer("adatum"))
    accepted(services, transfer)
    pump(azurite, services)
    return record(services, transfer["id"])


def changed(services: Services, transfer: dict[str, Any]) -> None:
    """What a transfer webhook or the timer's poll queues."""
    services.queue.send(
        TransferEvent(EventType.PARTNER_TRANSFER_CHANGED, transfer["id"], transfer["customerTenantId"], "timer")
    )


def lines_by_sku(body: dict[str, Any], sandbox: SandboxHandle) -> dict[str, dict[str, Any]]:
    names = {v: k for k, v in sandbox.ids.skus.items()}
    return {names[x["sourceSkuId"]]: x for x in body["lines"]}


def test_the_request_asks_the_source_partner_for_new_commerce_licences_only(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    body = requested(services, sandbox, azurite)

    [held] = sandbox.partner_transfers(sandbox.customer("adatum"))
    assert held["id"] == body["partnerTransfer"]["id"]
    assert held["transferType"] == 5
    assert held["targetProductTypes"] == ["OnlineServicesNCE"]
    assert held["customerEmailId"] == CONTACT
    assert held["sourcePartnerTenantId"] == sandbox.ids.other_partner_tenant_id
    lines = lines_by_sku(body, sandbox)
    assert {k: (x["state"], x["partnerTransfer"]["status"]) for k, x in lines.items()} == {
        "BUSINESS_PREMIUM": ("Transferring", "Requested"),
        "EXCHANGE_PLAN_1": ("Transferring", "Requested"),
    }
    assert sandbox.purchases() == []


def test_a_full_transfer_completes_with_no_purchase_and_no_licence_change(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    body = requested(services, sandbox, azurite)

    sandbox.source_partner(sandbox.customer("adatum"), body["partnerTransfer"]["id"])
    changed(services, body)
    pump(azurite, services)

    done = record(services, body["id"])
    assert done["state"] == "Completed", done["history"]
    assert {x["partnerTransfer"]["status"] for x in done["lines"]} == {"Transferred"}
    assert all(x["subscriptionIds"] for x in done["lines"])
    assert sandbox.purchases() == []
    assert sandbox.license_changes() == []


def test_lines_left_out_fall_back_and_are_bought_once_after_approval(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    body = requested(services, sandbox, azurite)
    customer = sandbox.customer("adatum")
    premium = sandbox.ids.commerce_subscriptions["adatum.other_partner_bp"]

    sandbox.source_partner(customer, body["partnerTransfer"]["id"], subscriptionIds=[premium], newIds=True)
    changed(services, body)
    pump(azurite, services)

    after = lines_by_sku(record(services, body["id"]), sandbox)
    assert after["BUSINESS_PREMIUM"]["partnerTransfer"]["status"] == "Transferred"
    exchange = after["EXCHANGE_PLAN_1"]
    assert (exchange["state"], exchange["partnerTransfer"]["status"]) == ("Planned", "NotIncluded")
    assert datetime.fromisoformat(exchange["purchaseDue"]) > datetime.now(UTC) + timedelta(days=60)
    assert sandbox.purchases() == []

    approved = services.admin.approve(body["id"], b'{"approve": ["%s"]}' % exchange["id"].encode())
    assert approved.status == 200, approved.body
    pump(azurite, services)
    # The cutover of an identical line waits for the original's lapse; then it is only checked.
    sandbox.advance_clock(days=101)
    services.new_timer().scan()
    pump(azurite, services)

    done = record(services, body["id"])
    assert done["state"] == "Completed", done["history"]
    assert [line["skuId"] for p in sandbox.purchases() for line in p["lines"]] == [
        sandbox.ids.skus["EXCHANGE_PLAN_1"]
    ]
    assert sandbox.license_changes() == []
