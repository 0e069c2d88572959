"""What the workflow tests do to a transfer, through the product's own entry points."""

from __future__ import annotations

import json
from typing import Any

from devhost.azurite import Azurite
from sandbox.scenarios import OTHER_PARTNER_NAME
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from shared.domain.events import EventType, TransferEvent
from tests.fixtures.app import pump, routes

ADATUM_CONTACT = "it-admin@adatum.example"
O365_E5 = "c7df2760-2c81-4ef7-b578-5b5392b571df"  # sold at most 300 seats per subscription
TEAMS_OFFERS = (
    "7e31c0d9-9551-471d-836f-32ee72be4a01",  # Microsoft Teams Enterprise
    "3b555118-da6a-4418-894f-7df1e2096870",  # Microsoft 365 Business Basic
    "f245ecc8-75af-4f8e-b61f-27d8114de5f3",  # Microsoft 365 Business Standard
    "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46",  # Microsoft 365 Business Premium
    O365_E5,
)


def from_other_partner(sandbox: SandboxHandle) -> dict[str, Any]:
    """The start fields that ask adatum's seller, another CSP partner, for a partner-to-partner transfer."""
    return {
        "sourceChannel": "OtherPartner",
        "sourcePartnerTenantId": sandbox.ids.other_partner_tenant_id,
        "sourcePartnerName": OTHER_PARTNER_NAME,
        "contactEmail": ADATUM_CONTACT,
    }


def start(services: Services, customer: str, country: str = "US", **extra: Any) -> tuple[int, dict[str, Any]]:
    """``POST /api/transfers`` as an admin sends it: its status and body, whatever they are."""
    body = {"customerTenantId": customer, "customerCountry": country, "sourceChannel": "Direct", **extra}
    answer = routes(services).start_transfer(json.dumps(body).encode())
    return answer.status, answer.body


def started(services: Services, customer: str, **options: Any) -> dict[str, Any]:
    """A transfer that started (201), with these ``options``."""
    extra: dict[str, Any] = {"options": options} if options else {}
    status, transfer = start(services, customer, **extra)
    assert status == 201, transfer
    return transfer


def started_and_accepted(services: Services, sandbox: SandboxHandle) -> tuple[str, dict[str, Any]]:
    """fabrikam's transfer, started, with the customer's acceptance given (but not yet announced)."""
    customer = sandbox.customer("fabrikam")
    transfer = started(services, customer)
    sandbox.accept_invitation(customer)
    return customer, transfer


def waiting_for_approval(services: Services, sandbox: SandboxHandle, azurite: Azurite) -> dict[str, Any]:
    """fabrikam's transfer, accepted and planned with the offers that carry Teams withdrawn: the suites'
    successors without Teams lose chats and channels, so their lines wait for an admin's approval."""
    customer = sandbox.customer("fabrikam")
    for carries_teams in TEAMS_OFFERS:
        sandbox.set_offer(carries_teams, purchasable=False)
    transfer = started(services, customer)
    sandbox.accept_invitation(customer)
    accepted(services, transfer)
    pump(azurite, services)
    return transfer


def acceptance(transfer: dict[str, Any]) -> TransferEvent:
    """The ``invitation-accepted`` event the webhook would queue for the transfer."""
    customer = transfer["customerTenantId"]
    return TransferEvent(EventType.INVITATION_ACCEPTED, transfer["id"], customer, "webhook")


def acceptance_message(transfer: dict[str, Any]) -> str:
    """That event as the queue trigger hands it to the workflow."""
    return json.dumps(acceptance(transfer).to_json())


def accepted(services: Services, transfer: dict[str, Any]) -> None:
    """The acceptance announced: its event is on the queue."""
    services.queue.send(acceptance(transfer))


def gdap_approved(
    services: Services, sandbox: SandboxHandle, transfer: dict[str, Any], roles: list[str] | None = None
) -> None:
    """The customer's admin approves the transfer's GDAP request (``roles``: only those stay), and
    the ``granular-admin-relationship-approved`` webhook's announcement is queued."""
    sandbox.approve_gdap(transfer["customerTenantId"], roles=roles)
    announced(services, transfer)


def announced(services: Services, transfer: dict[str, Any]) -> None:
    """A GDAP webhook about the transfer's relationship, as the intake queues it."""
    event = TransferEvent(EventType.ACCESS_CHANGED, transfer["id"], transfer["customerTenantId"], "webhook")
    services.queue.send(event)


def observe(sandbox: SandboxHandle, customer: str) -> None:
    """Let the test read the tenant with the product's Graph client whatever the product's own access
    (it ends the GDAP relationship once a transfer completes): reading pre-granted to the observer."""
    sandbox.set_gdap(customer, roles=["Directory Readers"], active=True)


def record(services: Services, transfer_id: str) -> dict[str, Any]:
    """``GET /api/transfers/{id}`` with its whole history."""
    answer = routes(services).get_transfer(transfer_id, {"historyPageSize": "1000"})
    assert answer.status == 200, answer.body
    body: dict[str, Any] = answer.body
    return body
