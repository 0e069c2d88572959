"""The admin API as a partner running many transfers reads it: customers by name, a list that
sorts, filters, searches, counts and exports, honest stages with whose move it is, progress that
keeps skipped lines apart, and the choices each waiting line offers."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from tests.api.test_openapi import assert_documented
from tests.fixtures.app import pump, routes
from tests.workflow.transfers import accepted, gdap_approved, record, started, waiting_for_approval


def domain_of(services: Services, tenant: str) -> str:
    answer = routes(services).tenant({"tenantId": tenant})
    assert answer.status == 200, answer.body
    domain: str = answer.body["defaultDomain"]
    return domain


def start_by_domain(services: Services, domain: str) -> tuple[int, dict[str, Any]]:
    body = {"customerDomain": domain, "customerCountry": "US", "sourceChannel": "Direct"}
    answer = routes(services).start_transfer(json.dumps(body).encode())
    return answer.status, answer.body


def listed(services: Services, **query: str) -> dict[str, Any]:
    answer = routes(services).list_transfers(query)
    assert answer.status == 200, answer.body
    body: dict[str, Any] = answer.body
    return body


def test_a_transfer_started_by_domain_carries_the_customers_name_and_domain(
    services: Services, sandbox: SandboxHandle
) -> None:
    fabrikam = sandbox.customer("fabrikam")
    domain = domain_of(services, fabrikam)

    status, transfer = start_by_domain(services, domain.upper())

    assert status == 201, transfer
    assert (transfer["customerTenantId"], transfer["customerDomain"]) == (fabrikam, domain)
    assert transfer["customerName"] == "Fabrikam Sandbox Inc"
    assert transfer["nextMove"] == "customer"
    [item] = listed(services)["items"]
    assert (item["customerName"], item["customerDomain"], item["stage"]) == (
        "Fabrikam Sandbox Inc",
        domain,
        "AwaitingAcceptance",
    )


def test_the_tenant_lookup_names_a_customer_by_domain_or_id_and_its_transfer_in_flight(
    services: Services, sandbox: SandboxHandle
) -> None:
    contoso = sandbox.customer("contoso")
    before = routes(services).tenant({"tenantId": contoso.upper()})
    transfer = started(services, contoso)

    after = routes(services).tenant({"domain": before.body["defaultDomain"]})

    assert before.body == {
        "tenantId": contoso,
        "displayName": "Contoso Sandbox Ltd",
        "defaultDomain": "contososandbox.onmicrosoft.com",
        "activeTransferId": None,
    }
    assert after.body == {**before.body, "activeTransferId": transfer["id"]}
    for answer in (before, after):
        assert_documented("get", "/tenants", answer)


def test_an_unknown_customer_is_refused_naming_what_was_given(services: Services) -> None:
    refused = start_by_domain(services, "nobody.example")
    unknown = routes(services).tenant({"domain": "nobody.example"})
    neither = routes(services).tenant({})

    assert refused[0] == 400
    assert refused[1]["parameter"] == "customerDomain"
    assert "nobody.example" in refused[1]["detail"]
    assert (unknown.status, unknown.body["title"], unknown.body["parameter"]) == (
        404,
        "Unknown customer",
        "domain",
    )
    assert (neither.status, neither.body["parameter"]) == (400, "domain")
    for answer in (unknown, neither):
        assert_documented("get", "/tenants", answer)


def test_the_list_shows_names_stage_whose_move_and_progress_without_counting_skipped_lines_as_done(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer = started(services, sandbox.customer("contoso"))  # accepted long ago
    accepted(services, transfer)
    gdap_approved(services, sandbox, transfer)
    pump(azurite, services)

    page = listed(services)
    [item] = page["items"]

    assert (item["state"], item["stage"]) == ("Provisioned", "Provisioned")
    assert item["lines"] == {"total": 6, "done": 0, "skipped": 3, "failed": 0, "waiting": 0, "inFlight": 3}
    assert item["nextMove"] == "none"
    assert item["nextMoveText"].startswith("No one's until ")
    assert item["nextDate"] is not None
    assert item["customerName"] == "Contoso Sandbox Ltd"
    assert page["counts"]["Provisioned"] == 1
    shown = record(services, transfer["id"])
    assert shown["lineCounts"] == item["lines"]
    assert (shown["stage"], shown["nextMove"], shown["nextDate"]) == ("Provisioned", "none", item["nextDate"])
    names = {
        (x["sourceProductName"], tuple(r["productName"] for r in x["replacements"])) for x in shown["lines"]
    }
    assert ("Office 365 E3", ("Office 365 E3 (no Teams)", "Microsoft Teams Enterprise")) in names


def test_a_transfer_whose_purchases_are_all_scheduled_is_listed_as_scheduled_not_provisioned(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = started(services, customer, purchaseTiming="beforeLapse")
    sandbox.accept_invitation(customer)
    accepted(services, transfer)
    pump(azurite, services)

    [item] = listed(services, stage="Scheduled")["items"]
    shown = record(services, transfer["id"])

    assert (item["state"], item["stage"]) == ("Provisioned", "Scheduled")
    due = min(x["purchaseDue"] for x in shown["lines"])
    assert item["nextDate"] == due
    assert item["nextMoveText"] == (
        f"No one's until {due[:10]}: the replacements are bought before the originals lapse."
    )
    assert item["lines"]["inFlight"] == 0
    assert listed(services, state="Provisioned")["items"] == [item]
    assert listed(services)["counts"]["Scheduled"] == 1
    assert listed(services)["counts"]["Provisioned"] == 0
    [waits] = [h for h in shown["history"] if h["toState"] == "Provisioned"]
    assert waits["message"].startswith("nothing to buy yet: each replacement is bought shortly before")
    assert sandbox.purchases() == []


def test_the_list_is_newest_first_sorts_filters_searches_and_exports_the_filtered_list(
    services: Services, sandbox: SandboxHandle
) -> None:
    ids = [started(services, sandbox.customer(name))["id"] for name in ("contoso", "fabrikam", "tailspin")]

    newest = [x["id"] for x in listed(services)["items"]]
    oldest = [x["id"] for x in listed(services, sort="created", order="asc")["items"]]
    by_name = listed(services, q="FABRIKAM")["items"]
    by_domain = listed(services, q="tailspinsandbox.onmicrosoft")["items"]
    paged = listed(services, pageSize="2")
    exported = routes(services).list_transfers({"format": "csv", "q": "sandbox"})

    assert newest == ids[::-1]
    assert oldest == ids
    assert [x["id"] for x in by_name] == [ids[1]]
    assert [x["id"] for x in by_domain] == [ids[2]]
    assert len(paged["items"]) == 2
    assert paged["continuationToken"]
    assert paged["counts"]["AwaitingAcceptance"] == 3
    assert listed(services, attention="true")["items"] == []
    assert exported.content_type == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(exported.encoded().decode())))
    assert [r["id"] for r in rows] == ids[::-1]
    assert rows[0]["customerName"] == "Tailspin Sandbox Co"
    assert rows[0]["linesTotal"] == "0"


def test_waiting_lines_offer_their_choices_with_what_each_buys(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer = waiting_for_approval(services, sandbox, azurite)

    blocked = record(services, transfer["id"])
    [item] = listed(services, attention="true")["items"]

    assert (item["stage"], item["nextMove"], item["attention"]) == ("Blocked", "partner", True)
    waiting = [x for x in blocked["lines"] if x["state"] == "NeedsApproval"]
    assert waiting
    for line in waiting:
        approve, decline = line["choices"]
        assert (approve["id"], decline["id"]) == ("approve", "decline")
        assert approve["buys"] == [
            {key: r[key] for key in ("productName", "skuId", "catalogItemId", "quantity")}
            for r in line["replacements"]
        ]
        assert (approve["request"], decline["request"]) == (
            {"approve": [line["id"]]},
            {"decline": [line["id"]]},
        )
        assert all(b["productName"] and "CFQ" not in b["productName"] for b in approve["buys"])
        assert (approve["unitPrice"], decline["buys"]) == (None, [])
    decided = routes(services).approve(transfer["id"], json.dumps({"decline": [waiting[0]["id"]]}).encode())
    assert decided.status == 200, decided.body
    assert [x["choices"] for x in decided.body["lines"] if x["id"] == waiting[0]["id"]] == [[]]
