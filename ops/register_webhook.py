"""``python -m ops.register_webhook``: point Partner Center's webhook at the deployed app, then prove it.

Registers the events the product handles (and ``test-created``) at
``https://<app>/api/webhooks/partner-center?code=<function key>``, updating the partner's
registration if one exists, then asks Partner Center for its test event and polls the
validation status until the app's answer is known. The partner's settings come from the
environment as in the app (``PARTNER_TENANT_ID``, ``PARTNER_CLIENT_ID``, ``PARTNER_CLIENT_SECRET``,
``PARTNER_CENTER_ENDPOINT``, ``AUTHORITY_HOST``); the function key is never printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from shared.bootstrap import Services
from shared.clients.errors import ServiceError
from shared.clients.http import redacted
from shared.clients.partner_center import PartnerCenterClient
from shared.resources.partner_center import WebhookRegistration, WebhookValidationStatus
from shared.resources.webhook_events import TEST_CREATED
from shared.settings import SettingError, Settings
from shared.workflow.intake import FOLLOWED_EVENTS

WEBHOOK_ROUTE = "/api/webhooks/partner-center"
#: What the product acts on, plus the event Partner Center's validation sends.
EVENTS = (*sorted(FOLLOWED_EVENTS), TEST_CREATED)
KEY_VARIABLE = "WEBHOOK_FUNCTION_KEY"


@dataclass(frozen=True, slots=True)
class WebhookCheck:
    """The registration as Partner Center holds it now, the one it replaced, and the test's fate."""

    registration: WebhookRegistration
    replaced: WebhookRegistration | None
    validation: WebhookValidationStatus | None
    """``None`` when Partner Center still did not know the test event at the deadline."""

    @property
    def delivered(self) -> bool:
        return self.validation is not None and self.validation.delivered


def webhook_url(app_url: str, function_key: str) -> str:
    """The webhook route of the app at ``app_url`` (a base URL, scheme optional), with its key."""
    base = app_url if "://" in app_url else "https://" + app_url
    parts = urlsplit(base)
    if not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{app_url!r} is not the app's base URL, such as https://<app>.azurewebsites.net")
    if not function_key:
        raise ValueError("the function key is empty")
    path = parts.path.rstrip("/") + WEBHOOK_ROUTE
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode({"code": function_key}), ""))


def register_and_test(
    partner_center: PartnerCenterClient,
    url: str,
    *,
    events: Sequence[str] = EVENTS,
    timeout_s: float = 120.0,
    poll_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> WebhookCheck:
    """Register ``url`` for ``events`` (create or update), send the test event, wait for its outcome.

    Partner Center keeps one registration per partner, so a registration for another URL is
    replaced (and returned as ``replaced`` so the caller can say so). The wait ends once the
    validation status is ``completed`` or the app acknowledged the event, or at ``timeout_s``.
    """
    replaced = partner_center.get_webhook_registration()
    registration = partner_center.create_or_update_webhook_registration(url, events)
    correlation_id = partner_center.send_test_webhook()
    deadline = time.monotonic() + timeout_s
    while True:
        validation = partner_center.get_webhook_validation_status(correlation_id)
        finished = validation is not None and (
            validation.delivered or validation.status.lower() == "completed"
        )
        if finished or time.monotonic() >= deadline:
            return WebhookCheck(registration, replaced, validation)
        sleep(poll_s)


def report(check: WebhookCheck) -> str:
    """What an operator needs to read, with no key in it."""
    lines = [
        f"Registered {redacted(check.registration.webhook_url)}",
        f"  for {', '.join(check.registration.webhook_events)}",
    ]
    previous = check.replaced
    if previous is not None and previous.webhook_url != check.registration.webhook_url:
        lines.append(f"  (replacing the registration for {redacted(previous.webhook_url)})")
    validation = check.validation
    if validation is None:
        lines.append("Test event: Partner Center has no status for it yet; run again in a minute.")
    else:
        answers = ", ".join(code or "no answer" for code in validation.response_codes) or "none yet"
        verdict = "arrived" if validation.delivered else "NOT acknowledged by the app"
        lines.append(
            f"Test event {validation.correlation_id}: {verdict} ({validation.status}; answers: {answers})"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.register_webhook", description=__doc__)
    parser.add_argument(
        "--app-url", required=True, help="the function app's base URL, e.g. https://<app>.azurewebsites.net"
    )
    parser.add_argument(
        "--function-key",
        default=os.environ.get(KEY_VARIABLE, ""),
        help=f"the webhook function's key (default: ${KEY_VARIABLE}, which keeps it out of history)",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for the test event's outcome"
    )
    args = parser.parse_args(argv)
    try:
        url = webhook_url(args.app_url, args.function_key)
    except ValueError as error:
        parser.error(str(error))
    services = Services(Settings(os.environ))
    try:
        check = register_and_test(services.partner_center, url, timeout_s=args.timeout)
    except (SettingError, ServiceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        services.close()
    print(report(check), flush=True)
    return 0 if check.delivered else 1


if __name__ == "__main__":
    sys.exit(main())
