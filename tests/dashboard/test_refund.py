"""A transfer that bought can be cancelled with a refund from its page while Partner Center's
cancellation window is open; the dialog says what is cancelled and until when."""

from __future__ import annotations

import requests
from playwright.sync_api import Page, expect

from devhost.host import LocalHostHandle
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from tests.dashboard.browsing import accessibility_violations, provisioned, signed_in, wait_until
from tests.workflow.test_refunds import statuses


def test_a_bought_transfer_is_cancelled_with_a_refund_from_its_page_inside_the_window(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle, services: Services
) -> None:
    bought = provisioned(api, host, sandbox)
    subscriptions = [s for line in bought["lines"] for s in line["subscriptionIds"]]
    until = min(w["until"] for line in bought["lines"] for w in line["cancellableUntil"])

    signed_in(page)
    page.goto(f"/api/dashboard/#/transfers/{bought['id']}")
    page.get_by_role("button", name="Cancel and refund…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("prorated refund")
    expect(dialog).to_contain_text(until[:10])
    expect(dialog.get_by_role("button", name="Keep the transfer")).to_be_focused()
    assert accessibility_violations(page) == []
    dialog.get_by_role("button", name="Cancel and refund", exact=True).click()

    expect(page.locator("#action-result")).to_contain_text("cancelled with a refund")
    assert wait_until(api, host, bought["id"], lambda r: r["state"] == "Cancelled")["refund"] is not None
    assert statuses(services, bought["customerTenantId"], subscriptions) == {"deleted"}
    expect(page.get_by_role("button", name="Cancel and refund…")).to_have_count(0)


def test_a_refund_partner_center_no_longer_allows_is_refused_with_the_date_and_nothing_changes(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    bought = provisioned(api, host, sandbox)
    until = min(w["until"] for line in bought["lines"] for w in line["cancellableUntil"])
    sandbox.advance_clock(days=8)  # Partner Center's window has passed; the page still offers it

    signed_in(page)
    page.goto(f"/api/dashboard/#/transfers/{bought['id']}")
    page.get_by_role("button", name="Cancel and refund…").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel and refund", exact=True).click()

    expect(page.locator("#action-result")).to_contain_text(f"only until {until}")
    assert wait_until(api, host, bought["id"], lambda r: True)["state"] == "Provisioned"
