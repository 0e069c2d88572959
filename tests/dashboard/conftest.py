"""The dashboard in a real headless Chromium, served by the local host over Azurite and the sandbox.

The host checks function keys here, as Azure does, so the page signs in with a real named key.
One browser for the session; each test gets a fresh context (an empty sessionStorage) and fails
on any script error or Content Security Policy violation the page reports.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from devhost.azurite import Azurite
from devhost.browser import chromium
from devhost.host import FUNCTION_KEYS_SETTING, ROOT, LocalHostHandle, start_local_host
from devhost.run import local_settings
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services

KEY = secrets.token_urlsafe(24)
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with chromium() as running:  # no Chromium: BrowserMissingError says how to get one
        yield running


@pytest.fixture
def host(services: Services, sandbox: SandboxHandle, azurite: Azurite) -> Iterator[LocalHostHandle]:
    settings = local_settings(sandbox, azurite) | {FUNCTION_KEYS_SETTING: json.dumps({"dashboard-tests": KEY})}
    with start_local_host(settings, message_lease_s=4) as running:
        yield running


@pytest.fixture
def api(host: LocalHostHandle) -> Iterator[requests.Session]:
    """The admin API as a script calls it, with the key."""
    session = requests.Session()
    session.headers["x-functions-key"] = KEY
    yield session
    session.close()


@pytest.fixture
def page(browser: Browser, host: LocalHostHandle) -> Iterator[Page]:
    context = browser.new_context(base_url=host.url, viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(20_000)
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    opened.on(
        "console",
        lambda message: problems.append(message.text) if "Content Security Policy" in message.text else None,
    )
    yield opened
    context.close()
    assert not problems, problems


def sign_in(page: Page, key: str = KEY) -> None:
    page.goto("/api/dashboard/")
    page.get_by_label("Function key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def signed_in(page: Page) -> Page:
    sign_in(page)
    expect(page.get_by_role("heading", name="Transfers", exact=True)).to_be_visible()
    return page


def start(api: requests.Session, host: LocalHostHandle, customer: str, **extra: Any) -> dict[str, Any]:
    body = {"customerTenantId": customer, "customerCountry": "US", "sourceChannel": "Direct", **extra}
    answer = api.post(f"{host.url}/api/transfers", json=body, timeout=60)
    assert answer.status_code == 201, answer.text
    transfer: dict[str, Any] = answer.json()
    return transfer


def run_timer(host: LocalHostHandle) -> None:
    """The scan (every five minutes in Azure) now: it sees acceptances no webhook announced."""
    answer = requests.post(f"{host.url}/admin/functions/scan_transfers", json={"input": ""}, timeout=30)
    assert answer.status_code == 202, answer.text


def wait_until(
    api: requests.Session,
    host: LocalHostHandle,
    transfer_id: str,
    done: Callable[[dict[str, Any]], bool],
    timeout_s: float = 90,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        record: dict[str, Any] = api.get(f"{host.url}/api/transfers/{transfer_id}", timeout=30).json()
        if done(record):
            return record
        assert time.monotonic() < deadline, record
        time.sleep(0.3)


def accessibility_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A and AA violations on the page as it is now.

    axe is evaluated through the DevTools protocol: a script tag would be an inline script, which
    the page's Content Security Policy refuses, as it should.
    """
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(Path(AXE).read_text(encoding="utf-8"))
    result: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_21_AA
    )
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]
