"""Starting transfers by tenant id or domain, the customer's name shown before sending, and a CSV
preview that fits the page, in Chromium against the local host, Azurite and the sandbox."""

from __future__ import annotations

import requests
from playwright.sync_api import FilePayload, Page, expect

from devhost.host import LocalHostHandle
from sandbox.testing import SandboxHandle
from tests.dashboard.browsing import accessibility_violations, signed_in, start

COLUMNS = ["customerTenantId", "customerCountry", "sourceChannel", "contactEmail", "purchaseTiming"]
COLUMNS += ["purchaseLeadDays", "sourcePartnerTenantId", "sourcePartnerName"]
HEADER = ",".join(COLUMNS) + "\r\n"


def preview(page: Page, text: str) -> None:
    page.get_by_role("link", name="Start transfers").click()
    page.get_by_label("CSV file").set_input_files(
        files=FilePayload(name="customers.csv", mimeType="text/csv", buffer=text.encode())
    )
    expect(page.locator("#bulk-status")).to_contain_text("rows read")  # every customer looked up


def test_the_csv_preview_fits_1280_pixels_and_marks_a_customer_already_moving(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    moving = start(api, host, sandbox.customer("fabrikam"))
    text = HEADER + (
        f"{sandbox.customer('fabrikam')},US,Direct,it@fabrikam.example,onAcceptance,,,\r\n"
        f"{sandbox.customer('tailspin')},US,Direct,it-operations@tailspin.example,beforeLapse,30,,\r\n"
        f"{sandbox.customer('adatum')},US,OtherPartner,it-admin@adatum.example,,,"
        f"{sandbox.ids.other_partner_tenant_id},A partner with a rather long company name Ltd\r\n"
    )
    signed_in(page)
    preview(page, text)

    rows = page.locator("#csv-rows tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Already has an active transfer")
    expect(rows.nth(0).get_by_role("link", name="open it")).to_have_attribute(
        "href", f"#/transfers/{moving['id']}"
    )
    expect(rows.nth(1)).to_contain_text("Ready")
    expect(page.get_by_role("button", name="Start 2 transfers")).to_be_visible()
    table = page.locator("#csv-rows")
    wrap = table.locator("xpath=..")
    assert table.evaluate("t => t.scrollWidth") <= wrap.evaluate("w => w.clientWidth")
    for heading in ("Check", "Result"):
        box = table.get_by_role("columnheader", name=heading).bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= 1280, heading
    assert accessibility_violations(page) == []


def test_a_customer_is_started_by_domain_with_its_name_shown_before_sending(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    signed_in(page)
    by_domain = "customerDomain,customerCountry,sourceChannel\ntailspinsandbox.onmicrosoft.com,US,Direct\n"
    preview(page, by_domain)
    expect(page.locator("#csv-rows tbody tr").first).to_contain_text("Tailspin Sandbox Co")

    field = page.get_by_label("Customer tenant id or domain")
    field.fill("fabrikamsandbox.onmicrosoft.com")
    field.blur()
    expect(page.locator("#customer-found")).to_contain_text("Fabrikam Sandbox Inc")
    expect(page.locator("#customer-found")).to_contain_text(sandbox.customer("fabrikam"))
    page.get_by_label("Country").fill("US")
    page.get_by_role("button", name="Start transfer").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Transfer for Fabrikam Sandbox Inc")
    listed = api.get(f"{host.url}/api/transfers", timeout=30).json()["items"]
    assert [t["customerTenantId"] for t in listed] == [sandbox.customer("fabrikam")]
