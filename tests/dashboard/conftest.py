"""The dashboard in a real headless Chromium, served by the local host over Azurite and the sandbox.

The host checks function keys here, as Azure does, so the page signs in with a real named key.
One browser for the session; each test gets a fresh context (an empty sessionStorage) and fails
on any script error or Content Security Policy violation the page reports.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import Browser, Page

from devhost.azurite import Azurite
from devhost.browser import chromium
from devhost.host import FUNCTION_KEYS_SETTING, LocalHostHandle, start_local_host
from devhost.run import local_settings
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from tests.dashboard.browsing import KEY


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with chromium() as running:  # no Chromium: BrowserMissingError says how to get one
        yield running


@pytest.fixture
def host(services: Services, sandbox: SandboxHandle, azurite: Azurite) -> Iterator[LocalHostHandle]:
    settings = local_settings(sandbox, azurite) | {
        FUNCTION_KEYS_SETTING: json.dumps({"dashboard-tests": KEY})
    }
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
    context = browser.new_context(
        base_url=host.url, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
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
