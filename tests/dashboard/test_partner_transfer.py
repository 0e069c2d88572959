"""A partner-to-partner transfer in the dashboard: started from the form, its lines' paths shown, and
only its request cancelled, against the local host, Azurite and the sandbox playing the source partner."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
from playwright.sync_api import FilePayload, Page, expect

from devhost.host import LocalHostHandle
from sandbox.scenarios import OTHER_PARTNER_NAME
from sandbox.testing import SandboxHandle
from tests.dashboard.browsing import accessibility_violations, run_timer, signed_in, start, wait_until

pytestmark = pytest.mark.slow

PREVIEWED = (
    "customerTenantId,customerCountry,sourceChannel,contactEmail,sourcePartnerTenantId,sourcePartnerName\r\n"
    "{customer},US,OtherPartner,,{partner},Litware\r\n"
    "{customer},US,Direct,it@adatum.example,,Litware\r\n"
)


def requested(record: dict[str, Any]) -> bool:
    return bool((record["partnerTransfer"] or {}).get("id")) and all(
        (line["partnerTransfer"] or {}).get("status") == "Requested" for line in record["lines"]
    )


def test_a_partner_transfer_started_from_the_form_shows_its_paths_and_cancels_only_its_request(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    customer, partner = sandbox.customer("adatum"), sandbox.ids.other_partner_tenant_id
    signed_in(page)
    page.get_by_role("link", name="Start transfers").click()
    page.get_by_label("CSV file").set_input_files(
        files=FilePayload(
            name="customers.csv",
            mimeType="text/csv",
            buffer=PREVIEWED.format(customer=customer, partner=partner).encode(),
        )
    )
    rows = page.locator("#csv-rows tbody tr")
    expect(rows.nth(0)).to_contain_text("Contact e-mail: Required with a source partner")
    expect(rows.nth(1)).to_contain_text("Current partner's name: Only with the source channel OtherPartner")

    expect(page.get_by_label("Current partner's Microsoft ID")).to_be_hidden()  # Direct: not asked
    page.get_by_label("Customer tenant id").fill(customer)
    page.get_by_label("Country").fill("US")
    page.get_by_label("Source channel").select_option("OtherPartner")
    partner_id = page.get_by_label("Current partner's Microsoft ID")
    partner_id.fill("litware")
    partner_id.blur()
    expect(page.locator("#sourcePartnerTenantId-error")).to_contain_text("GUID")
    partner_id.fill(partner)
    page.get_by_label("Current partner's name").fill(OTHER_PARTNER_NAME)
    page.get_by_role("button", name="Start transfer").click()
    expect(page.locator("#contactEmail-error")).to_contain_text("Required with a source partner")
    expect(page.get_by_label("Contact e-mail")).to_be_focused()
    page.get_by_label("Contact e-mail").fill("it-admin@adatum.example")
    page.get_by_role("button", name="Start transfer").click()

    expect(page.locator("dl.facts").first).to_contain_text(OTHER_PARTNER_NAME)
    transfer_id = page.url.rsplit("/", 1)[-1]
    sandbox.accept_invitation(customer)
    run_timer(host)
    record = wait_until(api, host, transfer_id, requested)
    page.reload()
    request = page.locator("#partner-request")
    expect(request).to_contain_text(record["partnerTransfer"]["id"])
    expect(request).to_contain_text("Pending")
    expect(request).to_contain_text(f"Expires unless {OTHER_PARTNER_NAME} acts")
    lines = page.locator("#lines tbody tr")
    expect(lines).to_have_count(2)
    for line in lines.all():
        expect(line.locator("td.path")).to_have_text("By transfer")
        expect(line.locator("td.transfer-status")).to_have_text("Requested")
    assert accessibility_violations(page) == []

    cancel = page.get_by_role("button", name="Cancel…")
    cancel.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="What do you want to cancel?")
    expect(dialog).to_contain_text(f"This cannot be undone: {OTHER_PARTNER_NAME} can no longer submit it")
    expect(dialog).to_contain_text("Cancelling cannot be undone")
    expect(dialog.get_by_role("button", name="Keep both")).to_be_focused()
    expect(dialog.get_by_role("button", name="Cancel the whole transfer")).to_be_visible()
    assert accessibility_violations(page) == []
    dialog.get_by_role("button", name="Cancel only the request").click()

    expect(page.locator("#action-result")).to_contain_text("its lines will be bought again")
    expect(page.locator("#partner-request")).to_contain_text("Cancelled")
    for line in lines.all():
        expect(line.locator("td.path")).to_contain_text(re.compile("^Bought again — .*cancelled"))
        expect(line.locator("td.transfer-status")).to_have_text("Cancelled")
    expect(page.get_by_role("button", name=re.compile("^Cancel"))).to_have_text("Cancel transfer…")
    assert accessibility_violations(page) == []
    after = api.get(f"{host.url}/api/transfers/{transfer_id}", timeout=30).json()
    assert after["state"] != "Cancelled"
    assert [t["status"] for t in sandbox.partner_transfers(customer)] == ["Canceled"]
    assert sandbox.purchases() == []


def test_the_list_shows_a_pending_requests_expiry_as_the_next_date(
    page: Page, api: requests.Session, host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    customer = sandbox.customer("adatum")
    transfer = start(
        api,
        host,
        customer,
        sourceChannel="OtherPartner",
        sourcePartnerTenantId=sandbox.ids.other_partner_tenant_id,
        sourcePartnerName=OTHER_PARTNER_NAME,
        contactEmail="it-admin@adatum.example",
    )
    sandbox.accept_invitation(customer)
    run_timer(host)
    record = wait_until(api, host, transfer["id"], requested)

    signed_in(page)
    expires = datetime.fromisoformat(record["partnerTransfer"]["createdAt"]) + timedelta(days=30)
    row = page.locator(f'tr[data-id="{transfer["id"]}"]')
    expect(row.locator(".next")).to_contain_text(f"{expires:%Y-%m-%d}")
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-label", "0 of 2 lines done")
