"""``python -m ops.register_webhook`` against the sandbox's Partner Center, with the local host as the app."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from devhost.azurite import Azurite
from devhost.host import LocalHostHandle, start_local_host
from devhost.run import local_settings
from ops.register_webhook import EVENTS, main, register_and_test, webhook_url
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from shared.clients.http import redacted
from shared.resources.webhook_events import (
    INDIRECT_RELATIONSHIP_ACCEPTED,
    RELATIONSHIP_ACCEPTED,
    TEST_CREATED,
)
from shared.workflow.rules.partner_transfer import TRANSFER_EVENTS

KEY = "k3y-Of-the-webhook-function=="


@pytest.fixture
def host(services: Services, sandbox: SandboxHandle, azurite: Azurite) -> Iterator[LocalHostHandle]:
    with start_local_host(local_settings(sandbox, azurite)) as running:
        yield running


def closed_port_url() -> str:
    """A loopback URL where nothing listens (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_the_product_events_are_registered_at_the_keyed_url_and_the_test_event_reaches_the_app(
    host: LocalHostHandle, services: Services, sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--app-url", host.url, "--function-key", KEY, "--timeout", "30"]) == 0

    registration = services.partner_center.get_webhook_registration()
    assert registration is not None
    assert (
        registration.webhook_url == f"{host.url}/api/webhooks/partner-center?code={KEY.replace('=', '%3D')}"
    )
    assert set(registration.webhook_events) == {
        RELATIONSHIP_ACCEPTED,
        INDIRECT_RELATIONSHIP_ACCEPTED,
        *TRANSFER_EVENTS,  # partner-to-partner transfers are followed by webhook, not only by the timer
        TEST_CREATED,
    }
    [delivery] = sandbox.webhook_deliveries()
    assert delivery["eventName"] == TEST_CREATED
    assert parse_qs(urlsplit(delivery["url"]).query) == {"code": [KEY]}
    assert delivery["delivered"]
    assert delivery["attempts"][-1]["status"] == 200
    output = capsys.readouterr()
    assert "arrived" in output.out
    assert KEY not in output.out + output.err


def test_registering_again_updates_the_registration_instead_of_failing(
    host: LocalHostHandle, services: Services
) -> None:
    old = webhook_url("http://127.0.0.1:9", "old-key")
    services.partner_center.create_or_update_webhook_registration(old, [TEST_CREATED])

    check = register_and_test(services.partner_center, webhook_url(host.url, KEY), timeout_s=30, poll_s=0.2)

    assert check.replaced is not None
    assert check.replaced.webhook_url == old
    assert check.registration.webhook_url == webhook_url(host.url, KEY)
    assert check.registration.webhook_events == EVENTS
    assert check.delivered
    current = services.partner_center.get_webhook_registration()
    assert current is not None
    assert current.webhook_url == webhook_url(host.url, KEY)


def test_a_test_event_the_app_never_answers_is_reported_as_not_arrived(
    services: Services, sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.set_knobs(webhook={"max_attempts": 2, "backoff_s": 0.05, "timeout_s": 2})

    assert main(["--app-url", closed_port_url(), "--function-key", KEY, "--timeout", "30"]) == 1

    output = capsys.readouterr().out
    assert "NOT acknowledged" in output
    assert "no answer, no answer" in output
    assert KEY not in output


def test_the_webhook_url_carries_the_key_on_the_app_webhook_route() -> None:
    assert webhook_url("csp.azurewebsites.net/", "a+b") == (
        "https://csp.azurewebsites.net/api/webhooks/partner-center?code=a%2Bb"
    )
    with pytest.raises(ValueError, match="base URL"):
        webhook_url("https://csp.azurewebsites.net/?x=1", "key")
    with pytest.raises(ValueError, match="empty"):
        webhook_url("https://csp.azurewebsites.net", "")


def test_a_printed_url_hides_the_function_key() -> None:
    assert redacted(webhook_url("https://csp.azurewebsites.net", KEY)) == (
        "https://csp.azurewebsites.net/api/webhooks/partner-center?code=***"
    )
