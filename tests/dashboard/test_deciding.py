"""One transfer's page: each line decided on its own, honest states, progress, the timeline and the
failures by name, in Chromium against the local host, Azurite and the sandbox."""

from __future__ import annotations

import re
from typing import Any

import requests
from playwright.sync_api import Page, expect

from devhost.host import LocalHostHandle
from sandbox.scenarios import SKUS
from sandbox.testing import SandboxHandle
from tests.dashboard.browsing import (
    accessibility_violations,
    blocked_on_approval,
    deferred,
    provisioned,
    run_timer,
    signed_in,
    start,
    wait_until,
)


def line_of(record: dict[str, Any], line_id: str) -> dict[str, Any]:
    return next(line for line in record["lines"] if line["id"] == line_id)


GUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


def test_each_waiting_line_is_approved_or_declined_on_its_own(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    transfer = blocked_on_approval(api, host, sandbox)
    e1 = next(line for line in transfer["lines"] if line["sourceSkuId"] == SKUS["O365_E1"])
    m365 = next(line for line in transfer["lines"] if line["sourceSkuId"] == SKUS["M365_E3"])
    signed_in(page)
    page.goto(f"/api/dashboard/#/transfers/{transfer['id']}")
    expect(page.locator("#plan .plan-line").first).to_be_visible()  # the offers' titles are known

    page.locator(f'tr[data-line="{e1["id"]}"]').get_by_role("button", name=re.compile("^Decide")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name=re.compile("^Approve: buy .+ ×10"))).to_be_visible()
    expect(dialog.get_by_role("heading", name=re.compile("^Decline: buy nothing"))).to_be_visible()
    expect(dialog.locator(".buys")).to_contain_text(re.compile(r"× 10 — "))  # what it buys, and its price
    expect(dialog.get_by_role("button", name="Go back")).to_be_focused()
    assert accessibility_violations(page) == []
    dialog.get_by_role("button", name=re.compile("^Approve: buy")).click()
    expect(page.locator("#action-result")).to_contain_text("Approved")
    assert sandbox.purchases() == []  # the other line still waits: nothing is bought yet

    page.locator(f'tr[data-line="{m365["id"]}"]').get_by_role("button", name=re.compile("^Decide")).click()
    page.get_by_role("dialog").get_by_role("button", name=re.compile("^Decline")).click()
    expect(page.locator("#action-result")).to_contain_text("Declined")
    record = wait_until(api, host, transfer["id"], lambda r: r["state"] == "Provisioned")
    [purchase] = sandbox.purchases()
    bought = {line["skuId"] for line in purchase["lines"]}
    assert bought == {r["skuId"] for r in line_of(record, e1["id"])["replacements"]}
    assert line_of(record, m365["id"])["state"] == "Skipped"


def test_a_deferred_line_is_bought_now_from_its_own_dialog(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    transfer = deferred(api, host, sandbox)
    line = transfer["lines"][0]
    signed_in(page)
    page.goto(f"/api/dashboard/#/transfers/{transfer['id']}")
    expect(page.locator("#plan .plan-line").first).to_be_visible()  # the offers' titles are known

    row = page.locator(f'tr[data-line="{line["id"]}"]')
    row.get_by_role("button", name=re.compile("^Buy now")).click()
    dialog = page.get_by_role("dialog")
    due = line["purchaseDue"][:10]
    expect(dialog).to_contain_text(f"Bought now instead of on the purchase date (due {due})")
    expect(dialog.locator(".buys li")).not_to_have_count(0)
    expect(dialog.locator(".buys")).not_to_contain_text("CFQ7TTC0")  # offers by name, not catalog id
    assert accessibility_violations(page) == []
    dialog.get_by_role("button", name="Buy now").click()

    expect(page.locator("#action-result")).to_contain_text("will be bought")
    wait_until(api, host, transfer["id"], lambda r: bool(line_of(r, line["id"])["orderIds"]))
    [purchase] = sandbox.purchases()
    assert {x["skuId"] for x in purchase["lines"]} == {r["skuId"] for r in line["replacements"]}


def test_no_badge_says_provisioned_while_nothing_is_bought(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    transfer = deferred(api, host, sandbox)  # stored as Provisioned: every purchase waits for its date
    signed_in(page)

    row = page.locator(f'tr[data-id="{transfer["id"]}"]')
    expect(row.locator(".state")).to_have_text("Scheduled")
    page.goto(f"/api/dashboard/#/transfers/{transfer['id']}")
    expect(page.locator("dl.facts .state").first).to_have_text("Scheduled")
    expect(page.locator("#next-move")).to_be_visible()
    expect(page.locator(".state", has_text=re.compile("^Provisioned$"))).to_have_count(0)


def test_a_bought_transfer_names_its_products_and_keeps_ids_behind_a_toggle(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    transfer = provisioned(api, host, sandbox)
    signed_in(page)
    page.goto(f"/api/dashboard/#/transfers/{transfer['id']}")

    lines = page.locator("#lines")
    expect(lines).to_contain_text("Office 365 E1")
    expect(lines).to_contain_text("Microsoft Teams Enterprise")
    for code in ("STANDARDPACK", "SPE_E3", "CFQ7TTC0"):
        expect(lines).not_to_contain_text(code)
    expect(page.locator("#next-move")).to_be_visible()
    history = page.locator("#history")
    expect(history.locator("details.ids").first).to_be_attached()
    for item in history.locator("li").all():
        said = item.locator(":scope > p").all_inner_texts()
        assert not any(GUID.search(text) for text in said), said
    toggle = history.locator("details.ids").first
    toggle.locator("summary").click()
    expect(toggle.locator("code").first).to_be_visible()
    assert accessibility_violations(page) == []


def test_the_progress_bar_leaves_skipped_lines_out(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    customer = sandbox.customer("contoso")
    transfer = start(api, host, customer)  # a trial and a free SKU among its lines
    sandbox.approve_gdap(customer)
    run_timer(host)  # contoso accepted long ago: the scan finds it
    record = wait_until(api, host, transfer["id"], lambda r: any(x["state"] == "Skipped" for x in r["lines"]))
    skipped = sum(line["state"] == "Skipped" for line in record["lines"])
    signed_in(page)
    page.goto(f"/api/dashboard/#/transfers/{transfer['id']}")

    bar = page.locator("section[aria-labelledby='section-lines'] progress")
    to_move = len(record["lines"]) - skipped
    expect(bar).to_have_attribute("max", str(to_move))
    expect(bar).to_have_attribute("aria-label", re.compile(rf"of {to_move} lines done, {skipped} skipped$"))


def test_a_user_whose_licence_did_not_move_is_named_with_what_to_do(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    customer = sandbox.customer("fabrikam")
    [stranded] = sandbox.add_users(customer, 1, sku_id=SKUS["O365_E1"], usage_location=None)
    transfer = start(api, host, customer)
    sandbox.accept_invitation(customer)
    run_timer(host)
    wait_until(api, host, transfer["id"], lambda r: r["state"] == "Provisioned")
    sandbox.advance_clock(days=41)  # past the originals' end: the cutover is due
    run_timer(host)
    wait_until(api, host, transfer["id"], lambda r: any(x["licenses"]["failures"] for x in r["lines"]))
    signed_in(page)
    page.goto(f"/api/dashboard/#/transfers/{transfer['id']}")

    failures = page.locator("#failures")
    expect(failures).to_contain_text("@fabrikamsandbox.onmicrosoft.com")  # the user's UPN, read live
    expect(failures).not_to_contain_text(stranded)
    expect(failures).to_contain_text("usage location")  # what to do about it
    assert accessibility_violations(page) == []
