"""The dashboard says so when a transfer is Failed while one of its originals is about to lapse."""

from __future__ import annotations

import requests
from playwright.sync_api import Page, expect

from devhost.host import LocalHostHandle
from sandbox.testing import SandboxHandle
from tests.dashboard.browsing import run_timer, signed_in, start, wait_until


def test_a_failed_transfer_whose_original_lapses_soon_is_flagged_in_the_list_and_on_its_page(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    customer = sandbox.customer("tailspin")  # accepted; its GDAP role reads but cannot assign licences
    o365_e3 = sandbox.ids.skus["O365_E3"]
    sandbox.add_subscription(customer, o365_e3, 1, days_to_next=3)  # the line lapses inside the lead
    transfer = start(api, host, customer)
    run_timer(host)  # finds it accepted long ago; bought, its cutover is due at once and fails
    failed = wait_until(api, host, transfer["id"], lambda r: r["state"] == "Failed")
    run_timer(host)  # reads the failed transfer's originals: one lapses within the lead
    flagged = wait_until(api, host, transfer["id"], lambda r: r["lapseRiskOn"] is not None)
    assert flagged["lapseRiskOn"][:10] == next(x["originalExpires"] for x in failed["lines"])[:10]

    signed_in(page)
    row = page.locator(f'table.transfers tr[data-id="{transfer["id"]}"]')
    expect(row.locator(".lapse-risk")).to_contain_text(f"Original lapses {flagged['lapseRiskOn'][:10]}")
    expect(row.locator(".lapse-risk")).to_contain_text("while it is failed")
    page.goto(f"/api/dashboard/#/transfers/{transfer['id']}")
    expect(page.locator("#lapse-risk")).to_contain_text("Warning: Original lapses")
    expect(page.locator("#history")).to_contain_text("while the transfer is Failed")
