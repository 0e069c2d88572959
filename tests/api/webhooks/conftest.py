"""Deliveries the sandbox really signs and sends to a loopback receiver, and the verifier built from
the sandbox's settings exactly as production builds it from the app settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from sandbox.testing import SandboxHandle, WebhookReceiver
from shared.api.webhooks import WebhookVerifier
from shared.bootstrap import Services
from shared.resources.webhook_events import RELATIONSHIP_ACCEPTED
from shared.settings import Settings

Delivery = tuple[dict[str, str], bytes]
Deliver = Callable[..., list[Delivery]]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as found:
        yield found


@pytest.fixture
def settings(sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> Settings:
    env = sandbox.env()
    # What a harness does for the processes it starts: the product's HTTPS clients trust the sandbox.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", env["REQUESTS_CA_BUNDLE"])
    return Settings(env)


@pytest.fixture
def verifier(settings: Settings) -> WebhookVerifier:
    return Services(settings).webhooks


@pytest.fixture
def deliver(sandbox: SandboxHandle, receiver: WebhookReceiver) -> Deliver:
    """Have the sandbox sign and send an event (or a raw body); return what the receiver got."""

    def send(
        mode: str = "normal",
        *,
        event_name: str = RELATIONSHIP_ACCEPTED,
        customer: str | None = "contoso",
        resource_uri: str | None = None,
        raw_body: str | None = None,
    ) -> list[Delivery]:
        before = len(receiver.received)
        sandbox.send_webhook(
            event_name,
            customer_id=sandbox.customer(customer) if customer else None,
            url=receiver.url,
            mode=mode,
            resource_uri=resource_uri,
            raw_body=raw_body,
        )
        return receiver.received[before:]

    return send


def certificate_fetches(sandbox: SandboxHandle) -> list[str]:
    """The paths of every request the sandbox's certificate URL served, in order."""
    return [r["path"] for r in sandbox.requests() if r["service"] == "cert"]
