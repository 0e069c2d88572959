"""From provisioned to completed: the expiry scan, the cutover and the summary, against Azurite and
the sandbox. The sandbox's clock stands for time passing; the workflow is given the same clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from shared.workflow.runner import Runner
from shared.workflow.timer import Timer
from tests.fixtures.app import pump, routes
from tests.workflow.transfers import accepted, gdap_approved, observe, record, started

O365_E1 = "18181a46-0d4e-45cd-891e-60aabd171b4e"
M365_E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"


def sandbox_time(sandbox: SandboxHandle) -> Callable[[], datetime]:
    offset = sandbox.now() - datetime.now(UTC)
    return lambda: datetime.now(UTC) + offset


def on_sandbox_time(services: Services, sandbox: SandboxHandle) -> Runner:
    return services.new_runner(clock=sandbox_time(sandbox), provisioning_poll_seconds=0.5)


def timer_on_sandbox_time(services: Services, sandbox: SandboxHandle) -> Timer:
    return services.new_timer(clock=sandbox_time(sandbox))


def provisioned(
    services: Services, sandbox: SandboxHandle, azurite: Azurite, **options: Any
) -> dict[str, Any]:
    """fabrikam's transfer, accepted and taken as far as the workflow goes before any lapse."""
    customer = sandbox.customer("fabrikam")
    transfer = started(services, customer, **options)
    sandbox.accept_invitation(customer)
    accepted(services, transfer)
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))
    observe(sandbox, customer)  # the tests read the tenant after the product ended its access
    return record(services, transfer["id"])


def days_until_lapse(sandbox: SandboxHandle, transfer: dict[str, Any]) -> float:
    lapse = min(
        datetime.fromisoformat(x["originalExpires"]) for x in transfer["lines"] if x["originalExpires"]
    )
    return (lapse - sandbox.now()).total_seconds() / 86400


def holders(services: Services, customer: str, sku: str) -> set[str]:
    return {u.id for u in services.graph.list_users_with_sku(customer, sku)}


def test_equivalent_lines_are_cut_over_in_the_lead_window_and_the_transfer_completes(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = provisioned(services, sandbox, azurite)
    assert transfer["state"] == "Provisioned"
    before = {sku: holders(services, customer, sku) for sku in (O365_E1, M365_E3)}
    assert timer_on_sandbox_time(services, sandbox).scan().expiring == 0  # not in the window yet

    sandbox.advance_clock(days=days_until_lapse(sandbox, transfer) - 3)
    workflow = on_sandbox_time(services, sandbox)
    assert timer_on_sandbox_time(services, sandbox).scan().expiring == 1
    pump(azurite, services, runner=workflow)

    done = record(services, transfer["id"])
    assert done["state"] == "Completed", done["reason"]
    assert {x["state"] for x in done["lines"]} == {"Completed"}
    for line in done["lines"]:
        moved_to = {r["skuId"] for r in line["replacements"]}
        assert holders(services, customer, line["sourceSkuId"]) == set()
        for sku in moved_to:
            assert before[line["sourceSkuId"]] <= holders(services, customer, sku)
        assert line["licenses"]["moved"] == len(before[line["sourceSkuId"]])
    summary = done["history"][-1]["message"]
    assert summary.startswith("completed: 4 subscription(s) bought for 2 line(s)")
    assert f"{done['apiCalls']} Partner Center and Graph calls" in summary
    assert len(sandbox.purchases()) == 1


def test_identical_lines_complete_with_no_license_change(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    for sku in (O365_E1, M365_E3):  # both still sold: the partner buys the same SKUs
        sandbox.set_offer(sku, purchasable=True)
    transfer = provisioned(services, sandbox, azurite)
    assert {x["decision"] for x in transfer["lines"]} == {"identical"}

    sandbox.advance_clock(days=days_until_lapse(sandbox, transfer) - 3)
    workflow = on_sandbox_time(services, sandbox)
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=workflow)

    assert record(services, transfer["id"])["state"] == "Completed"
    assert sandbox.license_changes() == []


def test_deferred_timing_buys_nothing_until_its_window_then_buys_once_and_cuts_over(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer = provisioned(services, sandbox, azurite, purchaseTiming="beforeLapse", purchaseLeadDays=14)
    assert transfer["state"] == "Provisioned"
    assert {x["state"] for x in transfer["lines"]} == {"Planned"}
    assert all(x["purchaseDue"] for x in transfer["lines"])
    assert sandbox.purchases() == []

    sandbox.advance_clock(days=days_until_lapse(sandbox, transfer) - 10)  # inside 14 days, not yet 7
    workflow = on_sandbox_time(services, sandbox)
    assert timer_on_sandbox_time(services, sandbox).scan().expiring == 1
    pump(azurite, services, runner=workflow)
    bought = record(services, transfer["id"])
    assert bought["state"] == "Provisioned"
    assert {x["state"] for x in bought["lines"]} == {"Active"}
    assert len(sandbox.purchases()) == 1

    sandbox.advance_clock(days=5)
    workflow = on_sandbox_time(services, sandbox)
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=workflow)
    assert record(services, transfer["id"])["state"] == "Completed"
    assert len(sandbox.purchases()) == 1


def test_a_user_without_usage_location_fails_alone_and_retry_moves_them_once_fixed(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    [stranded] = sandbox.add_users(customer, 1, sku_id=O365_E1, usage_location=None)
    sandbox.add_subscription(customer, O365_E1, 1, days_to_next=None)  # a seat for them
    transfer = provisioned(services, sandbox, azurite)
    sandbox.advance_clock(days=days_until_lapse(sandbox, transfer) - 3)
    workflow = on_sandbox_time(services, sandbox)
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=workflow)

    failed = record(services, transfer["id"])
    assert failed["state"] == "Failed"
    [e1] = [x for x in failed["lines"] if x["sourceSkuId"] == O365_E1]
    assert e1["state"] == "Failed"
    assert [(f["userId"], f["reason"]) for f in e1["licenses"]["failures"]] == [
        (stranded, "no usage location")
    ]
    assert holders(services, customer, O365_E1) == {stranded}

    sandbox.set_usage_location(customer, stranded, "US")
    assert routes(services).retry(transfer["id"]).status == 202
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))

    assert record(services, transfer["id"])["state"] == "Completed"
    assert holders(services, customer, O365_E1) == set()


def test_an_original_that_lapses_earlier_than_announced_is_caught_by_the_scan(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = provisioned(services, sandbox, azurite)
    [e1] = [x for x in transfer["lines"] if x["sourceSkuId"] == O365_E1]
    announced = e1["originalExpires"]
    sandbox.change_subscription(customer, e1["originalSubscriptionIds"][0], status="Deleted")  # gone early
    workflow = on_sandbox_time(services, sandbox)

    assert timer_on_sandbox_time(services, sandbox).scan().expiring == 1
    pump(azurite, services, runner=workflow)

    after = record(services, transfer["id"])
    [e1] = [x for x in after["lines"] if x["sourceSkuId"] == O365_E1]
    assert e1["originalExpires"] < announced
    assert e1["state"] == "Completed"
    assert any("lapse on" in h["message"] and h["lineId"] == O365_E1 for h in after["history"])
    assert after["state"] == "CuttingOver"  # the other line's original has not lapsed: it waits


def test_two_hundred_holders_move_directly_and_through_their_group_and_the_one_without_location_after_retry(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("contoso")  # direct Office 365 E3 (discontinued here), group contoso.e3
    o365_e3, group = sandbox.ids.skus["O365_E3"], sandbox.ids.groups["contoso.e3"]
    sandbox.add_subscription(customer, o365_e3, 200, days_to_next=None)
    direct = sandbox.add_users(customer, 150, sku_id=o365_e3)
    members = sandbox.add_users(customer, 40, group_id=group)
    [stranded] = sandbox.add_users(customer, 1, sku_id=o365_e3, usage_location=None)
    transfer = started(services, customer)
    gdap_approved(services, sandbox, transfer)
    accepted(services, transfer)
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))
    observe(sandbox, customer)  # the test reads the tenant after the product ended its access
    [e3] = [x for x in record(services, transfer["id"])["lines"] if x["sourceSkuId"] == o365_e3]
    assert e3["state"] == "Active"
    targets = {r["skuId"] for r in e3["replacements"]}

    sandbox.advance_clock(days=days_until_lapse(sandbox, {"lines": [e3]}) - 3)
    workflow = on_sandbox_time(services, sandbox)
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=workflow)

    [e3] = [x for x in record(services, transfer["id"])["lines"] if x["sourceSkuId"] == o365_e3]
    assert e3["state"] == "Failed"
    failures = [(f["userId"], f["reason"]) for f in e3["licenses"]["failures"]]
    assert failures == [(stranded, "no usage location")]
    assert holders(services, customer, o365_e3) == {stranded}  # nobody else is left on the old SKU
    for sku in targets:
        assert set(direct) | set(members) <= holders(services, customer, sku)
    assert all(services.graph.get_group(customer, group).holds(sku) for sku in targets)
    assert not services.graph.get_group(customer, group).holds(o365_e3)

    sandbox.set_usage_location(customer, stranded, "US")
    assert routes(services).retry(transfer["id"]).status == 202
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))

    [e3] = [x for x in record(services, transfer["id"])["lines"] if x["sourceSkuId"] == o365_e3]
    assert e3["state"] == "Completed"
    assert holders(services, customer, o365_e3) == set()
    assert e3["licenses"]["failed"] == 0
