"""``python -m devhost.screenshots`` (``make screenshots``): the dashboard's pictures in docs/dashboard/.

Azurite, the sandbox and the local host (with a function key) are started as for ``make run``;
transfers are started and moved through the API and the sandbox's customers until there is one of
each kind an admin meets (completed, failed, waiting for a decision, scheduled, waiting for the
customer, moving by partner-to-partner transfer), then each page is captured in headless Chromium.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import FilePayload, Page, expect

from devhost.azurite import running_azurite
from devhost.browser import chromium
from devhost.host import FUNCTION_KEYS_SETTING, ROOT, start_local_host
from devhost.run import local_settings
from sandbox.scenarios import OTHER_PARTNER_NAME, SKUS
from sandbox.testing import SandboxHandle, start_sandbox

OUT = ROOT / "docs" / "dashboard"
PICTURES = (
    "transfers.png",
    "completed.png",
    "failed.png",
    "waiting.png",
    "decide.png",
    "partner-transfer.png",
    "cancel-request.png",
    "start.png",
    "bulk-results.png",
)
WITH_TEAMS = ("TEAMS_ENTERPRISE", "BUSINESS_BASIC", "BUSINESS_STANDARD", "BUSINESS_PREMIUM", "O365_E5")
NEVER = "0 0 0 1 1 *"  # the timer runs only when the pictures need it (see Api.scan)
CUSTOMERS = 40  # the `large` scenario's small customers: customer00039's originals lapse in 59 days
LAPSED = 22  # days the clock moves: past the lapse of customer00000 (20) and customer00001 (21)
CSV = (
    "customerTenantId,customerCountry,sourceChannel,contactEmail,purchaseTiming,purchaseLeadDays\r\n"
    "{0},US,Direct,it@customer00004.example,onAcceptance,\r\n"
    "{1},US,Direct,,,\r\n"
    "{2},DE,Direct,,,\r\n"
    "not-a-tenant,US,Open,,beforeLapse,14\r\n"
)


class Api:
    """The admin API with the key, and the sandbox playing the customers and the passing of time."""

    def __init__(self, url: str, key: str, sandbox: SandboxHandle) -> None:
        self.url = url
        self.sandbox = sandbox
        self.http = requests.Session()
        self.http.headers["x-functions-key"] = key

    def start(self, name: str, **extra: Any) -> str:
        body = {
            "customerTenantId": self.sandbox.customer(name),
            "customerCountry": "US",
            "sourceChannel": "Direct",
        }
        answer = self.http.post(f"{self.url}/api/transfers", json=body | extra, timeout=60)
        answer.raise_for_status()
        return str(answer.json()["id"])

    def scan(self) -> None:
        """The timer now (every five minutes in Azure)."""
        self.http.post(
            f"{self.url}/admin/functions/scan_transfers", json={"input": ""}, timeout=30
        ).raise_for_status()

    def accept(self, *names: str) -> None:
        for name in names:
            self.sandbox.accept_invitation(self.sandbox.customer(name))
        self.scan()

    def wait(self, transfer_id: str, done: Callable[[dict[str, Any]], bool]) -> None:
        deadline = time.monotonic() + 120
        while not done(self.http.get(f"{self.url}/api/transfers/{transfer_id}", timeout=30).json()):
            if time.monotonic() > deadline:
                raise SystemExit(f"transfer {transfer_id} did not get where the pictures need it")
            time.sleep(0.3)


def reaches(state: str) -> Callable[[dict[str, Any]], bool]:
    return lambda record: state in (record["state"], (record["partnerTransfer"] or {}).get("status"))


def prepare(api: Api) -> dict[str, str]:
    """One transfer of each kind, by what it shows; the approval case comes later, on a fresh catalog."""
    sandbox = api.sandbox
    # customer00001 gets a user without a usage location: the cutover cannot move them.
    sandbox.add_users(sandbox.customer("customer00001"), 1, sku_id=SKUS["O365_E3"], usage_location=None)
    shown = {"completed": api.start("customer00000"), "failed": api.start("customer00001")}
    api.accept("customer00000", "customer00001")
    for transfer_id in shown.values():
        api.wait(transfer_id, reaches("Provisioned"))
    sandbox.advance_clock(days=LAPSED)  # the originals lapse; the timer finds them and cuts over
    api.scan()
    api.wait(shown["completed"], reaches("Completed"))
    api.wait(shown["failed"], reaches("Failed"))
    shown["partner"] = api.start(
        "adatum",
        sourceChannel="OtherPartner",
        sourcePartnerTenantId=sandbox.ids.other_partner_tenant_id,
        sourcePartnerName=OTHER_PARTNER_NAME,
        contactEmail="it-admin@adatum.example",
    )
    shown["scheduled"] = api.start(
        f"customer{CUSTOMERS - 1:05d}", options={"purchaseTiming": "beforeLapse", "purchaseLeadDays": 14}
    )
    api.accept("adatum", f"customer{CUSTOMERS - 1:05d}")
    api.wait(shown["partner"], reaches("Pending"))  # the request waits for the source partner
    api.wait(shown["scheduled"], reaches("Provisioned"))
    return shown


def capture(page: Page, out: Path, shown: dict[str, str], sandbox: SandboxHandle) -> None:
    page.locator("#list-status", has_text=f"Showing {len(shown)} transfers.").wait_for()
    page.screenshot(path=out / "transfers.png", full_page=True)
    page.goto(f"/api/dashboard/#/transfers/{shown['completed']}")
    page.locator("#history li").first.wait_for()
    page.screenshot(path=out / "completed.png", full_page=True)
    page.goto(f"/api/dashboard/#/transfers/{shown['failed']}")
    page.locator("#failures tbody tr").first.wait_for()
    expect(page.locator("#plan")).not_to_contain_text("Loading")
    page.screenshot(path=out / "failed.png", full_page=True)
    page.goto(f"/api/dashboard/#/transfers/{shown['waiting']}")
    page.locator("#plan .plan-line").first.wait_for()
    page.screenshot(path=out / "waiting.png", full_page=True)
    page.get_by_role("button", name="Decide…").first.click()
    page.get_by_role("dialog").wait_for()
    page.screenshot(path=out / "decide.png")
    page.keyboard.press("Escape")
    page.goto(f"/api/dashboard/#/transfers/{shown['partner']}")
    page.locator("#lines td.path").first.wait_for()
    lines = page.locator("#lines").bounding_box()
    assert lines is not None
    bottom = lines["y"] + lines["height"] + 24  # down to the lines, not the whole plan
    page.screenshot(
        path=out / "partner-transfer.png",
        full_page=True,
        clip={"x": 0, "y": 0, "width": 1280, "height": bottom},
    )
    page.get_by_role("button", name="Cancel…").click()
    page.get_by_role("dialog").wait_for()
    page.screenshot(path=out / "cancel-request.png")
    page.keyboard.press("Escape")
    page.goto("/api/dashboard/#/start")
    names = ("customer00004", "customer00002", "customer00005")  # customer00002 is already moving
    csv = CSV.format(*(sandbox.customer(name) for name in names))
    page.get_by_label("CSV file").set_input_files(
        files=FilePayload(name="customers.csv", mimeType="text/csv", buffer=csv.encode())
    )
    page.locator("#bulk-status", has_text="rows read").wait_for()
    page.screenshot(path=out / "start.png", full_page=True)
    page.get_by_role("button", name="Start 1 transfer").click()
    expect(page.locator("#bulk-status")).to_contain_text("Done")
    page.locator("section[aria-labelledby='start-many']").screenshot(path=out / "bulk-results.png")


def main(out: Path = OUT) -> int:
    out.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(24)
    with (
        running_azurite() as azurite,
        start_sandbox("large", params={"customers": CUSTOMERS, "users": 0}) as sandbox,
    ):
        settings = local_settings(sandbox, azurite) | {
            FUNCTION_KEYS_SETTING: json.dumps({"screenshots": key})
        }
        with start_local_host(settings) as first:
            shown = prepare(Api(first.url, key, sandbox))
        for name in WITH_TEAMS:  # the approval case: its suite has no full equivalent on sale
            sandbox.set_offer(sandbox.ids.skus[name], purchasable=False)
        with start_local_host(settings) as host:  # a fresh catalog cache, without them
            api = Api(host.url, key, sandbox)
            shown["waiting"] = api.start("fabrikam", contactEmail="it@fabrikam.example")
            api.accept("fabrikam")
            api.wait(shown["waiting"], reaches("Blocked"))
            shown["awaiting"] = api.start("customer00002")  # after the last scan: it stays unaccepted
            with chromium() as browser:
                page = browser.new_page(base_url=host.url, viewport={"width": 1280, "height": 800})
                page.goto("/api/dashboard/")
                page.get_by_label("Function key").fill(key)
                page.get_by_role("button", name="Sign in").click()
                capture(page, out, shown, sandbox)
    print(f"Screenshots in {out.relative_to(ROOT)}: {', '.join(PICTURES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
