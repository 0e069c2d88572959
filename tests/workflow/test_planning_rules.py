"""What the plan checks before money moves, end to end through the workflow against the sandbox:
the capped line waits for a decision, no mutually exclusive targets are ever bought, and the tenant
in another country than typed is refused before buying."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from devhost.azurite import Azurite
from sandbox.catalog import load_catalog
from sandbox.scenarios import CAPPED_HOLDERS
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from shared.catalog.preflight import exclusive_clash
from tests.fixtures.app import pump, routes
from tests.workflow.transfers import accepted, record, started

SKUS = load_catalog().skus


def started_accepted_and_planned(
    services: Services, sandbox: SandboxHandle, azurite: Azurite, key: str
) -> dict[str, Any]:
    customer = sandbox.customer(key)
    transfer = started(services, customer)
    sandbox.accept_invitation(customer)
    accepted(services, transfer)
    pump(azurite, services)
    return record(services, transfer["id"])


def approve(services: Services, transfer_id: str, body: dict[str, Any]) -> Any:
    return routes(services).approve(transfer_id, json.dumps(body).encode())


def test_350_business_premium_seats_wait_for_a_choice_and_buy_up_to_the_cap_once_chosen(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    waiting = started_accepted_and_planned(services, sandbox, azurite, "relecloud")
    [line] = waiting["lines"]

    assert waiting["state"] == "Blocked"
    assert (line["state"], line["replacements"]) == ("NeedsApproval", [])
    assert "300" in line["reason"]
    assert [c["id"] for c in line["choices"]] == ["upToCap", "enterprise", "decline"]
    up_to_cap, enterprise, _ = line["choices"]
    assert [(r["skuId"], r["quantity"]) for r in up_to_cap["buys"]] == [
        (sandbox.ids.skus["BUSINESS_PREMIUM"], 300)
    ]
    assert len(up_to_cap["usersWithoutSeat"]) == CAPPED_HOLDERS - 300
    assert sandbox.ids.skus["BUSINESS_PREMIUM"] not in {r["skuId"] for r in enterprise["buys"]}
    assert enterprise["usersToMove"] == CAPPED_HOLDERS
    assert sandbox.purchases() == []

    unchosen = approve(services, waiting["id"], {"approve": [line["id"]]})
    chosen = approve(services, waiting["id"], up_to_cap["request"])
    pump(azurite, services)

    assert unchosen.status == 400
    assert unchosen.body["parameter"] == "choose"
    assert chosen.status == 200, chosen.body
    final = record(services, waiting["id"])
    [bought] = final["lines"]
    assert final["state"] == "Provisioned", final["reason"]
    assert bought["usersWithoutSeat"] == up_to_cap["usersWithoutSeat"]
    assert [(x["skuId"], x["quantity"]) for p in sandbox.purchases() for x in p["lines"]] == [
        (sandbox.ids.skus["BUSINESS_PREMIUM"], 300)
    ]


def test_the_enterprise_choice_buys_every_seat_on_offers_without_the_cap(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    waiting = started_accepted_and_planned(services, sandbox, azurite, "relecloud")
    [line] = waiting["lines"]

    chosen = approve(services, waiting["id"], {"approve": [line["id"]], "choose": {line["id"]: "enterprise"}})
    pump(azurite, services)

    assert chosen.status == 200, chosen.body
    final = record(services, waiting["id"])
    assert final["state"] == "Provisioned", final["reason"]
    assert final["lines"][0]["decision"] == "equivalent"
    seats = Counter[str]()
    for purchase in sandbox.purchases():
        for bought in purchase["lines"]:
            seats[bought["skuId"]] += bought["quantity"]
    assert set(seats.values()) == {350}
    assert sandbox.ids.skus["BUSINESS_PREMIUM"] not in seats


def test_with_teams_enterprise_withdrawn_no_mutually_exclusive_targets_are_bought_and_the_cutover_succeeds(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    """As a user found it: Business Basic + Microsoft 365 E3 (no Teams) was bought for Microsoft 365
    E3, and every user failed at cutover (SharePoint Plan 1 beside Plan 2)."""
    sandbox.set_offer(sandbox.ids.skus["TEAMS_ENTERPRISE"], purchasable=False)
    waiting = started_accepted_and_planned(services, sandbox, azurite, "fabrikam")
    pending = [line["id"] for line in waiting["lines"] if line["state"] == "NeedsApproval"]

    assert waiting["state"] == "Blocked"
    assert pending
    assert all("documented successor" in line["reason"] for line in waiting["lines"])
    assert sandbox.purchases() == []
    approve(services, waiting["id"], {"approve": pending})
    pump(azurite, services)
    for line in record(services, waiting["id"])["lines"]:
        plans = {r["skuId"]: [p.name for p in SKUS[r["skuId"]].plans] for r in line["replacements"]}
        assert exclusive_clash(plans) is None, line["replacements"]
    sandbox.advance_clock(days=41)  # the originals lapse: every holder is moved
    services.new_timer().scan()
    pump(azurite, services)

    final = record(services, waiting["id"])
    assert final["state"] == "Completed", final["reason"]
    assert sum(line["licenses"]["failed"] for line in final["lines"]) == 0
    assert sum(line["licenses"]["moved"] for line in final["lines"]) == 4


def test_a_tenant_in_another_country_than_typed_is_refused_before_anything_is_bought(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    refused = started_accepted_and_planned(services, sandbox, azurite, "lamna")  # the admin typed US

    assert refused["state"] == "Blocked"
    assert "CA" in refused["reason"]
    assert "US" in refused["reason"]
    assert "tenant's country" in refused["reason"]
    assert refused["lines"] == []
    assert sandbox.purchases() == []


def test_the_history_says_what_the_region_check_was_based_on(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    planned = started_accepted_and_planned(services, sandbox, azurite, "fabrikam")

    [checked] = [h for h in planned["history"] if h["action"] == "region"]
    assert "the tenant's country (Graph organization)" in checked["message"]
    assert "company profile not read" in checked["message"]  # the tenant's country decides
