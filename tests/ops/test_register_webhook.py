"""``python -m ops.register_webhook`` against the sandbox's Partner Center, with the local host as the app."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from devhost.azurite import Azurite
from devhost.host import LocalHostHandle, start_local_host
from devhost.run import local_settings
from ops.register_webhook import EVENTS, main, register, register_and_test, webhook_url
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from shared.clients.http import redacted
from shared.resources.webhook_events import (
    INDIRECT_RELATIONSHIP_ACCEPTED,
    RELATIONSHIP_ACCEPTED,
    TEST_CREATED,
)
from shared.workflow.rules.access import ACCESS_EVENTS
from shared.workflow.rules.partner_transfer import TRANSFER_EVENTS

pytestmark = pytest.mark.slow

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
        *ACCESS_EVENTS,  # so is the GDAP relationship: its approval sets up access and resumes the transfer
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


def test_a_registration_for_another_url_is_left_alone_and_named_unless_replace_is_asked(
    host: LocalHostHandle, services: Services, sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "https://cipp.example/api/PublicWebhooks?CIPPID=partner&code=their-secret"
    sandbox.set_webhook_registration(other, [TEST_CREATED, "granular-admin-relationship-approved"])

    refused = main(["--app-url", host.url, "--function-key", KEY, "--timeout", "30"])

    assert refused == 3
    error = capsys.readouterr().err
    assert "https://cipp.example/api/PublicWebhooks?CIPPID=partner&code=***" in error  # the key hidden
    assert "granular-admin-relationship-approved" in error
    assert "--replace" in error
    assert "their-secret" not in error
    kept = services.partner_center.get_webhook_registration()
    assert kept is not None
    assert kept.webhook_url == other
    assert sandbox.webhook_deliveries() == []

    taken = main(["--app-url", host.url, "--function-key", KEY, "--timeout", "30", "--replace"])

    assert taken == 0
    assert "taking over the registration for https://cipp.example" in capsys.readouterr().out
    current = services.partner_center.get_webhook_registration()
    assert current is not None
    assert (current.webhook_url, current.webhook_events) == (webhook_url(host.url, KEY), EVENTS)


def test_registering_this_app_again_adds_only_the_missing_events_and_keeps_the_others(
    host: LocalHostHandle, services: Services
) -> None:
    old_key = webhook_url(host.url, "old-key")
    billing = "invoice-ready"  # another team's event on the same registration
    services.partner_center.create_or_update_webhook_registration(old_key, [TEST_CREATED, billing])

    check = register_and_test(services.partner_center, webhook_url(host.url, KEY), timeout_s=30, poll_s=0.2)

    made = check.registration
    assert made.replaced is None
    assert made.added == tuple(e for e in EVENTS if e != TEST_CREATED)
    assert made.registration.webhook_url == webhook_url(host.url, KEY)  # the new key
    assert made.registration.webhook_events == (TEST_CREATED, billing, *made.added)
    assert check.delivered


def test_a_registration_that_already_has_everything_is_not_written(
    services: Services, sandbox: SandboxHandle
) -> None:
    url = webhook_url("http://127.0.0.1:9", KEY)
    services.partner_center.create_or_update_webhook_registration(url, [*EVENTS, "invoice-ready"])
    sandbox.clear_ledger()

    made = register(services.partner_center, url)

    assert made.added == ()
    assert [r["method"] for r in sandbox.requests() if r["path"].endswith("/webhooks/v1/registration")] == [
        "GET"
    ]


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
