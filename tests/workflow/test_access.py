"""Delegated access set up and verified by the product, through the workflow's own entry points
against Azurite and the sandbox: the GDAP relationship followed, the access assignment and the
application's consent made once each, the roles checked before anything is bought, and the
relationship withdrawn on cancel and ended (or reduced) once the transfer is done."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from shared.domain import Change
from shared.domain.events import EventType
from shared.resources.webhook_events import PartnerCenterEvent
from shared.store.repository import TransferStore
from shared.workflow.access import CONSENT_GRANTS
from shared.workflow.rules.access import ROLE_IDS
from shared.workflow.runner import CONFLICT_WAIT
from tests.fixtures.app import pump, routes
from tests.fixtures.clients import api_calls
from tests.workflow.test_cutover import days_until_lapse, sandbox_time, timer_on_sandbox_time
from tests.workflow.transfers import (
    acceptance,
    accepted,
    announced,
    gdap_approved,
    record,
    start,
    started,
)

WITHOUT_LICENSING = ["Directory Readers", "Cloud Application Administrator"]


def waiting_for_gdap(services: Services, sandbox: SandboxHandle, azurite: Azurite) -> dict[str, Any]:
    """fabrikam's transfer: the customer accepted the reseller relationship, not yet the GDAP request."""
    customer = sandbox.customer("fabrikam")
    transfer = started(services, customer)
    sandbox.accept_invitation(customer, approve_gdap=False)
    accepted(services, transfer)
    pump(azurite, services)
    return transfer


def approved_with(
    services: Services, sandbox: SandboxHandle, azurite: Azurite, roles: list[str]
) -> dict[str, Any]:
    """fabrikam's transfer once its customer approved a GDAP relationship holding only ``roles``."""
    transfer = waiting_for_gdap(services, sandbox, azurite)
    gdap_approved(services, sandbox, transfer, roles=roles)
    pump(azurite, services)
    return record(services, transfer["id"])


def deferred(services: Services, sandbox: SandboxHandle, azurite: Azurite) -> dict[str, Any]:
    """fabrikam's transfer, its access set up, Provisioned with nothing bought yet (it buys 14 days
    before the originals lapse)."""
    customer = sandbox.customer("fabrikam")
    transfer = started(services, customer, purchaseTiming="beforeLapse", purchaseLeadDays=14)
    sandbox.accept_invitation(customer)
    accepted(services, transfer)
    pump(azurite, services)
    return record(services, transfer["id"])


def relationship_status(services: Services, transfer: dict[str, Any]) -> str:
    relationship = record(services, transfer["id"])["gdap"]["relationshipId"]
    return services.delegated_admin.get_admin_relationship(relationship).status


def gdap_history(services: Services, transfer_id: str) -> list[str]:
    return [h["message"] for h in record(services, transfer_id)["history"] if h["action"] == "gdap"]


def test_once_approved_access_is_assigned_consented_and_verified_before_the_plan_each_write_once(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer = waiting_for_gdap(services, sandbox, azurite)

    gdap_approved(services, sandbox, transfer)
    for _ in range(2):  # the approval announced again: nothing is done twice
        gdap_approved(services, sandbox, transfer)
    pump(azurite, services)

    final = record(services, transfer["id"])
    assert final["state"] == "Provisioned", final["reason"]
    gdap = final["gdap"]
    assert (gdap["status"], gdap["access"]["assignmentStatus"], gdap["access"]["consented"]) == (
        "active",
        "active",
        True,
    )
    assert set(gdap["grantedRoles"]) == {
        "Directory Readers",
        "License Administrator",
        "Cloud Application Administrator",
    }
    assert len(api_calls(sandbox, "graph", "/accessAssignments", "POST")) == 1
    assert len(api_calls(sandbox, "partner_center", "/applicationconsents", "POST")) == 1
    messages = [h["message"] for h in final["history"]]
    verified = next(i for i, m in enumerate(messages) if m.startswith("delegated access verified"))
    assert verified < next(i for i, m in enumerate(messages) if m.startswith("planned:"))
    assert any(m.startswith("the customer accepted") for m in messages[:verified])
    assigned = services.delegated_admin.list_access_assignments(gdap["relationshipId"])
    assert [(a.group_id, set(a.role_ids)) for a in assigned] == [
        (sandbox.security_group_id, {ROLE_IDS[r] for r in gdap["grantedRoles"]})
    ]
    assert len(sandbox.purchases()) == 1


def test_without_license_administrator_the_transfer_stops_before_buying_naming_the_role(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    blocked = approved_with(services, sandbox, azurite, WITHOUT_LICENSING)

    assert blocked["state"] == "Blocked"
    assert "the customer has not granted License Administrator" in blocked["reason"]
    assert "nothing was bought" in blocked["reason"]
    assert blocked["lines"] == []  # not even planned
    assert sandbox.purchases() == []
    assert api_calls(sandbox, "partner_center", "/carts", "POST") == []


def test_retry_after_a_missing_role_withdraws_the_relationship_and_asks_for_a_new_one(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer = approved_with(services, sandbox, azurite, WITHOUT_LICENSING)
    first = transfer["gdap"]["relationshipId"]

    retried = routes(services).retry(transfer["id"])

    assert retried.status == 202
    second = retried.body["gdap"]
    assert second["relationshipId"] != first
    assert second["status"] == "approvalPending"
    assert services.delegated_admin.get_admin_relationship(first).status == "terminated"
    assert services.delegated_admin.get_admin_relationship(second["relationshipId"]).display_name.endswith(
        " (2)"
    )
    gdap_approved(services, sandbox, transfer)
    pump(azurite, services)
    assert record(services, transfer["id"])["state"] == "Provisioned"
    assert len(sandbox.purchases()) == 1


def test_without_cloud_application_administrator_no_consent_is_attempted(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    blocked = approved_with(services, sandbox, azurite, ["Directory Readers", "License Administrator"])

    assert blocked["state"] == "Blocked"
    assert "has not granted Cloud Application Administrator" in blocked["reason"]
    assert api_calls(sandbox, "partner_center", "/applicationconsents") == []


def test_an_assignment_made_before_a_crash_is_found_and_not_made_again(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer = waiting_for_gdap(services, sandbox, azurite)
    sandbox.approve_gdap(transfer["customerTenantId"])
    gdap = record(services, transfer["id"])["gdap"]
    roles = [ROLE_IDS[r] for r in gdap["roles"]]
    made = services.delegated_admin.create_access_assignment(
        gdap["relationshipId"], sandbox.security_group_id, roles
    )

    def crashed_after_the_write(r: Any) -> Change:  # the intent was stored, the answer was lost
        intent = replace(
            r.transfer.gdap, status="active", granted=tuple(gdap["roles"]), assignment_status="requested"
        )
        return Change(replace(r.transfer, gdap=intent))

    services.store.update(transfer["id"], crashed_after_the_write)
    gdap_approved(services, sandbox, transfer)
    pump(azurite, services)

    final = record(services, transfer["id"])
    assert final["gdap"]["access"]["assignmentId"] == made.id
    assert len(api_calls(sandbox, "graph", "/accessAssignments", "POST")) == 1
    assert final["state"] == "Provisioned", final["reason"]


def test_an_assignment_whose_answer_was_lost_is_found_on_the_next_look_and_made_once(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer = waiting_for_gdap(services, sandbox, azurite)
    sandbox.add_fault("drop_after_commit", service="graph", method="POST", path="/accessAssignments$")
    sandbox.add_fault(
        "drop_after_commit", service="partner_center", method="POST", path="/applicationconsents$"
    )
    fast = services.new_runner(access_poll_seconds=0.2)

    gdap_approved(services, sandbox, transfer)
    pump(azurite, services, runner=fast, idle_s=3)  # the step looks again after a short wait

    final = record(services, transfer["id"])
    assert final["state"] == "Provisioned", final["reason"]
    assert len(api_calls(sandbox, "graph", "/accessAssignments", "POST")) == 1
    consents = api_calls(sandbox, "partner_center", "/applicationconsents", "POST")
    assert len(consents) == 2  # sent again with the same request id: Partner Center answers as the first time
    assert len(services.delegated_admin.list_access_assignments(final["gdap"]["relationshipId"])) == 1


def test_a_consent_partner_center_already_holds_counts_as_made(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer = waiting_for_gdap(services, sandbox, azurite)
    customer = transfer["customerTenantId"]
    sandbox.set_gdap(customer, roles=["Cloud Application Administrator"], active=True)  # an earlier tool's
    services.partner_center.consent_application(
        customer,
        sandbox.client_id,
        CONSENT_GRANTS,
        "another tool",
        request_id="b0f7c1c2-3a4d-4e5f-8a9b-0c1d2e3f4a5b",
    )
    sandbox.set_gdap(customer, roles=[], active=False)

    gdap_approved(services, sandbox, transfer)
    pump(azurite, services)

    final = record(services, transfer["id"])
    assert final["state"] == "Provisioned", final["reason"]
    assert "the partner's application is consented in the customer's tenant (it was already)" in gdap_history(
        services, transfer["id"]
    )


def test_a_relationship_ended_before_the_transfer_is_done_stops_it_and_nothing_more_is_bought(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    waiting = deferred(services, sandbox, azurite)
    assert (waiting["state"], sandbox.purchases()) == ("Provisioned", [])  # buys 14 days before the lapse

    services.delegated_admin.terminate_admin_relationship(waiting["gdap"]["relationshipId"])  # removed
    announced(services, waiting)
    pump(azurite, services)

    stopped = record(services, waiting["id"])
    assert stopped["state"] == "Blocked"
    assert "is terminated: the product has no access" in stopped["reason"]
    sandbox.advance_clock(days=days_until_lapse(sandbox, stopped) - 10)  # the purchase would be due now
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=services.new_runner(clock=sandbox_time(sandbox)))
    assert sandbox.purchases() == []


def test_an_assignment_someone_removes_is_made_again_and_access_checked_again(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer = deferred(services, sandbox, azurite)
    gdap = transfer["gdap"]
    token = sandbox.mint_token(tenant_id=sandbox.partner_tenant_id, audience="graph")
    path = f"/v1.0/tenantRelationships/delegatedAdminRelationships/{gdap['relationshipId']}"
    removed = sandbox.http_session().delete(
        f"{sandbox.graph_endpoint}{path}/accessAssignments/{gdap['access']['assignmentId']}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert removed.status_code == 204

    announced(services, transfer)  # granular-admin-access-assignment-deleted
    pump(azurite, services)

    again = record(services, transfer["id"])["gdap"]
    assert again["access"]["assignmentId"] not in (None, gdap["access"]["assignmentId"])
    assert again["access"]["verifiedAt"] != gdap["access"]["verifiedAt"]
    assert "is gone: it is made again" in " ".join(gdap_history(services, transfer["id"]))


class RacedOnce(TransferStore):
    """The store as two messages share it: just before this one's first commit, the other commits."""

    def __init__(self, table: Any, other: Callable[[], object]) -> None:
        super().__init__(table)
        self._other: Callable[[], object] | None = other

    def commit(self, record: Any, change: Change) -> Any:
        if self._other is not None:
            other, self._other = self._other, None
            other()
        return super().commit(record, change)


def test_a_step_that_loses_a_race_to_another_message_looks_again_shortly_instead_of_failing(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = started(services, customer)
    sandbox.accept_invitation(customer)  # both links at once: the approval's event races the acceptance's

    def approval_handled_first() -> None:
        services.store.update(transfer["id"], lambda r: Change(replace(r.transfer, api_calls=1)))

    raced = services.new_runner(store=RacedOnce(services.store._table, approval_handled_first))
    outcome = raced.handle(acceptance(transfer))

    assert outcome.wait_seconds == CONFLICT_WAIT  # not the queue's visibility timeout, not a failure
    assert outcome.event is not None
    assert outcome.event.type is EventType.INVITATION_ACCEPTED
    assert record(services, transfer["id"])["state"] == "AwaitingAcceptance"
    services.queue.send(outcome.event)
    pump(azurite, services)
    assert record(services, transfer["id"])["state"] == "Provisioned"


def test_cancel_withdraws_the_pending_gdap_request(services: Services, sandbox: SandboxHandle) -> None:
    customer = sandbox.customer("fabrikam")
    _, transfer = start(services, customer)

    cancelled = routes(services).cancel(transfer["id"])

    assert cancelled.status == 200, cancelled.body
    assert cancelled.body["state"] == "Cancelled"
    assert (cancelled.body["gdap"]["status"], cancelled.body["gdap"]["access"]["ended"]) == (
        "terminated",
        "withdrawn",
    )
    assert relationship_status(services, transfer) == "terminated"
    sandbox.accept_invitation(customer)  # the customer can no longer approve it
    assert relationship_status(services, transfer) == "terminated"
    assert any(m.startswith("the GDAP request is withdrawn") for m in gdap_history(services, transfer["id"]))


def test_the_timer_notices_an_approval_no_webhook_announced(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer = waiting_for_gdap(services, sandbox, azurite)
    assert services.timer.scan().access == 0

    sandbox.approve_gdap(transfer["customerTenantId"])  # no webhook registered
    report = services.timer.scan()
    pump(azurite, services)

    assert report.access == 1
    assert record(services, transfer["id"])["state"] == "Provisioned"


def test_many_waiting_requests_are_checked_with_one_paged_listing(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer = waiting_for_gdap(services, sandbox, azurite)
    sandbox.approve_gdap(transfer["customerTenantId"])
    sandbox.clear_ledger()

    report = services.new_timer(point_reads_up_to=0).scan()

    reads = [r["path"] for r in api_calls(sandbox, "graph", "delegatedAdminRelationships", "GET")]
    assert [p.rsplit("/graph", 1)[-1] for p in reads] == [
        "/v1.0/tenantRelationships/delegatedAdminRelationships"
    ]
    assert report.access == 1


def test_a_gdap_webhook_queues_its_transfer_once_and_another_tools_relationship_is_ignored(
    services: Services, sandbox: SandboxHandle
) -> None:
    transfer = started(services, sandbox.customer("fabrikam"))
    ours = transfer["gdap"]["relationshipId"]

    def delivered(relationship: str, name: str = "granular-admin-relationship-approved") -> str:
        body = {
            "EventName": name,
            "ResourceUri": f"https://partner.microsoft.com/granularAdminRelationships/{relationship}",
            "ResourceName": "GranularAdminRelationship",
            "AuditUri": None,
            "ResourceChangeUtcDate": "2026-11-01T09:30:00.0000000+00:00",
        }
        return services.intake.take_webhook(PartnerCenterEvent.parse(json.dumps(body).encode()))

    assert delivered(ours) == "accepted"
    assert delivered(ours) == "duplicate"
    assert delivered(sandbox.ids.admin_relationships["contoso"]) == "ignored"
    assert delivered(ours, "granular-admin-access-assignment-deleted") == "accepted"  # someone removed it


def completed(services: Services, sandbox: SandboxHandle, azurite: Azurite, after: str) -> dict[str, Any]:
    """fabrikam's transfer of offers still sold (the cutover is only a check), taken to Completed by a
    workflow whose ``GDAP_AFTER_COMPLETION`` is ``after``."""
    customer = sandbox.customer("fabrikam")
    for sku in ("O365_E1", "M365_E3"):
        sandbox.set_offer(sandbox.ids.skus[sku], purchasable=True)
    transfer = started(services, customer)
    sandbox.accept_invitation(customer)
    accepted(services, transfer)
    access = replace(services.context.access, after_completion=after)
    pump(azurite, services, runner=services.new_runner(clock=sandbox_time(sandbox), access=access))
    sandbox.advance_clock(days=days_until_lapse(sandbox, record(services, transfer["id"])) - 3)
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=services.new_runner(clock=sandbox_time(sandbox), access=access))
    done = record(services, transfer["id"])
    assert done["state"] == "Completed", done["reason"]
    return done


def test_completion_with_end_ends_the_relationship_at_once(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    done = completed(services, sandbox, azurite, "end")

    assert (done["gdap"]["status"], done["gdap"]["access"]["ended"]) == ("terminated", "ended")
    assert relationship_status(services, done) == "terminated"
    ending = [h for h in done["history"] if h["action"] == "gdap"][-1]
    assert ending["message"].endswith("ended (GDAP_AFTER_COMPLETION: end)")
    assert done["history"][-1]["message"].startswith("completed:")  # ended before the summary


def test_completion_reduces_the_relationship_to_directory_readers_by_default(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    assert services.context.access.after_completion == "reduce"
    done = completed(services, sandbox, azurite, "reduce")

    gdap = done["gdap"]
    assert (gdap["status"], gdap["access"]["ended"]) == ("active", "reduced")
    assignment = services.delegated_admin.get_access_assignment(
        gdap["relationshipId"], gdap["access"]["assignmentId"]
    )
    assert assignment.role_ids == (ROLE_IDS["Directory Readers"],)
    assert list(services.graph.list_subscribed_skus(done["customerTenantId"]))  # reading still works
