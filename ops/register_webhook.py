"""``python -m ops.register_webhook``: point Partner Center's webhook at the deployed app, then prove it.

Partner Center keeps one webhook registration per partner, and other tools (a PSA, CIPP, billing)
may hold it. So the current registration is read first: none, and one is made for the events the
product handles (and ``test-created``); one for this app (same host and path, whatever the key), and
only the events it lacks are added, every other event kept; one for another URL, and nothing is
changed: the command says what is there and stops, unless ``--replace`` takes the registration over
(cutting that tool off). Then Partner Center sends its test event and the validation status is
polled until the app's answer is known. The partner's settings come from the environment as in the
app (``PARTNER_TENANT_ID``, ``PARTNER_CLIENT_ID``, ``PARTNER_CLIENT_SECRET``,
``PARTNER_CENTER_ENDPOINT``, ``AUTHORITY_HOST``); no function key is ever printed.
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


class RegisteredElsewhereError(Exception):
    """The partner's one registration points at another URL: taking it over would cut that tool off."""

    def __init__(self, current: WebhookRegistration) -> None:
        super().__init__(
            f"Partner Center's webhook registration points at {redacted(current.webhook_url)} "
            f"(events: {', '.join(current.webhook_events) or 'none'}). A partner has one registration: "
            "taking it over cuts that tool off. Run again with --replace to take it over."
        )
        self.current = current


@dataclass(frozen=True, slots=True)
class Registration:
    """The registration as Partner Center holds it now, what it was before, and the events added."""

    registration: WebhookRegistration
    previous: WebhookRegistration | None
    added: tuple[str, ...]

    @property
    def replaced(self) -> WebhookRegistration | None:
        """The other tool's registration this one took over, if any."""
        previous = self.previous
        if previous is None or same_app(previous.webhook_url, self.registration.webhook_url):
            return None
        return previous


@dataclass(frozen=True, slots=True)
class WebhookCheck:
    """The registration made or kept, and the test's fate."""

    registration: Registration
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


def same_app(registered: str, url: str) -> bool:
    """Whether a registered URL is this app's: the same scheme, host and path (the key may differ)."""
    a, b = urlsplit(registered), urlsplit(url)
    return (a.scheme.lower(), a.netloc.lower(), a.path.rstrip("/")) == (
        b.scheme.lower(),
        b.netloc.lower(),
        b.path.rstrip("/"),
    )


def register(
    partner_center: PartnerCenterClient, url: str, events: Sequence[str] = EVENTS, *, replace: bool = False
) -> Registration:
    """Make the partner's registration deliver ``events`` to ``url`` without cutting another tool off.

    Read first: no registration, create it; this app's, add only the missing events (and the new
    key), keeping every other; another URL's, raise :class:`RegisteredElsewhereError` unless
    ``replace``. Nothing is written when the registration already says all of it.
    """
    current = partner_center.get_webhook_registration()
    if current is not None and not same_app(current.webhook_url, url):
        if not replace:
            raise RegisteredElsewhereError(current)
        current_events: tuple[str, ...] = ()
    else:
        current_events = current.webhook_events if current is not None else ()
    missing = tuple(e for e in events if e not in current_events)
    if current is not None and not missing and current.webhook_url == url:
        return Registration(current, current, ())
    registration = partner_center.create_or_update_webhook_registration(url, [*current_events, *missing])
    return Registration(registration, current, missing)


def register_and_test(
    partner_center: PartnerCenterClient,
    url: str,
    *,
    events: Sequence[str] = EVENTS,
    replace: bool = False,
    timeout_s: float = 120.0,
    poll_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> WebhookCheck:
    """:func:`register`, then send the test event and wait for its outcome: until the validation
    status is ``completed`` or the app acknowledged the event, or ``timeout_s``."""
    registration = register(partner_center, url, events, replace=replace)
    correlation_id = partner_center.send_test_webhook()
    deadline = time.monotonic() + timeout_s
    while True:
        validation = partner_center.get_webhook_validation_status(correlation_id)
        finished = validation is not None and (
            validation.delivered or validation.status.lower() == "completed"
        )
        if finished or time.monotonic() >= deadline:
            return WebhookCheck(registration, validation)
        sleep(poll_s)


def report(check: WebhookCheck) -> str:
    """What an operator needs to read, with no key in it."""
    made = check.registration
    lines = [
        f"Registered {redacted(made.registration.webhook_url)}",
        f"  for {', '.join(made.registration.webhook_events)}",
    ]
    if made.replaced is not None:
        lines.append(f"  (taking over the registration for {redacted(made.replaced.webhook_url)})")
    elif made.previous is not None:
        added = ", ".join(made.added) or "none: it already had every event"
        lines.append(f"  (this app's registration, kept with its other events; added: {added})")
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
    parser.add_argument(
        "--replace",
        action="store_true",
        help="take over a registration that points at another URL (that tool gets no more events)",
    )
    args = parser.parse_args(argv)
    try:
        url = webhook_url(args.app_url, args.function_key)
    except ValueError as error:
        parser.error(str(error))
    services = Services(Settings(os.environ))
    try:
        check = register_and_test(services.partner_center, url, replace=args.replace, timeout_s=args.timeout)
    except RegisteredElsewhereError as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 3
    except (SettingError, ServiceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        services.close()
    print(report(check), flush=True)
    return 0 if check.delivered else 1


if __name__ == "__main__":
    sys.exit(main())
