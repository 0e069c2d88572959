"""The dashboard says so when a transfer is halted while one of its originals is about to lapse."""

from __future__ import annotations

import requests
from playwright.sync_api import Page, expect

from devhost.host import LocalHostHandle
from sandbox.scenarios import SKUS
from sandbox.testing import SandboxHandle
from tests.dashboard.browsing import run_timer, signed_in, start, wait_until


def test_a_blocked_transfer_whose_original_lapses_soon_is_flagged_in_the_list_and_on_its_page(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    customer = sandbox.customer("fabrikam")
    sandbox.add_subscription(customer, SKUS["O365_E1"], 1, days_to_next=3)  # lapses inside the lead
    sandbox.set_offer(SKUS["O365_E1_NO_TEAMS"], purchasable=False)  # no successor on sale: an admin decides
    transfer = start(api, host, customer)
    sandbox.accept_invitation(customer)  # and approves GDAP
    run_timer(host)
    blocked = wait_until(api, host, transfer["id"], lambda r: r["state"] == "Blocked" and r["lines"])
    run_timer(host)  # nobody decided: the timer reads the blocked transfer's originals
    flagged = wait_until(api, host, transfer["id"], lambda r: r["lapseRiskOn"] is not None)
    e1 = next(x for x in blocked["lines"] if x["sourceSkuId"] == SKUS["O365_E1"])
    assert flagged["lapseRiskOn"][:10] == e1["originalExpires"][:10]

    signed_in(page)
    row = page.locator(f'table.transfers tr[data-id="{transfer["id"]}"]')
    expect(row.locator(".lapse-risk")).to_contain_text(f"Original lapses {flagged['lapseRiskOn'][:10]}")
    expect(row.locator(".lapse-risk")).to_contain_text("while it is blocked")
    page.goto(f"/api/dashboard/#/transfers/{transfer['id']}")
    expect(page.locator("#lapse-risk")).to_contain_text("Warning: Original lapses")
    expect(page.locator("#history")).to_contain_text("while the transfer is Blocked")
