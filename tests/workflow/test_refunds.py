"""Cancelling a transfer that has bought, for a refund, inside new commerce's cancellation window:
through the admin API's boundary, against Azurite and the sandbox's Partner Center."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from shared.workflow import admin
from shared.workflow.refunds import CancellationWindowClosedError
from tests.fixtures.app import routes
from tests.workflow.test_cutover import failed_on_one_line, provisioned, sandbox_time
from tests.workflow.transfers import record

REFUND = json.dumps({"refundPurchases": True}).encode()


def cancels_sent(sandbox: SandboxHandle) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests() if r["method"] == "PATCH" and "/subscriptions/" in r["path"]]


def bought(transfer: dict[str, Any]) -> list[str]:
    return [s for line in transfer["lines"] for s in line["subscriptionIds"]]


def statuses(services: Services, customer: str, subscriptions: list[str]) -> set[str]:
    """What Partner Center says of these subscriptions now."""
    return {s.status for s in services.partner_center.list_subscriptions(customer) if s.id in subscriptions}


def test_a_refund_cancel_inside_the_window_cancels_the_new_subscriptions_once(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = provisioned(services, sandbox, azurite)
    subscriptions = bought(transfer)
    windows = [w["until"] for line in transfer["lines"] for w in line["cancellableUntil"]]
    assert len(windows) == len(subscriptions)  # each new subscription's window, recorded

    answer = routes(services).cancel(transfer["id"], REFUND)

    assert answer.status == 200, answer.body
    assert answer.body["state"] == "Cancelled"
    assert {(s["id"], s["status"]) for s in answer.body["refund"]["subscriptions"]} == {
        (s, "cancelled") for s in subscriptions
    }
    assert statuses(services, customer, subscriptions) == {"deleted"}
    assert len(cancels_sent(sandbox)) == len(subscriptions)
    again = routes(services).cancel(transfer["id"], REFUND)
    assert (again.status, again.body["state"]) == (200, "Cancelled")  # asked twice: cancelled once
    assert len(cancels_sent(sandbox)) == len(subscriptions)
    rows = [h["message"] for h in record(services, transfer["id"])["history"] if h["action"] == "refund"]
    assert sorted(rows) == sorted(f"subscription {s}: cancelled for a refund" for s in subscriptions)


def test_a_refund_cancel_after_the_window_is_refused_naming_the_date_and_changes_nothing(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = provisioned(services, sandbox, azurite)
    until = min(w["until"] for line in transfer["lines"] for w in line["cancellableUntil"])
    sandbox.advance_clock(days=8)

    answer = routes(services).cancel(transfer["id"], REFUND)  # the API's own clock: Partner Center refuses

    assert answer.status == 409, answer.body
    assert f"only until {until}" in answer.body["detail"]
    after = record(services, transfer["id"])
    assert (after["state"], after["refund"]) == ("Provisioned", None)
    assert statuses(services, customer, bought(after)) == {"active"}
    sandbox.clear_ledger()
    on_time = services.step_context(clock=sandbox_time(sandbox))  # a clock past the window: refused at once
    with pytest.raises(CancellationWindowClosedError, match=until[:10]):
        admin.cancel(on_time, transfer["id"], refund_purchases=True)
    assert cancels_sent(sandbox) == []


def test_a_refund_cancel_is_refused_once_licences_were_moved_onto_a_replacement(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    _, failed, _ = failed_on_one_line(services, sandbox, azurite)  # one line moved, one failed

    answer = routes(services).cancel(failed["id"], REFUND)

    assert answer.status == 409
    assert "has licences moved to its replacement" in answer.body["detail"]
    assert cancels_sent(sandbox) == []
    assert record(services, failed["id"])["refund"] is None


@pytest.mark.parametrize(
    "body",
    [{"refundPurchases": "yes"}, {"refundPurchases": True, "partnerTransferOnly": True}, {"refund": True}],
)
def test_a_cancel_body_other_than_one_flag_is_a_400(services: Services, body: dict[str, Any]) -> None:
    answer = routes(services).cancel("0" * 32, json.dumps(body).encode())

    assert answer.status == 400
    assert "refundPurchases" in answer.body["detail"]
