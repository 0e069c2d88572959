"""Finding a transfer among many: names, search, sorting, needs attention, counts, one request per page
and the CSV export, in Chromium against the local host, Azurite and the sandbox."""

from __future__ import annotations

import csv
import io
import re
import time
from urllib.parse import parse_qs, urlsplit

import requests
from playwright.sync_api import Locator, Page, Request, expect

from devhost.host import LocalHostHandle
from sandbox.testing import SandboxHandle
from tests.dashboard.browsing import (
    accessibility_violations,
    blocked_on_approval,
    signed_in,
    start,
)

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
RECORD = re.compile(r"/api/transfers/[0-9a-f]{32}")
CONTOSO, FABRIKAM, TAILSPIN = "Contoso Sandbox Ltd", "Fabrikam Sandbox Inc", "Tailspin Sandbox Co"


def customers(page: Page) -> Locator:
    """The customers' links, row by row: `to_have_text([...])` waits for them in that order."""
    return page.locator("table.transfers tbody th a")


def cancel(api: requests.Session, host: LocalHostHandle, transfer_id: str) -> None:
    answer = api.post(f"{host.url}/api/transfers/{transfer_id}/cancel", timeout=30)
    assert answer.status_code == 200, answer.text


def test_the_list_makes_one_request_per_page_and_none_per_row(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    for name in ("contoso", "fabrikam", "tailspin"):
        cancel(api, host, start(api, host, sandbox.customer(name))["id"])  # finished: no refresh
    signed_in(page)
    seen: list[str] = []

    def note(request: Request) -> None:
        if "/api/transfers" in request.url:
            seen.append(request.url)

    page.on("request", note)
    page.goto("/api/dashboard/#/transfers?pageSize=2")
    rows = page.locator("table.transfers tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#list-status")).to_contain_text("more are available")
    page.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(3)
    expect(page.locator("#list-status")).to_have_text("Showing 3 transfers.")

    pages = [url for url in seen if urlsplit(url).path.endswith("/api/transfers")]
    assert len(pages) == 2, seen
    assert "continuationToken" in parse_qs(urlsplit(pages[1]).query)
    assert [url for url in seen if RECORD.search(url)] == []
    assert accessibility_violations(page) == []


def test_the_list_and_the_page_name_the_customer_with_the_tenant_id_in_small_print(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    transfer = start(api, host, sandbox.customer("fabrikam"))
    signed_in(page)

    row = page.locator(f'tr[data-id="{transfer["id"]}"]')
    expect(row.get_by_role("link")).to_have_text("Fabrikam Sandbox Inc")
    expect(row.locator(".small-print")).to_contain_text(sandbox.customer("fabrikam"))
    expect(row.locator(".small-print")).to_contain_text("fabrikamsandbox.onmicrosoft.com")
    expect(row).to_contain_text("No lines yet")
    expect(row.locator(".next")).to_contain_text("The customer's move")
    row.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Transfer for Fabrikam Sandbox Inc")
    expect(page.locator("#next-move")).to_contain_text("The customer's move")
    assert not GUID.search(page.get_by_role("heading", level=1).inner_text())


def test_search_finds_a_customer_by_name_and_by_domain(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    for name in ("contoso", "fabrikam", "tailspin"):
        start(api, host, sandbox.customer(name))
    signed_in(page)
    rows = page.locator("table.transfers tbody tr")
    expect(rows).to_have_count(3)

    page.get_by_label("Customer").fill("fabrik")
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("link")).to_have_text("Fabrikam Sandbox Inc")
    expect(page.get_by_label("Customer")).to_have_value("fabrik")  # the search stays in the address

    page.get_by_label("Customer").fill("tailspinsandbox.onmicrosoft.com")
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("link")).to_have_text("Tailspin Sandbox Co")
    assert accessibility_violations(page) == []


def test_the_list_is_newest_first_and_sorts_by_created_updated_and_next_date(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    started = []
    for name in ("contoso", "fabrikam", "tailspin"):
        started.append(start(api, host, sandbox.customer(name)))
        time.sleep(0.05)  # distinct creation times
    cancel(api, host, started[1]["id"])  # fabrikam: updated last
    signed_in(page)

    expect(page.locator("table.transfers caption")).to_have_text("All transfers, newest first")
    expect(customers(page)).to_have_text([TAILSPIN, FABRIKAM, CONTOSO])
    page.get_by_label("Sort").select_option(label="Oldest first")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("table.transfers caption")).to_have_text("All transfers, oldest first")
    expect(customers(page)).to_have_text([CONTOSO, FABRIKAM, TAILSPIN])
    page.get_by_label("Sort").select_option(label="Recently updated")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("table.transfers caption")).to_have_text("All transfers, recently updated")
    expect(customers(page).first).to_have_text(FABRIKAM)
    expect(customers(page)).to_have_count(3)
    with page.expect_request(lambda r: "sort=next" in r.url) as asked:
        page.get_by_label("Sort").select_option(label="Next date, soonest first")
        page.get_by_role("button", name="Show").click()
    assert urlsplit(asked.value.url).path.endswith("/api/transfers")
    expect(page.locator("table.transfers caption")).to_have_text("All transfers, next date, soonest first")
    expect(page.locator("table.transfers tbody tr")).to_have_count(3)


def test_needs_attention_shows_only_what_waits_for_someone_with_the_counts_per_state(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    blocked = blocked_on_approval(api, host, sandbox)
    start(api, host, sandbox.customer("adatum"))  # awaiting acceptance: nothing for the partner to do
    signed_in(page)
    counts = page.locator("#counts")
    expect(counts).to_contain_text("Blocked 1")
    expect(counts).to_contain_text("Awaiting acceptance 1")
    expect(counts).to_contain_text("Needs attention 1")

    page.get_by_label("Needs attention").check()
    page.get_by_role("button", name="Show").click()
    rows = page.locator("table.transfers tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", blocked["id"])
    expect(page.locator("table.transfers caption")).to_contain_text("needing attention")
    assert accessibility_violations(page) == []


def test_the_filtered_list_downloads_as_csv(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    for name in ("contoso", "fabrikam"):
        start(api, host, sandbox.customer(name))
    signed_in(page)
    page.get_by_label("Customer").fill("fabrikam")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("table.transfers tbody tr")).to_have_count(1)

    with page.expect_download() as exported:
        page.get_by_role("button", name="Download as CSV").click()

    assert exported.value.suggested_filename == "transfers.csv"
    rows = list(csv.reader(io.StringIO(exported.value.path().read_text(encoding="utf-8-sig"))))
    assert len(rows) == 2, rows  # the header and fabrikam
    assert "Fabrikam Sandbox Inc" in rows[1]
    assert sandbox.customer("fabrikam") in rows[1]
