"""``python -m devhost.screenshots``: the README's pictures of the dashboard, taken in headless Chromium.

Azurite, the sandbox and the local host (with a function key) are started as for ``make run``;
a few transfers are started and moved through the API and the sandbox's customers, then each
page is captured into ``docs/dashboard/``.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import FilePayload, expect

from devhost.azurite import running_azurite
from devhost.browser import chromium
from devhost.host import FUNCTION_KEYS_SETTING, ROOT, start_local_host
from devhost.run import local_settings
from sandbox.scenarios import OTHER_PARTNER_NAME
from sandbox.testing import start_sandbox

OUT = ROOT / "docs" / "dashboard"
WITH_TEAMS = ("TEAMS_ENTERPRISE", "BUSINESS_BASIC", "BUSINESS_STANDARD", "BUSINESS_PREMIUM", "O365_E5")
CSV = (
    "customerTenantId,customerCountry,sourceChannel,contactEmail,purchaseTiming,purchaseLeadDays\r\n"
    "{0},US,Direct,it@{1}.example,onAcceptance,\r\n"
    "{2},DE,Direct,,,\r\n"
    "not-a-tenant,US,Open,,beforeLapse,14\r\n"
)


def main(out: Path = OUT) -> int:
    out.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(24)
    with (
        running_azurite() as azurite,
        start_sandbox("large", params={"customers": 6, "users": 0}) as sandbox,
    ):
        settings = local_settings(sandbox, azurite) | {
            FUNCTION_KEYS_SETTING: json.dumps({"screenshots": key})
        }
        api = requests.Session()
        api.headers["x-functions-key"] = key

        def start(url: str, name: str, **extra: Any) -> str:
            body = {
                "customerTenantId": sandbox.customer(name),
                "customerCountry": "US",
                "sourceChannel": "Direct",
            }
            answer = api.post(f"{url}/api/transfers", json=body | extra, timeout=60)
            answer.raise_for_status()
            return str(answer.json()["id"])

        def accept(url: str, *names: str) -> None:
            for name in names:
                sandbox.accept_invitation(sandbox.customer(name))
            api.post(
                f"{url}/admin/functions/scan_transfers", json={"input": ""}, timeout=30
            ).raise_for_status()

        def wait(url: str, transfer_id: str, state: str) -> None:
            deadline = time.monotonic() + 120
            while True:
                record = api.get(f"{url}/api/transfers/{transfer_id}", timeout=30).json()
                if state in (record["state"], (record["partnerTransfer"] or {}).get("status")):
                    return
                if time.monotonic() > deadline:
                    raise SystemExit(f"transfer {transfer_id} did not reach {state}")
                time.sleep(0.3)

        with start_local_host(settings) as first:
            moving = [start(first.url, f"customer{n:05d}") for n in range(3)]
            from_partner = start(
                first.url,
                "adatum",
                sourceChannel="OtherPartner",
                sourcePartnerTenantId=sandbox.ids.other_partner_tenant_id,
                sourcePartnerName=OTHER_PARTNER_NAME,
                contactEmail="it-admin@adatum.example",
            )
            accept(first.url, "customer00000", "customer00001", "adatum")
            for transfer_id in moving[:2]:
                wait(first.url, transfer_id, "Provisioned")
            wait(first.url, from_partner, "Pending")  # the request waits for the source partner
            start(
                first.url, "customer00003", options={"purchaseTiming": "beforeLapse", "purchaseLeadDays": 14}
            )
        for name in WITH_TEAMS:  # the approval case: its suite has no full equivalent on sale
            sandbox.set_offer(sandbox.ids.skus[name], purchasable=False)
        with start_local_host(settings) as host:  # a fresh catalog cache, without them
            waiting = start(host.url, "fabrikam", contactEmail="it@fabrikam.example")
            accept(host.url, "fabrikam")
            wait(host.url, waiting, "Blocked")
            with chromium() as browser:
                page = browser.new_page(base_url=host.url, viewport={"width": 1280, "height": 800})
                page.goto("/api/dashboard/")
                page.get_by_label("Function key").fill(key)
                page.get_by_role("button", name="Sign in").click()
                page.locator("#list-status", has_text="Showing 6 transfers.").wait_for()
                expect(page.get_by_text("Loading…")).to_have_count(0)
                page.screenshot(path=out / "transfers.png", full_page=True)
                page.goto(f"/api/dashboard/#/transfers/{waiting}")
                page.locator("#plan .plan-line").first.wait_for()
                page.screenshot(path=out / "transfer.png", full_page=True)
                page.get_by_role("button", name="Approve…").click()
                page.get_by_role("dialog").wait_for()
                page.screenshot(path=out / "approve.png")
                page.keyboard.press("Escape")
                page.goto(f"/api/dashboard/#/transfers/{from_partner}")
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
                csv = CSV.format(
                    sandbox.customer("customer00004"), "customer00004", sandbox.customer("customer00005")
                )
                page.get_by_label("CSV file").set_input_files(
                    files=FilePayload(name="customers.csv", mimeType="text/csv", buffer=csv.encode())
                )
                page.locator("#csv-rows").wait_for()
                page.screenshot(path=out / "start.png", full_page=True)
    print(
        f"Screenshots in {out.relative_to(ROOT)}: transfers.png, transfer.png, approve.png, "
        "partner-transfer.png, cancel-request.png, start.png"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
