"""The history reads as a timeline for an admin: one row per thing that happened, whole sentences,
and the ids of requests, carts, orders and transfer requests kept apart in ``details``."""

from __future__ import annotations

import re

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from tests.fixtures.app import pump
from tests.workflow.test_cutover import (
    O365_E1,
    days_until_lapse,
    on_sandbox_time,
    provisioned,
    timer_on_sandbox_time,
)
from tests.workflow.transfers import accepted, gdap_approved, record, started

ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-|[0-9a-f]{32}|CFQ7")


def timeline_problems(history: list[dict[str, object]]) -> list[str]:
    problems = []
    for before, entry in zip([{}, *history], history, strict=False):
        message = str(entry["message"])
        if ID.search(message):
            problems.append(f"an id in {message!r}")
        if "→" in message or message.endswith(":") or ": ;" in message or message.startswith(";"):
            problems.append(f"not a sentence: {message!r}")
        if before.get("message") == message:
            problems.append(f"said twice: {message!r}")
    return problems


def test_a_bought_transfers_history_has_no_ids_in_its_sentences_and_keeps_them_in_details(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer = started(services, sandbox.customer("contoso"))
    accepted(services, transfer)
    gdap_approved(services, sandbox, transfer)
    pump(azurite, services)

    history = record(services, transfer["id"])["history"]

    assert timeline_problems(history) == []
    details = {h["action"]: h["details"] for h in history}
    assert set(details["purchase-intent"]) == {"cartRequestId", "checkoutRequestId"}
    assert set(details["cart"]) == {"cartId"}
    assert all(h["details"]["orderIds"] for h in history if h["toState"] == "Ordered")


def test_a_failed_and_retried_cutover_is_told_once_per_step(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    [stranded] = sandbox.add_users(customer, 1, sku_id=O365_E1, usage_location=None)
    sandbox.add_subscription(customer, O365_E1, 1, days_to_next=None)
    transfer = provisioned(services, sandbox, azurite)
    sandbox.advance_clock(days=days_until_lapse(sandbox, transfer) - 3)
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))

    history = record(services, transfer["id"])["history"]

    assert timeline_problems(history) == []
    line, transfer = [h for h in history if h["toState"] == "Failed"]
    assert (line["action"], line["lineId"], transfer["action"]) == ("line-state", O365_E1, "transfer-state")
    assert "1 user(s) of Office 365 E1 could not be moved (1 no usage location)" in line["message"]
    assert transfer["message"] == "stopped until the failed users of Office 365 E1 are fixed and retried"
    assert stranded not in str(history)
