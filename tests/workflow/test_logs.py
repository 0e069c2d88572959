"""What a whole transfer writes to the logs at DEBUG, the product's and its libraries' (msal, urllib3,
azure): never a token, a refresh token, the client secret or anyone's e-mail address.

The flow is the real one against the sandbox, webhook included, so every client, retry and error
path that runs in production writes what it would write there.
"""

from __future__ import annotations

import logging
import re

import pytest

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle, WebhookReceiver
from shared.bootstrap import Services
from shared.resources.webhook_events import RELATIONSHIP_ACCEPTED
from tests.fixtures.app import pump, routes
from tests.workflow.test_cutover import days_until_lapse, on_sandbox_time, timer_on_sandbox_time
from tests.workflow.transfers import record, start

pytestmark = pytest.mark.slow

JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
SANDBOX_TOKENS = re.compile(r"0\.sandbox-(?:refresh-token|authorization-code)\.")
CONTACT = "it-admin@fabrikam-logs.example"
CHATTY = ("", "msal", "urllib3", "azure", "shared", "requests")


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in CHATTY:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_a_whole_transfer_logged_at_debug_shows_no_token_secret_or_email_address(
    debug_logs: pytest.LogCaptureFixture, services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    sandbox.add_fault("status", service="graph", status=503, times=2)  # the retry paths log too
    sandbox.add_fault("status", service="partner_center", status=429, retry_after="1", times=1)
    status, transfer = start(services, customer, contactEmail=CONTACT)
    assert status == 201, transfer
    sandbox.accept_invitation(customer)
    with WebhookReceiver() as receiver:
        sandbox.send_webhook(RELATIONSHIP_ACCEPTED, customer_id=customer, url=receiver.url)
        [(headers, body)] = receiver.received
    assert routes(services).receive_webhook(headers, body).status == 200
    pump(azurite, services, runner=on_sandbox_time(services, sandbox), idle_s=3)
    sandbox.advance_clock(days=days_until_lapse(sandbox, record(services, transfer["id"])) - 3)
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=on_sandbox_time(services, sandbox), idle_s=3)
    assert record(services, transfer["id"])["state"] == "Completed"

    logged = debug_logs.text + "\n".join(r.getMessage() for r in debug_logs.records)
    assert {r.name.split(".")[0] for r in debug_logs.records} >= {"msal", "urllib3", "shared"}
    assert leaks(logged, sandbox, CONTACT) == []


def leaks(logged: str, sandbox: SandboxHandle, *also: str) -> list[str]:
    """What of the sandbox's secrets, any token or any e-mail address the text holds."""
    known = [s for s in (sandbox.client_secret, sandbox.refresh_token, *also) if s in logged]
    return known + JWT.findall(logged) + SANDBOX_TOKENS.findall(logged) + EMAIL.findall(logged)
