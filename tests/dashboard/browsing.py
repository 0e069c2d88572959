"""What the dashboard tests do: sign in, start transfers through the API, wait, check accessibility."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import requests
from playwright.sync_api import Page, expect

from devhost.host import ROOT, LocalHostHandle
from sandbox.testing import SandboxHandle
from tests.workflow.transfers import TEAMS_OFFERS

KEY = secrets.token_urlsafe(24)
"""The function key the local host accepts in these tests, named ``dashboard-tests``."""
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


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
    answer = requests.post(
        f"{host.url}/admin/functions/scan_transfers",
        json={"input": ""},
        headers={"x-functions-key": KEY},  # the admin API wants a key wherever keys are checked
        timeout=30,
    )
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


def blocked_on_approval(
    api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> dict[str, Any]:
    """fabrikam planned while every Teams-carrying offer is withdrawn: both lines wait for an admin."""
    for carries_teams in TEAMS_OFFERS:  # the successors without Teams lose chats and channels
        sandbox.set_offer(carries_teams, purchasable=False)
    customer = sandbox.customer("fabrikam")
    transfer = start(api, host, customer)
    sandbox.accept_invitation(customer)
    run_timer(host)
    return wait_until(api, host, transfer["id"], lambda r: r["state"] == "Blocked")


def provisioned(api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle) -> dict[str, Any]:
    """fabrikam accepted, its replacements bought and active (the timer finds the acceptance)."""
    customer = sandbox.customer("fabrikam")
    transfer = start(api, host, customer)
    sandbox.accept_invitation(customer)
    run_timer(host)
    return wait_until(api, host, transfer["id"], lambda r: r["state"] == "Provisioned")


def deferred(api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle) -> dict[str, Any]:
    """fabrikam accepted with its purchases deferred until 14 days before its originals lapse."""
    customer = sandbox.customer("fabrikam")
    options = {"purchaseTiming": "beforeLapse", "purchaseLeadDays": 14}
    transfer = start(api, host, customer, options=options)
    sandbox.accept_invitation(customer)
    run_timer(host)
    return wait_until(
        api,
        host,
        transfer["id"],
        lambda r: r["state"] == "Provisioned" and all(x["purchaseDue"] for x in r["lines"]),
    )


def accessibility_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A and AA violations on the page as it is now.

    axe is evaluated through the DevTools protocol: a script tag would be an inline script, which
    the page's Content Security Policy refuses, as it should.
    """
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_21_AA
    )
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]
