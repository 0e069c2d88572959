"""The dashboard's pages in Chromium, against the local host, Azurite and the sandbox."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
import requests
from playwright.sync_api import FilePayload, Page, expect

from devhost.host import LocalHostHandle
from sandbox.testing import SandboxHandle
from tests.dashboard.browsing import (
    accessibility_violations,
    blocked_on_approval,
    run_timer,
    sign_in,
    signed_in,
    start,
    wait_until,
)

pytestmark = pytest.mark.slow


def test_a_wrong_key_is_refused_and_a_right_one_signs_in_until_sign_out(page: Page) -> None:
    sign_in(page, "not-a-key-of-this-app")

    expect(page.get_by_role("alert")).to_contain_text("refused (HTTP 401)")
    assert page.evaluate("sessionStorage.length") == 0

    signed_in(page)
    assert "code=" not in page.url
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Function key")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_a_key_revoked_meanwhile_signs_the_page_out(page: Page) -> None:
    signed_in(page)

    page.evaluate("sessionStorage.setItem('csp-transfer.function-key', 'revoked')")
    page.get_by_role("link", name="Start transfers").click()
    page.get_by_role("link", name="Transfers", exact=True).click()

    expect(page.get_by_role("alert")).to_contain_text("refused")
    expect(page.get_by_label("Function key")).to_be_visible()


def test_the_list_filters_by_state_and_loads_more_pages(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    started = [start(api, host, sandbox.customer(name)) for name in ("contoso", "fabrikam", "tailspin")]
    cancelled = api.post(f"{host.url}/api/transfers/{started[0]['id']}/cancel", timeout=30)
    assert cancelled.status_code == 200, cancelled.text

    signed_in(page)
    page.goto("/api/dashboard/#/transfers?pageSize=2")
    rows = page.locator("table.transfers tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(3)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()

    page.get_by_label("State").select_option("Cancelled")
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(started[0]["customerTenantId"])
    expect(rows.first).to_contain_text("Cancelled")


def test_a_transfer_shows_its_links_lines_plan_and_history(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = start(api, host, customer)
    page.clock.install()  # the page refreshes itself every 10 s: its clock is moved, not waited out
    signed_in(page)
    page.goto(f"/api/dashboard/#/transfers/{transfer['id']}")
    expect(page.get_by_role("heading", name="What the customer's admin must do")).to_be_visible()
    expect(page.get_by_label("Ready-to-send message")).to_have_value(
        re.compile(re.escape(transfer["invitationUrl"]))
    )
    expect(page.get_by_role("button", name="Copy the GDAP approval link")).to_be_visible()

    sandbox.accept_invitation(customer)
    run_timer(host)
    wait_until(api, host, transfer["id"], lambda r: r["state"] == "Provisioned")
    page.clock.fast_forward(10_000)
    expect(page.locator("#action-result")).to_contain_text("changed")  # it refreshed itself

    lines = page.locator("#lines tbody tr")
    expect(lines).to_have_count(2, timeout=30_000)  # it may have refreshed first while access was set up
    expect(page.locator("#lines")).to_contain_text("Equivalent")
    expect(page.get_by_role("progressbar").first).to_have_attribute(
        "aria-label", re.compile(r"of 2 lines done")
    )
    expect(page.locator("#plan")).to_contain_text("User pre-flight")
    expect(page.locator("#history li")).not_to_have_count(0)
    expect(page.locator("#history")).to_contain_text("Provisioned")
    expect(page.get_by_role("button", name="Cancel transfer…")).to_have_count(0)  # bought: not cancellable


def test_approve_names_what_it_buys_asks_for_confirmation_and_buys_once(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    transfer = blocked_on_approval(api, host, sandbox)

    signed_in(page)
    page.goto(f"/api/dashboard/#/transfers/{transfer['id']}")
    expect(page.locator("#plan .warning").first).to_contain_text("would be lost")
    approve = page.get_by_role("button", name="Approve all…")
    approve.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Approve and buy?")
    expect(dialog).to_contain_text(re.compile(r"× \d+ \(replacing"))
    expect(dialog).to_contain_text("lose: TEAMS1")
    expect(dialog.get_by_role("button", name="Go back")).to_be_focused()  # the safe choice first
    assert violations_free(page)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(approve).to_be_focused()
    assert sandbox.purchases() == []

    page.keyboard.press("Enter")
    page.keyboard.press("Shift+Tab")
    expect(dialog.get_by_role("button", name="Approve and buy")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#action-result")).to_contain_text("Approved")
    wait_until(api, host, transfer["id"], lambda r: r["state"] == "Provisioned")
    assert len(sandbox.purchases()) == 1


def test_a_bulk_csv_with_a_bad_row_starts_the_good_rows_and_reports_the_bad_one(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    good = [sandbox.customer("fabrikam"), sandbox.customer("tailspin")]
    bad = sandbox.customer("northwind")  # Germany: outside the partner's CSP region
    text = "customerTenantId,customerCountry,sourceChannel,contactEmail,purchaseTiming,purchaseLeadDays\r\n"
    text += f"{good[0]},US,Direct,it@fabrikam.example,,\r\n{bad},DE,Direct,,,\r\n"
    text += f"{good[1]},us,Open,,beforeLapse,10\r\n"
    signed_in(page)
    page.get_by_role("link", name="Start transfers").click()
    with page.expect_download() as template:
        page.get_by_role("button", name="Download the CSV template").click()
    assert template.value.path().read_text().startswith("customerTenantId,customerCountry,sourceChannel")

    page.get_by_label("CSV file").set_input_files(
        files=FilePayload(name="customers.csv", mimeType="text/csv", buffer=text.encode())
    )
    rows = page.locator("#csv-rows tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_contain_text("sells in United States only")
    assert violations_free(page)
    page.get_by_role("button", name="Start 2 transfers").click()
    expect(page.locator("#bulk-status")).to_contain_text("2 started, 1 not started")
    expect(rows.nth(0)).to_contain_text("Started")
    expect(rows.nth(2)).to_contain_text("Started")

    with page.expect_download() as results:
        page.get_by_role("button", name="Download the results").click()
    reported = list(csv.DictReader(io.StringIO(results.value.path().read_text())))
    assert [r["result"] for r in reported] == ["started", "not started", "started"]
    assert "United States" in reported[1]["detail"]
    listed = api.get(f"{host.url}/api/transfers", timeout=30).json()["items"]
    assert sorted(t["customerTenantId"] for t in listed) == sorted(good)
    assert {r["transferId"] for r in reported if r["transferId"]} == {t["id"] for t in listed}


def test_the_start_form_checks_as_it_is_typed_and_opens_the_started_transfer(
    page: Page, sandbox: SandboxHandle
) -> None:
    signed_in(page)
    page.get_by_role("link", name="Start transfers").click()
    expect(page).to_have_title("Start transfers — CSP transfers")
    tenant = page.get_by_label("Customer tenant id")
    tenant.fill("not-a-guid")
    tenant.blur()
    expect(page.locator("#customerTenantId-error")).to_contain_text("GUID")
    expect(tenant).to_have_attribute("aria-invalid", "true")
    tenant.fill(sandbox.customer("wingtip"))
    page.get_by_label("Country").fill("JP")
    expect(page.locator("#customerCountry-error")).to_contain_text("Japan")

    page.get_by_label("Country").fill("US")
    page.get_by_role("button", name="Start transfer").click()

    expect(page.get_by_role("heading", name=re.compile("Transfer for"))).to_be_visible()
    expect(page.locator("dl.facts").first).to_contain_text("Awaiting acceptance")


def test_every_page_meets_wcag_2_1_aa(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    transfer = start(api, host, sandbox.customer("fabrikam"))
    page.goto("/api/dashboard/")
    expect(page.get_by_label("Function key")).to_be_visible()
    pages = {"sign-in": accessibility_violations(page)}
    signed_in(page)
    expect(
        page.locator("table.transfers tbody tr progress, table.transfers tbody tr .muted").first
    ).to_be_visible()
    pages["transfers"] = accessibility_violations(page)
    page.goto(f"/api/dashboard/#/transfers/{transfer['id']}")
    expect(page.locator("#history li").first).to_be_visible()
    expect(page.locator("#plan")).not_to_contain_text("Loading")
    pages["transfer"] = accessibility_violations(page)
    page.goto("/api/dashboard/#/start")
    expect(page.get_by_role("heading", name="Start transfers")).to_be_visible()
    pages["start"] = accessibility_violations(page)

    assert {name: v for name, v in pages.items() if v} == {}


def violations_free(page: Page) -> bool:
    violations = accessibility_violations(page)
    assert violations == [], violations
    return True
