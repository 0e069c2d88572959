"""The cutover's guarantees and the refund cancel through the local host running function_app.py:
over HTTP, the queue trigger and the timer, on Azurite and the sandbox (whose clock the host does not
share: the originals here lapse within the lead on the real clock)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import requests

from devhost.azurite import Azurite
from devhost.host import LocalHostHandle, start_local_host
from devhost.run import local_settings
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from tests.workflow.test_end_to_end import start, wait_for, wait_for_line
from tests.workflow.test_refunds import statuses

O365_E1 = "18181a46-0d4e-45cd-891e-60aabd171b4e"
REFUND = {"refundPurchases": True}


def scan(app: LocalHostHandle) -> None:
    ran = requests.post(f"{app.url}/admin/functions/scan_transfers", json={"input": ""}, timeout=10)
    assert ran.status_code == 202, ran.text


def cancel(app: LocalHostHandle, transfer_id: str) -> requests.Response:
    return requests.post(f"{app.url}/api/transfers/{transfer_id}/cancel", json=REFUND, timeout=60)


def cancels_sent(sandbox: SandboxHandle) -> int:
    return sum(r["method"] == "PATCH" and "/subscriptions/" in r["path"] for r in sandbox.requests())


def provisioned(app: LocalHostHandle, sandbox: SandboxHandle, name: str) -> dict[str, Any]:
    customer = sandbox.customer(name)
    transfer = start(app, customer)
    sandbox.accept_invitation(customer)
    scan(app)  # no webhook: the timer finds the acceptance
    return wait_for(app, transfer["id"], "Provisioned", timeout_s=90)


def test_a_refund_cancel_through_the_local_host_cancels_once_inside_the_window_and_is_refused_after(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    with start_local_host(local_settings(sandbox, azurite), message_lease_s=4) as host:
        inside, outside = provisioned(host, sandbox, "fabrikam"), provisioned(host, sandbox, "tailspin")
        bought = [s for line in inside["lines"] for s in line["subscriptionIds"]]

        first, again = cancel(host, inside["id"]), cancel(host, inside["id"])

        assert (first.status_code, first.json()["state"]) == (200, "Cancelled")
        assert (again.status_code, again.json()["state"]) == (200, "Cancelled")
        assert cancels_sent(sandbox) == len(bought)  # asked twice, each cancelled once
        customer = sandbox.customer("fabrikam")
        assert statuses(services, customer, bought) == {"deleted"}

        until = min(w["until"] for line in outside["lines"] for w in line["cancellableUntil"])
        sandbox.advance_clock(days=8)
        refused = cancel(host, outside["id"])

        assert refused.status_code == 409
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        assert f"only until {until}" in refused.json()["detail"]
        assert wait_for(host, outside["id"], "Provisioned")["refund"] is None


def test_two_local_hosts_a_retry_and_the_timer_write_each_user_once(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    sandbox.add_users(customer, 30, sku_id=O365_E1)
    [stranded] = sandbox.add_users(customer, 1, sku_id=O365_E1, usage_location=None)
    sandbox.add_subscription(customer, O365_E1, 31, days_to_next=3)  # lapses inside the lead window
    settings = local_settings(sandbox, azurite)
    with (
        start_local_host(settings, message_lease_s=4) as one,
        start_local_host(settings, message_lease_s=4) as two,
    ):
        transfer = start(one, customer)
        sandbox.accept_invitation(customer)
        scan(two)
        failed = wait_for(one, transfer["id"], "Failed", timeout_s=120)  # the stranded user's line
        [e1] = [x for x in failed["lines"] if x["sourceSkuId"] == O365_E1]
        assert [f["userId"] for f in e1["licenses"]["failures"]] == [stranded]
        sandbox.set_usage_location(customer, stranded, "US")
        sandbox.clear_ledger()
        sandbox.add_fault("delay", service="graph", method="POST", path=r"/\$batch$", delay_s=0.6, times=-1)

        retried = requests.post(f"{one.url}/api/transfers/{transfer['id']}/retry", timeout=30)
        scan(two)  # the timer announces the same cutover on the other host meanwhile

        assert retried.status_code == 202
        wait_for_line(one, transfer["id"], O365_E1, "Completed", timeout_s=90)
    writes = Counter(w["userId"] for w in sandbox.license_writes() if "userId" in w)
    assert writes == {stranded: 1}
