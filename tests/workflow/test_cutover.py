"""From provisioned to completed: the expiry scan, the cutover and the summary, against Azurite and
the sandbox. The sandbox's clock stands for time passing; the workflow is given the same clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devhost.azurite import Azurite
from sandbox.catalog import SkuReference, load_sku_reference, reference_csv_path
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from shared.workflow.runner import Runner
from shared.workflow.timer import Timer
from tests.fixtures.app import pump, routes
from tests.workflow.transfers import accepted, gdap_approved, observe, record, started

O365_E1 = "18181a46-0d4e-45cd-891e-60aabd171b4e"
O365_E1_NO_TEAMS = "f8ced641-8e17-4dc5-b014-f5a2d53f6ac8"
O365_E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"
#: How long a pump waits for a message once the queue is quiet, when a group's change is processed:
#: the sandbox takes ``group_license_delay_s`` of its time, the workflow reads again each second.
GROUPS_IDLE_S = 3.0
M365_E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"


def sandbox_time(sandbox: SandboxHandle) -> Callable[[], datetime]:
    offset = sandbox.now() - datetime.now(UTC)
    return lambda: datetime.now(UTC) + offset


def on_sandbox_time(services: Services, sandbox: SandboxHandle) -> Runner:
    return services.new_runner(
        clock=sandbox_time(sandbox), provisioning_poll_seconds=0.5, group_poll_seconds=1.0
    )


def timer_on_sandbox_time(services: Services, sandbox: SandboxHandle) -> Timer:
    return services.new_timer(clock=sandbox_time(sandbox))


def paced_timer(services: Services, sandbox: SandboxHandle) -> Timer:
    """The timer on sandbox time reading the originals at Azure's pace (``ORIGINALS_READ_HOURS`` 6;
    the tests' settings say 0, a read and so an announcement on every scan)."""
    return services.new_timer(clock=sandbox_time(sandbox), originals_read_every=timedelta(hours=6))


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


def plan_id(reference: dict[str, SkuReference], sku_id: str, name: str) -> str:
    [found] = [plan.id for plan in reference[sku_id].plans if plan.name == name]
    return found


def holders(services: Services, customer: str, sku: str) -> set[str]:
    return {u.id for u in services.graph.list_users_with_sku(customer, sku)}


def test_equivalent_lines_are_cut_over_in_the_lead_window_and_the_transfer_completes(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = provisioned(services, sandbox, azurite)
    assert transfer["state"] == "Provisioned"
    before = {sku: holders(services, customer, sku) for sku in (O365_E1, M365_E3)}
    assert paced_timer(services, sandbox).scan().expiring == 0  # not in the window yet

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


def test_an_original_that_lapses_earlier_than_announced_is_caught_by_the_scan_once_its_read_is_due(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = provisioned(services, sandbox, azurite)
    [e1] = [x for x in transfer["lines"] if x["sourceSkuId"] == O365_E1]
    announced = e1["originalExpires"]
    sandbox.change_subscription(customer, e1["originalSubscriptionIds"][0], status="Deleted")  # gone early
    assert paced_timer(services, sandbox).scan().expiring == 0  # the plan read them just now

    sandbox.advance_clock(hours=6, seconds=60)  # ORIGINALS_READ_HOURS since the plan's read
    workflow = on_sandbox_time(services, sandbox)
    assert paced_timer(services, sandbox).scan().expiring == 1
    pump(azurite, services, runner=workflow)

    after = record(services, transfer["id"])
    [e1] = [x for x in after["lines"] if x["sourceSkuId"] == O365_E1]
    assert e1["originalExpires"] < announced
    assert e1["state"] == "Completed"
    assert any("lapse on" in h["message"] and h["lineId"] == O365_E1 for h in after["history"])
    assert after["state"] == "CuttingOver"  # the other line's original has not lapsed: it waits


@pytest.mark.slow
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
    pump(azurite, services, runner=workflow, idle_s=GROUPS_IDLE_S)

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
    pump(azurite, services, runner=on_sandbox_time(services, sandbox), idle_s=GROUPS_IDLE_S)

    [e3] = [x for x in record(services, transfer["id"])["lines"] if x["sourceSkuId"] == o365_e3]
    assert e3["state"] == "Completed"
    assert holders(services, customer, o365_e3) == set()
    assert e3["licenses"]["failed"] == 0


def test_a_plan_switched_off_on_the_original_stays_off_on_the_higher_tier_that_replaces_it(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    """Office 365 E1's successors withdrawn and Office 365 E3 on sale: E1's holders move to E3, whose
    Forms (Plan E3) stands in for E1's Forms (Plan E1) only as its higher tier."""
    customer = sandbox.customer("fabrikam")
    reference = load_sku_reference(reference_csv_path())
    forms_e1 = plan_id(reference, O365_E1, "FORMS_PLAN_E1")
    forms_e3 = plan_id(reference, O365_E3, "FORMS_PLAN_E3")
    sandbox.set_offer(O365_E1_NO_TEAMS, purchasable=False)
    sandbox.set_offer(O365_E3, purchasable=True)
    (holder,) = sandbox.add_users(customer, 1, sku_id=O365_E1, disabled_plans=(forms_e1,))
    transfer = provisioned(services, sandbox, azurite)
    [e1] = [line for line in transfer["lines"] if line["sourceSkuId"] == O365_E1]
    assert [r["skuId"] for r in e1["replacements"]] == [O365_E3]
    assert e1["state"] == "NeedsApproval"  # a higher tier than the original: an admin says yes first
    assert (
        routes(services).approve(transfer["id"], json.dumps({"approve": [e1["id"]]}).encode()).status == 200
    )
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))
    transfer = record(services, transfer["id"])

    sandbox.advance_clock(days=days_until_lapse(sandbox, transfer) - 3)
    assert timer_on_sandbox_time(services, sandbox).scan().expiring == 1
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))

    assert record(services, transfer["id"])["state"] == "Completed"
    user = services.graph.get_user(customer, holder)
    licenses = {a.sku_id: a.disabled_plans for a in user.assigned_licenses}
    assert licenses == {O365_E3: (forms_e3,)}  # switched off on the original, still off on its replacement


def cut_over_now(
    services: Services, sandbox: SandboxHandle, azurite: Azurite, transfer: dict[str, Any]
) -> None:
    """Time passes into the lead window of the transfer's first lapse; the timer announces it."""
    sandbox.advance_clock(days=days_until_lapse(sandbox, transfer) - 3)
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=on_sandbox_time(services, sandbox), idle_s=GROUPS_IDLE_S)


def failed_on_one_line(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> tuple[str, dict[str, Any], str]:
    """fabrikam cut over with a Microsoft 365 E3 holder who has no usage location: that line (the
    first the cutover takes) fails; the customer, the record and that user."""
    customer = sandbox.customer("fabrikam")
    [stranded] = sandbox.add_users(customer, 1, sku_id=M365_E3, usage_location=None)
    sandbox.add_subscription(customer, M365_E3, 1, days_to_next=None)  # a seat for them
    transfer = provisioned(services, sandbox, azurite)
    cut_over_now(services, sandbox, azurite, transfer)
    return customer, record(services, transfer["id"]), stranded


def notices(caplog: pytest.LogCaptureFixture, kind: str) -> list[tuple[str, str, str]]:
    """The structured records the originals alert reads: (transfer, line, date) of each ``kind``."""
    found = [r.__dict__ for r in caplog.records if getattr(r, "notice", None) == kind]
    return [(r["transfer_id"], r["line_id"], r["lapses_on"]) for r in found]


def lines_by_sku(transfer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {x["sourceSkuId"]: x for x in transfer["lines"]}


def test_a_failing_line_leaves_the_other_line_moved_and_the_transfer_fails_naming_it(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer, failed, stranded = failed_on_one_line(services, sandbox, azurite)

    lines = lines_by_sku(failed)
    assert lines[M365_E3]["state"] == "Failed"
    assert [f["userId"] for f in lines[M365_E3]["licenses"]["failures"]] == [stranded]
    assert lines[O365_E1]["state"] == "Completed"  # went on by itself
    assert holders(services, customer, O365_E1) == set()
    assert holders(services, customer, M365_E3) == {stranded}  # only the one who could not move
    assert failed["state"] == "Failed"
    assert failed["reason"].startswith(
        f"1 line(s) could not be cut over: {lines[M365_E3]['sourceProductName']}: "
    )
    assert lines[O365_E1]["sourceProductName"] not in failed["reason"]


def test_a_line_left_behind_by_a_failed_transfer_is_flagged_as_its_original_lapses(
    services: Services, sandbox: SandboxHandle, azurite: Azurite, caplog: pytest.LogCaptureFixture
) -> None:
    _, failed, _ = failed_on_one_line(services, sandbox, azurite)
    assert failed["lapseRiskOn"] is None

    assert timer_on_sandbox_time(services, sandbox).scan().expiring == 1  # a halted transfer is read too
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))

    flagged = record(services, failed["id"])
    at_risk = lines_by_sku(flagged)[M365_E3]
    assert flagged["state"] == "Failed"
    assert flagged["lapseRiskOn"] == at_risk["originalExpires"]
    [row] = [h for h in flagged["history"] if "while the transfer is Failed" in h["message"]]
    assert row["lineId"] == M365_E3
    assert f"lapse on {at_risk['originalExpires'][:10]}" in row["message"]
    assert notices(caplog, "lapse-at-risk") == [(failed["id"], M365_E3, at_risk["originalExpires"][:10])]
    assert paced_timer(services, sandbox).scan().expiring == 0  # flagged once


def test_a_group_member_entra_could_not_license_is_reported_per_member_once_the_group_is_processed(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("contoso")
    o365_e3, group = sandbox.ids.skus["O365_E3"], sandbox.ids.groups["contoso.e3"]
    [member] = sandbox.add_users(customer, 1, group_id=group, usage_location=None)
    sandbox.add_subscription(customer, o365_e3, 1, days_to_next=None)  # a seat for them
    transfer = started(services, customer)
    accepted(services, transfer)
    gdap_approved(services, sandbox, transfer)
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))
    [e3] = [x for x in record(services, transfer["id"])["lines"] if x["sourceSkuId"] == o365_e3]

    cut_over_now(services, sandbox, azurite, {"lines": [e3]})

    after = record(services, transfer["id"])
    [e3] = [x for x in after["lines"] if x["sourceSkuId"] == o365_e3]
    assert e3["state"] == "Failed"
    assert e3["groupsToVerify"] == []
    assert [(f["userId"], f["reason"], f["groupId"]) for f in e3["licenses"]["failures"]] == [
        (member, "no usage location", group)
    ]
    assert e3["licenses"]["failures"][0]["detail"] == f"group {group}: ProhibitedInUsageLocationViolation"
    verified = [(h["message"], h["details"]) for h in after["history"] if h["action"] == "group-verified"]
    assert verified == [
        (
            "a licensing group's change is applied: Entra could not license member(s): 1 no usage location",
            {"groupId": group},
        )
    ]
    assert not any("moved to the replacement" in h["message"] for h in after["history"])  # not on the 202
    targets = {r["skuId"] for r in e3["replacements"]}
    others = {sandbox.ids.users[f"contoso.group_e3_{n}"] for n in "abc"}
    assert all(others <= holders(services, customer, sku) for sku in targets)
    assert after["state"] == "Failed"


OPTION = "(option usageLocationFromTenant)"


def test_a_holder_without_usage_location_gets_the_tenants_country_when_the_options_say_so(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    [stranded] = sandbox.add_users(customer, 1, sku_id=O365_E1, usage_location=None)
    sandbox.add_subscription(customer, O365_E1, 1, days_to_next=None)
    transfer = provisioned(services, sandbox, azurite, usageLocationFromTenant=True)
    assert transfer["options"]["usageLocationFromTenant"] is True

    sandbox.advance_clock(days=days_until_lapse(sandbox, transfer) - 3)
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))

    done = record(services, transfer["id"])
    assert done["state"] == "Completed", done["reason"]
    assert services.graph.get_user(customer, stranded).usage_location == "US"
    assert stranded not in holders(services, customer, O365_E1)
    rows = [h for h in done["history"] if h["action"] == "usage-location"]
    assert [(h["lineId"], h["message"]) for h in rows] == [
        (O365_E1, f"user {stranded}: usage location set to US, the tenant's country " + OPTION)
    ]


def test_an_original_renewed_after_its_cutover_is_noticed_and_the_customer_reminded_before_each_date(
    services: Services, sandbox: SandboxHandle, azurite: Azurite, caplog: pytest.LogCaptureFixture
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = provisioned(services, sandbox, azurite)
    e1 = lines_by_sku(transfer)[O365_E1]
    sandbox.change_subscription(customer, e1["originalSubscriptionIds"][0], auto_renew=True)  # left on
    cut_over_now(services, sandbox, azurite, transfer)
    done = record(services, transfer["id"])
    assert done["state"] == "Completed", done["reason"]
    reminded = [h["lineId"] for h in done["history"] if h["message"].startswith("reminder for the customer")]
    assert sorted(reminded) == sorted([O365_E1, M365_E3])  # once per line before its date

    sandbox.advance_clock(days=4)  # past both dates: E1 renews for a year, Microsoft 365 E3 expires
    assert timer_on_sandbox_time(services, sandbox).scan().watched == 1  # completed, still watched
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))

    renewed = lines_by_sku(record(services, transfer["id"]))[O365_E1]
    assert datetime.fromisoformat(renewed["originalExpires"]) - datetime.fromisoformat(
        e1["originalExpires"]
    ) > (timedelta(days=360))
    [row] = [
        h for h in record(services, transfer["id"])["history"] if "renewed: they now lapse" in h["message"]
    ]
    assert row["lineId"] == O365_E1
    assert "turn auto-renew off" in row["message"]
    assert [line for _, line, _ in notices(caplog, "renewed")] == [O365_E1]

    sandbox.advance_clock(days=31)  # Microsoft 365 E3's original is suspended: lapsed for good
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))
    watched = lines_by_sku(record(services, transfer["id"]))
    assert (watched[M365_E3]["originalLapsed"], watched[O365_E1]["originalLapsed"]) == (True, False)

    sandbox.advance_clock(days=days_until_lapse(sandbox, {"lines": [watched[O365_E1]]}) - 3)
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))
    again = [h for h in record(services, transfer["id"])["history"] if h["message"].startswith("reminder")]
    assert [h["lineId"] for h in again].count(O365_E1) == 2  # before the renewal date too


def test_a_line_whose_originals_left_the_tenant_while_its_group_was_processed_completes(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("contoso")  # direct Office 365 E3 holders, and the group contoso.e3
    o365_e3, group = sandbox.ids.skus["O365_E3"], sandbox.ids.groups["contoso.e3"]
    transfer = started(services, customer)
    gdap_approved(services, sandbox, transfer)
    accepted(services, transfer)
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))
    observe(sandbox, customer)
    [e3] = [x for x in record(services, transfer["id"])["lines"] if x["sourceSkuId"] == o365_e3]

    # Cut over long after the originals were deleted: once the group is processed nobody holds
    # Office 365 E3 any more, and the tenant stops listing the SKU while the line still verifies.
    sandbox.advance_clock(days=days_until_lapse(sandbox, {"lines": [e3]}) + 200)
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=on_sandbox_time(services, sandbox), idle_s=GROUPS_IDLE_S)

    [e3] = [x for x in record(services, transfer["id"])["lines"] if x["sourceSkuId"] == o365_e3]
    assert e3["state"] == "Completed", record(services, transfer["id"])["reason"]
    assert o365_e3 not in {s.sku_id for s in services.graph.list_subscribed_skus(customer)}
    targets = {r["skuId"] for r in e3["replacements"]}
    assert all(services.graph.get_group(customer, group).holds(sku) for sku in targets)
