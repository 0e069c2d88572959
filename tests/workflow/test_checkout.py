"""What the workflow checks before money moves, through its own entry points against the sandbox:
the customer's agreement, its segment, new commerce only, attestations, catalog ids read again."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from shared.workflow import agreement, purchase
from shared.workflow.runner import STEPS
from tests.fixtures.app import pump, routes
from tests.workflow.test_cutover import days_until_lapse, on_sandbox_time, timer_on_sandbox_time
from tests.workflow.transfers import accepted, record, start, started

CONTACT = {
    "firstName": "Ada",
    "lastName": "Admin",
    "email": "ada@litware.example",
    "phoneNumber": "+1 425 555 0100",
}
NEW_COMMERCE = "OnlineServicesNCE"


def bought(sandbox: SandboxHandle) -> list[dict[str, Any]]:
    return [line for purchase in sandbox.purchases() for line in purchase["lines"]]


def accepted_transfer(services: Services, sandbox: SandboxHandle, key: str, **extra: Any) -> dict[str, Any]:
    """``key``'s transfer started (with ``extra`` start fields), accepted, and announced."""
    customer = sandbox.customer(key)
    status, transfer = start(services, customer, **extra)
    assert status == 201, transfer
    sandbox.accept_invitation(customer)
    accepted(services, transfer)
    return transfer


def agreement_posts(sandbox: SandboxHandle) -> int:
    return sum(
        1
        for r in sandbox.requests()
        if r["service"] == "partner_center" and r["method"] == "POST" and r["path"].endswith("/agreements")
    )


# ---------------------------------------------------------------------- the customer agreement


def test_without_the_customer_agreement_nothing_is_bought_until_a_retry_gives_the_contact(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer = accepted_transfer(services, sandbox, "litware")
    pump(azurite, services)

    blocked = record(services, transfer["id"])
    assert blocked["state"] == "Blocked"
    assert "customerContact" in blocked["reason"]
    assert [a["action"] for a in blocked["customerActions"]] == ["confirm-customer-agreement"]
    assert blocked["agreement"]["status"] == "ContactNeeded"
    assert sandbox.purchases() == []

    answer = routes(services).retry(transfer["id"], json.dumps({"customerContact": CONTACT}).encode())
    assert answer.status == 202, answer.body
    pump(azurite, services)

    done = record(services, transfer["id"])
    assert done["state"] == "Provisioned", done["reason"]
    assert (done["agreement"]["status"], done["agreement"]["basis"]) == ("Confirmed", "Attested")
    assert done["agreement"]["confirmedAt"]
    [confirmed] = sandbox.agreements(sandbox.customer("litware"))["agreements"]
    assert confirmed["primaryContact"]["email"] == CONTACT["email"]
    assert len(sandbox.purchases()) == 1
    assert not any(CONTACT["email"] in h["message"] or "Ada" in h["message"] for h in done["history"])


def test_a_contact_given_at_the_start_confirms_the_agreement_once_even_when_the_answer_is_lost(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    sandbox.add_fault("drop_after_commit", service="partner_center", method="POST", path="/agreements$")
    transfer = accepted_transfer(services, sandbox, "litware", customerContact=CONTACT)

    pump(azurite, services)

    done = record(services, transfer["id"])
    assert done["state"] == "Provisioned", done["reason"]
    assert done["agreement"]["basis"] == "Attested"
    assert agreement_posts(sandbox) == 1  # after the lost answer, read back instead of sent again
    assert len(sandbox.agreements(sandbox.customer("litware"))["agreements"]) == 1
    assert len(sandbox.purchases()) == 1


def test_a_confirmation_partner_center_refuses_blocks_with_its_code_and_a_retry_confirms_it(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    sandbox.add_fault(
        "error", service="partner_center", method="POST", path="/agreements$", status=400, code=3000
    )
    transfer = accepted_transfer(services, sandbox, "litware", customerContact=CONTACT)
    pump(azurite, services)

    blocked = record(services, transfer["id"])
    assert blocked["state"] == "Blocked"
    assert "code 3000" in blocked["reason"]
    assert sandbox.purchases() == []

    assert routes(services).retry(transfer["id"]).status == 202
    pump(azurite, services)

    assert record(services, transfer["id"])["agreement"]["basis"] == "Attested"
    assert len(sandbox.purchases()) == 1


def test_a_customer_that_signed_the_agreement_itself_is_recorded_so_and_nothing_is_confirmed(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer = accepted_transfer(services, sandbox, "fabrikam", customerContact=CONTACT)

    pump(azurite, services)

    done = record(services, transfer["id"])
    assert done["state"] == "Provisioned"
    assert (done["agreement"]["basis"], done["agreement"]["dateAgreed"]) == ("SignedDirectly", None)
    assert agreement_posts(sandbox) == 0
    assert any("accepted the Microsoft Customer Agreement itself" in h["message"] for h in done["history"])


def test_a_contact_the_api_cannot_use_is_refused_with_each_wrong_field(services: Services) -> None:
    bad = {"firstName": "", "email": "not-an-address", "phoneNumber": "call me", "title": "CEO"}

    status, body = start(services, "8d1c9a43-7c4e-4b8a-9f55-3c2f5a8e6b10", customerContact=bad)

    assert status == 400
    assert {e["field"] for e in body["errors"]} == {
        "customerContact.firstName",
        "customerContact.lastName",
        "customerContact.email",
        "customerContact.phoneNumber",
        "customerContact.title",
    }


def test_a_retry_bringing_a_contact_the_api_cannot_use_is_refused_with_each_wrong_field(
    services: Services,
) -> None:
    body = {"customerContact": {"firstName": "Ada", "email": "ada@"}, "force": True}

    answer = routes(services).retry("0" * 32, json.dumps(body).encode())

    assert answer.status == 400
    assert {e["field"] for e in answer.body["errors"]} == {
        "force",
        "customerContact.lastName",
        "customerContact.email",
    }


def test_the_agreement_is_a_step_of_its_own_just_before_the_purchase_intent() -> None:
    steps = [step for _, step in STEPS]

    assert steps.index(agreement.confirm_agreement) + 1 == steps.index(purchase.intend_purchase)


# ---------------------------------------------------------------------- segment and new commerce


@pytest.mark.parametrize(
    ("key", "segment"),
    [("fabrikam", "commercial"), ("fineartschool", "education"), ("treyresearch", "nonprofit")],
)
def test_a_customer_is_sold_new_commerce_items_of_its_own_segment_only(
    services: Services, sandbox: SandboxHandle, azurite: Azurite, key: str, segment: str
) -> None:
    # Other segments' and traditional items of the same SKUs sort before the customer's; nonprofit
    # availabilities are listed only when asked for.
    transfer = accepted_transfer(services, sandbox, key)

    pump(azurite, services)

    done = record(services, transfer["id"])
    assert done["state"] == "Provisioned", done["reason"]
    assert done["segment"] == segment
    assert routes(services).plan_transfer(transfer["id"]).body["segment"] == segment
    items = bought(sandbox)
    assert items
    assert {(x["segment"], x["productType"]) for x in items} == {(segment, NEW_COMMERCE)}


# ---------------------------------------------------------------------- what the cart says


def test_a_cart_line_partner_center_refuses_is_not_checked_out_and_retry_buys_once_it_is_sold(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    teams = sandbox.ids.skus["TEAMS_ENTERPRISE"]
    sandbox.set_eligible(teams, False)  # listed as purchasable, refused for the customer
    transfer = accepted_transfer(services, sandbox, "fabrikam")
    pump(azurite, services)

    failed = record(services, transfer["id"])
    assert failed["state"] == "Failed"
    assert {x["state"] for x in failed["lines"]} == {"Failed"}
    assert any("10006" in x["reason"] for x in failed["lines"])
    assert not any(r["path"].endswith("/checkout") for r in sandbox.requests())
    assert sandbox.purchases() == []

    sandbox.set_eligible(teams, True)
    assert routes(services).retry(transfer["id"]).status == 202
    pump(azurite, services)

    assert record(services, transfer["id"])["state"] == "Provisioned"
    assert len(sandbox.purchases()) == 1


# ---------------------------------------------------------------------- catalog ids read again


def deferred(services: Services, sandbox: SandboxHandle, azurite: Azurite) -> dict[str, Any]:
    """fabrikam's transfer, planned to buy 14 days before the originals lapse, nothing bought yet."""
    customer = sandbox.customer("fabrikam")
    transfer = started(services, customer, purchaseTiming="beforeLapse", purchaseLeadDays=14)
    sandbox.accept_invitation(customer)
    accepted(services, transfer)
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))
    planned = record(services, transfer["id"])
    assert planned["state"] == "Provisioned"
    assert sandbox.purchases() == []
    return planned


def buy_when_due(
    services: Services, sandbox: SandboxHandle, azurite: Azurite, planned: dict[str, Any]
) -> None:
    """Past the next month boundary (every availability id changes), then into the purchase window."""
    sandbox.advance_to_next_month()
    left = days_until_lapse(sandbox, planned)
    if left > 13:
        sandbox.advance_clock(days=left - 13)
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))


def test_a_deferred_purchase_after_a_month_boundary_buys_under_the_current_ids(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    planned = deferred(services, sandbox, azurite)
    planned_ids = {r["catalogItemId"] for x in planned["lines"] for r in x["replacements"]}

    buy_when_due(services, sandbox, azurite, planned)

    done = record(services, transfer_id := planned["id"])
    assert {x["state"] for x in done["lines"]} <= {"Active", "MovingLicenses", "Completed"}, done["reason"]
    assert len(sandbox.purchases()) == 1
    ids = {x["catalogItemId"] for x in bought(sandbox)}
    assert ids.isdisjoint(planned_ids)  # every id changed at the month boundary
    assert {i.rsplit(":", 1)[0] for i in ids} == {i.rsplit(":", 1)[0] for i in planned_ids}
    assert ids == {
        r["catalogItemId"] for x in record(services, transfer_id)["lines"] for r in x["replacements"]
    }
    assert any("today's catalog lists it anew" in h["message"] for h in done["history"])


def test_an_offer_withdrawn_before_a_deferred_purchase_is_decided_again_and_the_history_says_so(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    exchange = sandbox.ids.skus["EXCHANGE_PLAN_1"]
    sandbox.add_subscription(customer, exchange, 2, days_to_next=40)
    sandbox.add_users(customer, 1, sku_id=exchange)
    planned = deferred(services, sandbox, azurite)
    [line] = [x for x in planned["lines"] if x["sourceSkuId"] == exchange]
    assert line["decision"] == "identical"

    sandbox.set_offer(exchange, purchasable=False)
    buy_when_due(services, sandbox, azurite, planned)
    waiting = record(services, planned["id"])
    [line] = [x for x in waiting["lines"] if x["sourceSkuId"] == exchange]
    assert (line["decision"], line["state"]) == ("equivalent", "NeedsApproval")  # not Microsoft's successor
    assert sandbox.purchases() == []  # the cart waits for the admin's word
    approval = json.dumps({"approve": [line["id"]]}).encode()
    assert routes(services).approve(planned["id"], approval).status == 200
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))

    done = record(services, planned["id"])
    [line] = [x for x in done["lines"] if x["sourceSkuId"] == exchange]
    assert line["decision"] == "equivalent"
    assert exchange not in {x["skuId"] for x in bought(sandbox)}
    assert {r["skuId"] for r in line["replacements"]} <= {x["skuId"] for x in bought(sandbox)}
    assert any("no longer sold as planned; decided again" in h["message"] for h in done["history"])
    assert len(sandbox.purchases()) == 1


def test_an_attestation_the_cart_asks_for_after_the_plan_is_accepted_on_the_retry(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    # Teams Enterprise enforces no attestation when the plan reads the catalog; it does at purchase.
    teams = sandbox.ids.skus["TEAMS_ENTERPRISE"]
    planned = deferred(services, sandbox, azurite)
    sandbox.set_eligible(teams, True, attestation="TeamsTerms")
    buy_when_due(services, sandbox, azurite, planned)

    failed = record(services, planned["id"])
    assert failed["state"] == "Failed"
    assert any("10012" in (x["reason"] or "") for x in failed["lines"])
    assert sandbox.purchases() == []

    assert routes(services).retry(planned["id"]).status == 202
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))

    assert len(sandbox.purchases()) == 1
    assert teams in {x["skuId"] for x in bought(sandbox)}
