"""Partner-to-partner transfers as deployed: function_app.py run by the local host, the sandbox playing
Partner Center, the customer and the source partner, its transfer webhooks signed like every other."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devhost.azurite import Azurite
from devhost.host import LocalHostHandle, start_local_host
from devhost.run import local_settings, register_webhook
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from tests.workflow.transfers import from_other_partner

pytestmark = pytest.mark.slow


@pytest.fixture
def host(services: Services, sandbox: SandboxHandle, azurite: Azurite) -> Iterator[LocalHostHandle]:
    with start_local_host(local_settings(sandbox, azurite), message_lease_s=4) as running:
        register_webhook(sandbox, f"{running.url}/api", azurite=azurite)
        yield running


def start(host: LocalHostHandle, sandbox: SandboxHandle) -> dict[str, Any]:
    body = {
        "customerTenantId": sandbox.customer("adatum"),
        "customerCountry": "US",
        **from_other_partner(sandbox),
    }
    answer = requests.post(f"{host.url}/api/transfers", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    transfer: dict[str, Any] = answer.json()
    return transfer


def read(host: LocalHostHandle, transfer_id: str) -> dict[str, Any]:
    body: dict[str, Any] = requests.get(
        f"{host.url}/api/transfers/{transfer_id}", params={"historyPageSize": "1000"}, timeout=10
    ).json()
    return body


def wait_until(host: LocalHostHandle, transfer_id: str, done: Any, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        record = read(host, transfer_id)
        if done(record):
            return record
        assert time.monotonic() < deadline, record
        time.sleep(0.3)


def requested(record: dict[str, Any]) -> bool:
    return bool((record["partnerTransfer"] or {}).get("id")) and all(
        (x["partnerTransfer"] or {}).get("status") == "Requested" for x in record["lines"]
    )


def requested_after_acceptance(
    host: LocalHostHandle, sandbox: SandboxHandle
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """adatum's transfer started and accepted, once its partner-to-partner request is at Partner Center."""
    customer = sandbox.customer("adatum")
    transfer = start(host, sandbox)
    sandbox.accept_invitation(customer)
    return customer, transfer, wait_until(host, transfer["id"], requested)


def test_a_full_transfer_completes_with_no_purchase_and_no_licence_change(
    host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    customer, transfer, record = requested_after_acceptance(host, sandbox)

    submitted = sandbox.source_partner(customer, record["partnerTransfer"]["id"])

    ids = submitted["webhookDeliveries"]
    deliveries = [d for d in sandbox.wait_webhooks(ids) if d["id"] in ids]
    assert {d["eventName"]: d["attempts"][-1]["status"] for d in deliveries} == {
        "update-transfer": 200,
        "complete-transfer": 200,
    }
    done = wait_until(host, transfer["id"], lambda r: r["state"] == "Completed")
    assert {x["partnerTransfer"]["status"] for x in done["lines"]} == {"Transferred"}
    assert sandbox.purchases() == []
    assert sandbox.license_changes() == []


def test_a_partial_transfer_buys_the_rest_once_and_cuts_it_over(
    host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    customer, transfer, record = requested_after_acceptance(host, sandbox)
    premium = sandbox.ids.commerce_subscriptions["adatum.other_partner_bp"]

    sandbox.source_partner(customer, record["partnerTransfer"]["id"], subscriptionIds=[premium], newIds=True)
    fallen = wait_until(host, transfer["id"], lambda r: any(x["state"] == "Planned" for x in r["lines"]))
    [rest] = [x for x in fallen["lines"] if x["state"] == "Planned"]
    assert rest["partnerTransfer"]["status"] == "NotIncluded"
    approved = requests.post(
        f"{host.url}/api/transfers/{transfer['id']}/approve", json={"approve": [rest["id"]]}, timeout=30
    )
    assert approved.status_code == 200, approved.text
    active = wait_until(
        host, transfer["id"], lambda r: {x["state"] for x in r["lines"]} == {"Completed", "Active"}
    )
    assert active["state"] == "Provisioned"  # the timer tracks a provisioned transfer's originals
    sandbox.advance_clock(days=101)  # the original lapses: the identical line's cutover is only a check
    requests.post(f"{host.url}/admin/functions/scan_transfers", json={"input": ""}, timeout=10)

    done = wait_until(host, transfer["id"], lambda r: r["state"] == "Completed")
    statuses = {x["sourceSkuId"]: x["partnerTransfer"]["status"] for x in done["lines"]}
    assert statuses == {sandbox.ids.skus["BUSINESS_PREMIUM"]: "Transferred", rest["id"]: "NotIncluded"}
    bought = [line["skuId"] for p in sandbox.purchases() for line in p["lines"]]
    assert bought == [sandbox.ids.skus["EXCHANGE_PLAN_1"]]
    assert sandbox.license_changes() == []


def test_an_expired_request_falls_back_to_the_rebuy_path(
    host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    customer, transfer, record = requested_after_acceptance(host, sandbox)

    sandbox.source_partner(customer, record["partnerTransfer"]["id"], "expire")

    after = wait_until(host, transfer["id"], lambda r: all(x["state"] == "Planned" for x in r["lines"]))
    assert after["partnerTransfer"]["status"] == "Expired"
    assert {x["partnerTransfer"]["status"] for x in after["lines"]} == {"Expired"}
    assert all(x["purchaseDue"] > after["updatedAt"] for x in after["lines"])  # the source still bills
    assert sandbox.purchases() == []


def test_the_same_complete_transfer_webhook_delivered_three_times_is_processed_once(
    host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    customer, transfer, record = requested_after_acceptance(host, sandbox)
    submitted = sandbox.source_partner(customer, record["partnerTransfer"]["id"])
    [completion] = [
        d
        for d in sandbox.wait_webhooks(submitted["webhookDeliveries"])
        if d["eventName"] == "complete-transfer"
    ]

    again = [
        d["attempts"][-1]["status"]
        for _ in range(2)
        for d in sandbox.send_webhook(raw_body=completion["body"], url=completion["url"])
    ]

    assert again == [200, 200]
    done = wait_until(host, transfer["id"], lambda r: r["state"] == "Completed")
    completions = [h for h in done["history"] if h["message"].endswith("completed")]
    assert len(completions) == 1, completions
    assert sandbox.purchases() == []


def test_host_killed_before_storing_the_request_id_reuses_the_open_request(
    host: LocalHostHandle, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("adatum")
    sandbox.set_knobs(idempotency=False)  # not the request id's replay: the listing must find it
    # The request is created 1.5 s after it arrives: after the kill, before the message reappears.
    sandbox.add_fault("delay", service="partner_center", method="POST", path="/transfers$", delay_s=1.5)
    transfer = start(host, sandbox)
    sandbox.accept_invitation(customer)  # and its GDAP approval, whose step may race the acceptance's
    deadline = time.monotonic() + 60
    while not any(r["method"] == "POST" and r["path"].endswith("/transfers") for r in sandbox.requests()):
        assert time.monotonic() < deadline, "the transfer request was never made"
        time.sleep(0.05)

    host.kill()  # SIGKILL while Partner Center is still creating the request
    with start_local_host(local_settings(sandbox, azurite), message_lease_s=4) as restarted:
        record = wait_until(restarted, transfer["id"], requested, timeout_s=90)

    [held] = sandbox.partner_transfers(customer)
    assert record["partnerTransfer"]["id"] == held["id"]
    posts = [r for r in sandbox.requests() if r["method"] == "POST" and r["path"].endswith("/transfers")]
    assert len(posts) == 1


def test_cancelling_while_pending_cancels_the_request_and_then_refuses_once_submitted(
    host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    customer = sandbox.customer("adatum")
    first = start(host, sandbox)
    sandbox.accept_invitation(customer)
    wait_until(host, first["id"], requested)

    cancelled = requests.post(f"{host.url}/api/transfers/{first['id']}/cancel", timeout=30)

    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["state"], cancelled.json()["partnerTransfer"]["status"]) == (
        "Cancelled",
        "Cancelled",
    )
    assert [t["status"] for t in sandbox.partner_transfers(customer)] == ["Canceled"]
    second = start(host, sandbox)  # the customer is free again, and has accepted: the timer sees it
    sandbox.approve_gdap(customer)  # the new transfer's GDAP request (the first one was withdrawn)
    requests.post(f"{host.url}/admin/functions/scan_transfers", json={"input": ""}, timeout=10)
    record = wait_until(host, second["id"], requested)
    sandbox.source_partner(customer, record["partnerTransfer"]["id"], complete=False)
    refused = requests.post(f"{host.url}/api/transfers/{second['id']}/cancel", timeout=30)
    assert refused.status_code == 409, refused.text
    assert sandbox.purchases() == []
