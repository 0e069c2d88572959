"""Routes with Table Storage or Queue Storage stalled (a loopback server that accepts and never
answers): each answers a 503 with ``Retry-After`` naming the service, within its deadline.

The webhook, approve, retry and cancel each put a message on the queue; each is set up with the
queue answering, then called with it stalled. The rest of the app stays on Azurite and the sandbox,
so only the stalled service can hold the route.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from devhost.azurite import Azurite
from sandbox.catalog import reference_csv_path
from sandbox.testing import SandboxHandle, WebhookReceiver
from shared.api.admin import AdminApi
from shared.api.problems import ApiResponse, answer
from shared.bootstrap import Services
from shared.domain import Change, GdapRequest, TransferState
from shared.resources.webhook_events import RELATIONSHIP_ACCEPTED
from shared.settings import Settings
from shared.store.repository import TransferStore
from tests.api.test_openapi import blocked_with_lines
from tests.api.test_openapi import started as openapi_started
from tests.catalog.builders import O365_E1
from tests.workflow.test_partner_transfer import requested
from tests.workflow.transfers import started

DEADLINE = 2.0
T0 = datetime(2026, 11, 1, tzinfo=UTC)


class StalledService:
    """A loopback TCP server that accepts every connection and never answers a byte."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._held: list[socket.socket] = []
        self._closing = threading.Event()
        self.endpoint = f"http://127.0.0.1:{self._server.getsockname()[1]}/devstoreaccount1"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            self._held.append(connection)

    def close(self) -> None:
        self._closing.set()
        self._server.close()
        for connection in self._held:
            connection.close()


@pytest.fixture
def stalled() -> Iterator[StalledService]:
    service = StalledService()
    yield service
    service.close()


def services_with(sandbox: SandboxHandle, azurite: Azurite, **endpoints: str) -> Services:
    """The app as configured in Azure, its storage account's endpoints replaced by ``endpoints``."""
    storage = replace(azurite, **endpoints).connection_string
    settings = {
        **sandbox.env(),
        "SKU_REFERENCE_URL": str(reference_csv_path()),
        "AzureWebJobsStorage": storage,
    }
    return Services(Settings(settings), verify=sandbox.ca_bundle)


def within_deadline(route: Callable[[], ApiResponse]) -> ApiResponse:
    started_at = time.monotonic()
    response = answer(route, seconds=DEADLINE)
    assert time.monotonic() - started_at < DEADLINE + 0.5
    return response


def assert_storage_problem(response: ApiResponse, service: str) -> None:
    assert response.status == 503, response.body
    assert response.content_type == "application/problem+json"
    assert int(response.headers["Retry-After"]) >= 1
    assert response.body["service"] == service
    assert service in response.body["detail"]


Route = Callable[[AdminApi], ApiResponse]


def a_webhook(services: Services, sandbox: SandboxHandle, azurite: Azurite) -> Route:
    """A signed acceptance for fabrikam's transfer: queued for the workflow."""
    customer = sandbox.customer("fabrikam")
    started(services, customer)
    with WebhookReceiver() as receiver:
        sandbox.send_webhook(RELATIONSHIP_ACCEPTED, customer_id=customer, url=receiver.url)
        [(headers, body)] = receiver.received
    return lambda admin: admin.receive_webhook(headers, body)


def an_approval(services: Services, sandbox: SandboxHandle, azurite: Azurite) -> Route:
    """The last waiting line declined: the transfer goes on, woken through the queue."""
    transfer_id = blocked_with_lines(services.store)
    decline = json.dumps({"decline": [O365_E1]}).encode()
    return lambda admin: admin.approve(transfer_id, decline)


def a_retry(services: Services, sandbox: SandboxHandle, azurite: Azurite) -> Route:
    """A transfer blocked for a reason since fixed, its GDAP request made: resumed through the queue."""
    gdap = GdapRequest("gdap-1", "https://admin.microsoft.com/", ("Directory Readers",), "active")
    record = services.store.get(openapi_started(services.store, gdap=gdap).id)
    accepted, entry = record.transfer.move(TransferState.ACCEPTED, at=T0, actor="workflow")
    record = services.store.commit(record, Change(accepted, history=(entry,)))
    blocked, entry = record.transfer.move(TransferState.BLOCKED, at=T0, actor="workflow", reason="no GDAP")
    services.store.commit(record, Change(blocked, history=(entry,)))
    return lambda admin: admin.retry(record.transfer.id)


def a_cancelled_request(services: Services, sandbox: SandboxHandle, azurite: Azurite) -> Route:
    """adatum's pending partner transfer request cancelled: its lines go to the rebuy, through the queue."""
    transfer = requested(services, sandbox, azurite)
    return lambda admin: admin.cancel(transfer["id"], b'{"partnerTransferOnly": true}')


@pytest.mark.parametrize("route", [a_webhook, an_approval, a_retry, a_cancelled_request])
def test_a_stalled_queue_answers_within_the_deadline_naming_queue_storage(
    services: Services,
    sandbox: SandboxHandle,
    azurite: Azurite,
    stalled: StalledService,
    route: Callable[[Services, SandboxHandle, Azurite], Route],
) -> None:
    call = route(services, sandbox, azurite)  # with the queue still answering
    app = services_with(sandbox, azurite, queue_endpoint=stalled.endpoint)

    response = within_deadline(lambda: call(app.admin))

    assert_storage_problem(response, "Queue Storage")


def test_a_stalled_table_answers_within_its_deadline_naming_table_storage(
    connected_app: TransferStore, sandbox: SandboxHandle, azurite: Azurite, stalled: StalledService
) -> None:
    app = services_with(sandbox, azurite, table_endpoint=stalled.endpoint)

    response = within_deadline(lambda: app.admin.list_transfers({}))

    assert_storage_problem(response, "Table Storage")
