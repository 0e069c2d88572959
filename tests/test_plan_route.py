"""GET /api/transfers/{id}/plan through function_app, reading the sandbox over HTTPS and the store
on Azurite; the sandbox's ledger proves the dry run bought nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import azure.functions as func

import function_app
from sandbox.testing import SandboxHandle
from shared.domain import Change, HistoryEntry, SourceChannel, Transfer, TransferState, new_transfer_id
from shared.store import TransferStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)
O365_E3_NO_TEAMS = "46c3a859-c90d-40b3-9551-6178a48d5c18"
TEAMS_ENTERPRISE = "7e31c0d9-9551-471d-836f-32ee72be4a01"


def start(store: TransferStore, customer: str, *, accepted: bool) -> str:
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
        store.commit(record, Change(moved, history=(entry,)))
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
    sandbox.set_gdap(customer, active=False)
    transfer_id = start(connected_app, customer, accepted=True)

    status, body = plan(transfer_id)

    assert status == 409
    assert body["title"] == "Customer access missing"
    assert body["service"] == "Graph"
    assert body["code"] == "Authorization_RequestDenied"
