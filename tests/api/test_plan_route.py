"""GET /api/transfers/{id}/plan through function_app, reading the sandbox over HTTPS and the store
on Azurite; the sandbox's ledger proves the dry run bought nothing and counts the Graph reads."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest

import function_app
from sandbox.testing import SandboxHandle
from shared import bootstrap
from shared.domain import (
    Change,
    GdapRequest,
    HistoryEntry,
    SourceChannel,
    Transfer,
    TransferState,
    new_transfer_id,
)
from shared.store.repository import TransferStore
from tests.fixtures.clients import assign_directly

T0 = datetime(2026, 11, 1, tzinfo=UTC)
O365_E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"
O365_E3_NO_TEAMS = "46c3a859-c90d-40b3-9551-6178a48d5c18"
TEAMS_ENTERPRISE = "7e31c0d9-9551-471d-836f-32ee72be4a01"
SWAY = "a23b959c-7ce8-4e57-9140-b90eb88a9e97"


pytestmark = pytest.mark.scenario("default", access="granted")  # about the plan, not about access

#: What the workflow records once it has set up and verified its access in the customer's tenant.
VERIFIED = GdapRequest(
    relationship_id="0f8fad5b-d9cb-469f-a165-70867728950e-7c9e6679-7425-40de-944b-e07fc1f90ae7",
    approval_url="https://admin.microsoft.com/AdminPortal/Home#/partners/invitation/granularAdminRelationships/x",
    roles=("Directory Readers", "License Administrator", "Cloud Application Administrator"),
    status="active",
    consented=True,
    verified_at=T0.isoformat(),
)


def start(store: TransferStore, customer: str, *, accepted: bool) -> str:
    """A transfer stored as the workflow leaves it: accepted, with its access verified."""
    transfer = Transfer(
        id=new_transfer_id(),
        customer_tenant_id=customer,
        customer_country="US",
        source_channel=SourceChannel.DIRECT,
        state=TransferState.AWAITING_ACCEPTANCE,
        created_at=T0,
        updated_at=T0,
    )
    record = store.create(transfer, history=HistoryEntry(at=T0, action="created", message="started"))
    if accepted:
        moved, entry = record.transfer.move(TransferState.ACCEPTED, at=T0, actor="test")
        store.commit(record, Change(replace(moved, gdap=VERIFIED), history=(entry,)))
    return transfer.id


def plan(transfer_id: str) -> tuple[int, dict[str, Any]]:
    request = func.HttpRequest(
        method="GET", url=f"/api/transfers/{transfer_id}/plan", body=b"", route_params={"id": transfer_id}
    )
    response = function_app.plan_transfer(request)
    return response.status_code, json.loads(response.get_body())


def test_plan_of_an_accepted_customer_explains_every_line_and_buys_nothing(
    connected_app: TransferStore, sandbox: SandboxHandle
) -> None:
    transfer_id = start(connected_app, sandbox.customer("contoso"), accepted=True)

    status, body = plan(transfer_id)

    assert status == 200, body
    assert body["transferId"] == transfer_id
    lines = {line["sourceSkuPartNumber"]: line for line in body["lines"]}
    e3 = lines["ENTERPRISEPACK"]  # no longer sold: Microsoft's no-Teams successor pair
    assert (e3["decision"], e3["basis"], e3["quantity"], e3["lostPlans"]) == (
        "equivalent",
        "successor",
        25,
        [],
    )
    assert sorted(t["provisioningId"] for t in e3["targets"]) == [O365_E3_NO_TEAMS, TEAMS_ENTERPRISE]
    assert (lines["EMS"]["decision"], lines["EMS"]["quantity"]) == ("identical", 10)
    assert (lines["SPB"]["decision"], lines["SPB"]["quantity"]) == ("identical", 5)  # from another partner
    assert {k: lines[k]["reason"] for k in ("SPE_E5", "FLOW_FREE", "EXCHANGESTANDARD")} == {
        "SPE_E5": "trial",
        "FLOW_FREE": "free",
        "EXCHANGESTANDARD": "already_with_partner",
    }
    assert all(line["explanation"] for line in body["lines"])
    assert sandbox.purchases() == []


def test_plan_says_who_holds_each_sku_and_how_they_move(
    connected_app: TransferStore, sandbox: SandboxHandle
) -> None:
    transfer_id = start(connected_app, sandbox.customer("contoso"), accepted=True)
    sandbox.clear_ledger()

    status, body = plan(transfer_id)

    assert status == 200, body
    lines = {line["sourceSkuPartNumber"]: line for line in body["lines"]}
    group = sandbox.ids.groups["contoso.e3"]
    assert lines["ENTERPRISEPACK"]["users"] == {
        "holders": 7,
        "direct": 3,
        "viaGroups": [{"groupId": group, "users": 4}],  # 3 members, and 1 who also holds it directly
        "both": 1,
        "willFail": [],
        "disabledPlans": [
            {"servicePlanId": SWAY, "servicePlanName": "SWAY", "users": 1, "carriedTo": "SWAY"}
        ],
        "seats": 25,
        "seatShortfall": 0,
    }
    assert f"7 users hold it: 3 directly, 4 through group {group}" in lines["ENTERPRISEPACK"]["explanation"]
    # Identical lines move no licence but still say who holds them; skipped lines are not read.
    assert (lines["EMS"]["users"]["holders"], lines["EMS"]["users"]["willFail"]) == (1, [])
    assert lines["SPB"]["users"]["direct"] == 1
    assert all(lines[k]["users"] is None for k in ("SPE_E5", "FLOW_FREE", "EXCHANGESTANDARD"))
    # One paged users query per line that is not skipped, and no UPN or name in the answer.
    user_reads = [
        r for r in sandbox.requests() if r["service"] == "graph" and r["path"].endswith("/v1.0/users")
    ]
    assert len(user_reads) == 3
    assert "onmicrosoft.com" not in json.dumps(body)


def test_plan_reports_a_user_whose_group_assignment_failed_and_seats_that_do_not_cover_the_holders(
    connected_app: TransferStore, sandbox: SandboxHandle
) -> None:
    customer = sandbox.customer("wingtip")  # Office 365 E3: 2 seats in Warning, 1 user
    group = sandbox.ids.groups["wingtip.unlicensed"]
    spare_2 = sandbox.ids.users["wingtip.spare_2"]
    graph = bootstrap.services().graph
    graph.assign_group_license(customer, group, add=[O365_E3])  # the last seat: spare_2 gets CountViolation
    sandbox.advance_clock(seconds=sandbox.knobs()["group_license_delay_s"])  # once Entra has processed it
    sandbox.add_subscription(customer, O365_E3, 1, days_to_next=100)
    assign_directly(graph, customer, spare_2, add=[O365_E3])  # holds it directly; the group's error stays
    sandbox.advance_clock(days=11)  # the Warning seats are suspended: not bought again, still assigned
    transfer_id = start(connected_app, customer, accepted=True)

    status, body = plan(transfer_id)

    assert status == 200, body
    [e3] = [line for line in body["lines"] if line["sourceSkuId"] == O365_E3]
    assert e3["decision"] == "equivalent"
    users = e3["users"]
    assert (users["holders"], users["direct"], users["viaGroups"]) == (3, 2, [{"groupId": group, "users": 1}])
    [failing] = users["willFail"]
    assert (failing["userId"], failing["reason"]) == (spare_2, "assignment error")
    assert "CountViolation" in failing["detail"]
    assert (users["seats"], users["seatShortfall"]) == (1, 2)
    assert "Warning: 3 users hold it but the transfer leaves 1 seat," in e3["explanation"]
    assert sandbox.purchases() == []


def test_plan_before_the_product_verified_its_access_is_a_409_problem(
    connected_app: TransferStore, sandbox: SandboxHandle
) -> None:
    transfer_id = start(connected_app, sandbox.customer("contoso"), accepted=True)
    pending = replace(VERIFIED, status="approvalPending", consented=False, verified_at=None)
    connected_app.update(transfer_id, lambda r: Change(replace(r.transfer, gdap=pending)))
    sandbox.clear_ledger()

    status, body = plan(transfer_id)

    assert status == 409
    assert body["title"] == "Delegated access not ready"
    assert "approvalPending" in body["detail"]
    assert [r for r in sandbox.requests() if r["service"] == "graph"] == []


def test_plan_before_the_customer_accepts_is_a_409_problem(
    connected_app: TransferStore, sandbox: SandboxHandle
) -> None:
    transfer_id = start(connected_app, sandbox.customer("fabrikam"), accepted=False)

    status, body = plan(transfer_id)

    assert status == 409
    assert body["title"] == "Invitation not accepted"


def test_plan_without_a_gdap_role_is_a_409_problem_quoting_graphs_error(
    connected_app: TransferStore, sandbox: SandboxHandle
) -> None:
    customer = sandbox.customer("contoso")
    sandbox.set_gdap(customer, roles=[])  # consented, but no role takes effect
    transfer_id = start(connected_app, customer, accepted=True)

    status, body = plan(transfer_id)

    assert status == 409
    assert body["title"] == "Customer access missing"
    assert body["service"] == "Graph"
    assert body["code"] == "Authorization_RequestDenied"
