"""Delegated access into the customer's tenant, set up and verified by the product.

Microsoft's secure application model needs three things per customer tenant before the partner's
application may read or change anything there: an active GDAP relationship (the customer approves
the request made at start), an access assignment giving the partner's security group the
relationship's roles, and the application's consent in the tenant. The steps here follow the
relationship (its webhooks, the timer's poll), then make the assignment and the consent, and verify
the result (a token for the tenant, a read, the roles planning and buying need) before anything is
planned or bought; a role the customer did not grant stops the transfer naming it. Once the
transfer is done the relationship is ended, or reduced to reading (``GDAP_AFTER_COMPLETION``);
cancelling a transfer withdraws it.

Every write is persisted as an intent first and is repeatable: the relationship is found by its
name before one is created, assignments are listed before one is made, and the consent carries a
request id persisted before the call (Partner Center answers 409 to a consent that exists).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

from shared.clients.errors import (
    GdapRoleMissingError,
    GraphError,
    OutcomeUnknownError,
    PartnerCenterError,
    RetryLaterError,
    ServiceError,
    TokenAcquisitionError,
    brief,
    call_details,
    said,
)
from shared.domain import Change, GdapRequest, HistoryEntry
from shared.domain.events import EventType, TransferEvent
from shared.resources.graph import AccessAssignment
from shared.store.records import TransferRecord
from shared.workflow.context import Next, StepContext
from shared.workflow.rules.access import (
    ACTIVE,
    CONSENT_ROLE,
    GDAP_ROLES,
    LICENSING_ROLES,
    PENDING,
    ROLE_IDS,
    is_active,
    missing_roles,
    relationship_name,
)

GDAP_APPROVAL_URL = (
    "https://admin.microsoft.com/AdminPortal/Home#/partners/invitation/granularAdminRelationships/{id}"
)


#: What the application is consented for: Microsoft Graph, delegated, read the directory and assign
#: licenses (the least Graph permissions of every call the product makes into the tenant).
CONSENT_GRANTS = {
    "00000003-0000-0000-c000-000000000000": "Directory.Read.All,LicenseAssignment.ReadWrite.All"
}


CONSENT_NAME = "csp-transfer"


#: How often a step waits for Microsoft to apply what it was given (an assignment to become active,
#: a consent or a role to take effect) before it stops the transfer saying which did not.
ACCESS_RETRIES = 20


LIVE = ("pending", "active")  # an access assignment that gives (or is about to give) its roles


def request_gdap(
    ctx: StepContext, record: TransferRecord, *, actor: str = "api", first: bool = False
) -> TransferRecord:
    """Ask for the roles of :data:`~shared.workflow.rules.access.GDAP_ROLES`; a name tied to the
    transfer (and to the attempt) makes a repeat find the first. ``first``: the transfer was stored
    by this very call, so no relationship can have its name yet and none is looked for.

    The relationship's id is indexed before the customer can approve it (the lock comes after), so
    its webhooks find the transfer. A failure is recorded, not raised: the transfer is stored and
    its invitation issued, and the workflow asks again when the transfer next moves.
    """
    transfer = record.transfer
    attempt = transfer.gdap.attempt + 1 if transfer.gdap else 1
    admin = ctx.delegated_admin
    try:
        name = relationship_name(transfer.id, attempt)
        relationship = None if first else admin.find_admin_relationship(name)
        if relationship is None:
            relationship = admin.create_admin_relationship(
                transfer.customer_tenant_id, name, sorted(GDAP_ROLES)
            )
        ctx.store.relationships.remember(relationship.id, transfer.id)
        if relationship.status == "created":
            admin.lock_admin_relationship_for_approval(relationship.id)
            relationship = replace(relationship, status="approvalPending")
    except ServiceError as error:
        message = (
            f"the GDAP request could not be made ({said(error)}); "
            "it is asked again when the transfer moves on"
        )
        return ctx.note(record, "gdap", message, actor=actor, details=call_details(error))
    gdap = GdapRequest(
        relationship_id=relationship.id,
        approval_url=GDAP_APPROVAL_URL.format(id=relationship.id),
        roles=tuple(GDAP_ROLES[r] for r in sorted(GDAP_ROLES)),
        status=relationship.status,
        attempt=attempt,
    )
    message = f"GDAP relationship requested ({', '.join(gdap.roles)}); approval link issued"
    return commit_access(ctx, record, gdap, message, actor=actor)


def request_access(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """The request could not be made at start: ask again (stop here if it fails once more)."""
    asked = request_gdap(ctx, record, actor="workflow")
    return Next(asked, stop=asked.transfer.gdap is None)


def follow_relationship(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """Read the relationship (and a pending assignment): record what moved, with the roles an
    active relationship holds. Nothing moved on an announcement: note it read and go on; nothing
    moved on a look while the request is pending: stop, the next announcement will look again."""
    gdap = record.transfer.gdap
    assert gdap is not None
    relationship = ctx.delegated_admin.get_admin_relationship(gdap.relationship_id)
    granted = tuple(sorted(GDAP_ROLES.get(r, r) for r in relationship.role_ids))
    read = replace(
        gdap, status=relationship.status, granted=granted if relationship.status in ACTIVE else gdap.granted
    )
    if read.assignment_id and read.assignment_status != "requested" and is_active(read):
        read = replace(read, assignment_status=_assignment_status(ctx, read))
        if read.assignment_status not in LIVE:  # someone removed it: made again, access checked again
            read = replace(read, assignment_id=None, assignment_status=None, verified_at=None)
    if read == gdap:
        if event.type is not EventType.ACCESS_CHANGED:  # a look while pending: nothing else to do yet
            return Next(record, stop=True)
        seen = replace(record.transfer, gdap=replace(gdap, read_for=event.event_id))
        return Next(ctx.commit(record, Change(seen)))  # announced, and read: on to what access needs
    read = replace(read, read_for=event.event_id)
    return Next(commit_access(ctx, record, read, _relationship_news(gdap, read), event_id=event.event_id))


def access_lost(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """The relationship ended (the customer removed it, or it expired) before the transfer was
    done: nothing more can be read or bought in the tenant until the customer approves a new one."""
    gdap = record.transfer.gdap
    assert gdap is not None
    return ctx.halt(
        record,
        f"the GDAP relationship is {gdap.status}: the product has no access to the "
        "customer's tenant any more; retry asks the customer for a new one",
    )


def assign_access(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """Give the partner's security group the relationship's roles (one assignment per group)."""
    gdap = record.transfer.gdap
    assert gdap is not None
    group = ctx.access.security_group_id.lower()
    roles = [ROLE_IDS.get(name, name) for name in gdap.granted]
    asked_before = gdap.assignment_status == "requested"
    if not asked_before:
        intent = replace(gdap, assignment_status="requested")
        message = f"access assignment asked for the partner's security group ({', '.join(gdap.granted)})"
        record = commit_access(ctx, record, intent, message)
    admin = ctx.delegated_admin
    # Listed before writing only when an earlier attempt may have made it (its intent is stored):
    # the relationship is this transfer's own, so on a first attempt it holds no assignment.
    made = [
        a
        for a in (admin.list_access_assignments(gdap.relationship_id) if asked_before else ())
        if a.group_id == group and _live(a)
    ]
    try:
        assignment = made[0] if made else admin.create_access_assignment(gdap.relationship_id, group, roles)
    except OutcomeUnknownError:  # Graph may have made it: the next look lists before it writes
        return Next(record, wait_seconds=access_wait(ctx, event))
    done = replace(gdap, assignment_id=assignment.id, assignment_status=assignment.status)
    return Next(commit_access(ctx, record, done, f"the access assignment is {assignment.status}"))


def await_assignment(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """An assignment is ``pending`` for a while after it is made: come back until it is active."""
    gdap = record.transfer.gdap
    assert gdap is not None
    assert gdap.assignment_id is not None
    status = _assignment_status(ctx, gdap)
    if status == "pending":
        if event.attempt >= ACCESS_RETRIES:
            return ctx.halt(record, f"the access assignment is still pending after {event.attempt} looks")
        return Next(record, wait_seconds=access_wait(ctx, event))
    if status not in LIVE:  # removed meanwhile: make it again
        lost = replace(gdap, assignment_id=None, assignment_status=None)
        return Next(commit_access(ctx, record, lost, f"the access assignment is {status}"))
    active = replace(gdap, assignment_status=status)
    holds = ", ".join(gdap.granted)
    message = f"the access assignment is active: the partner's security group holds {holds}"
    return Next(commit_access(ctx, record, active, message))


def consent_application(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """Consent the partner's application in the customer's tenant, through Partner Center."""
    transfer = record.transfer
    gdap = transfer.gdap
    assert gdap is not None
    if CONSENT_ROLE not in gdap.granted:
        return ctx.halt(
            record, _not_granted(gdap, [CONSENT_ROLE], "which consenting the partner's application needs")
        )
    # Partner Center makes a repeat safe (409: the consent exists), so nothing is stored before the
    # call; the request id is the transfer's and relationship's own, the same on every attempt.
    request_id = gdap.consent_request_id or str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"consent/{transfer.id}/{gdap.relationship_id}")
    )
    try:
        made = ctx.partner_center.consent_application(
            transfer.customer_tenant_id,
            ctx.access.application_id,
            CONSENT_GRANTS,
            CONSENT_NAME,
            request_id=request_id,
        )
    except PartnerCenterError as error:
        if error.status != 403 or isinstance(error, RetryLaterError):
            raise
        return _wait_or_halt(ctx, record, event, f"Partner Center refused the consent ({brief(error)})")
    message = "the partner's application is consented in the customer's tenant" + (
        "" if made else " (it was already)"
    )
    consented = replace(gdap, consent_request_id=request_id, consented=True)
    return Next(commit_access(ctx, record, consented, message))


def verify_access(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """Before anything is planned or bought: the roles the transfer needs are granted and assigned,
    a token for the customer's tenant is issued, and a read there succeeds."""
    gdap = record.transfer.gdap
    assert gdap is not None
    missing = missing_roles(gdap, LICENSING_ROLES)
    if missing:
        return ctx.halt(
            record, _not_granted(gdap, missing, "which assigning licenses needs; nothing was bought")
        )
    try:
        country = ctx.graph.get_organization(record.transfer.customer_tenant_id).country_letter_code
    except TokenAcquisitionError as error:
        if isinstance(error, RetryLaterError) or error.retryable:
            raise
        reason = f"Entra issues no token for the customer's tenant ({error.error}: {error.description[:160]})"
        return _wait_or_halt(ctx, record, event, reason)
    except GdapRoleMissingError as error:
        reason = (
            f"no GDAP role takes effect in the customer's tenant ({brief(error)}): check that the partner "
            f"user of the stored refresh token is a member of security group {ctx.access.security_group_id}"
        )
        return _wait_or_halt(ctx, record, event, reason)
    verified = replace(gdap, verified_at=ctx.now().isoformat(), tenant_country=country or "")
    message = (
        f"delegated access verified: a token for the customer's tenant, a read (country {country or '-'}), "
        f"and {', '.join(LICENSING_ROLES)} granted and assigned"
    )
    return Next(commit_access(ctx, record, verified, message))


def access_wait(ctx: StepContext, event: TransferEvent) -> float:
    """How long to let Microsoft apply an assignment, a consent or a role before looking again."""
    return min(ctx.access_poll_seconds * (event.attempt + 1), 300.0)


def _wait_or_halt(ctx: StepContext, record: TransferRecord, event: TransferEvent, reason: str) -> Next:
    """Microsoft applies consents and roles a little after it accepts them: look again for a while,
    then stop the transfer with the reason (``retry`` looks again)."""
    if event.attempt < ACCESS_RETRIES:
        return Next(record, wait_seconds=access_wait(ctx, event))
    return ctx.halt(record, f"{reason}; nothing was bought")


def _not_granted(gdap: GdapRequest, missing: list[str], needed_for: str) -> str:
    held = ", ".join(gdap.granted) or "no role"
    return (
        f"the customer has not granted {' and '.join(missing)} ({needed_for}): the GDAP relationship "
        f"holds {held}; retry asks the customer for a new relationship with "
        f"{', '.join(gdap.roles)}"
    )


def _relationship_news(before: GdapRequest, after: GdapRequest) -> str:
    if before.status == after.status and after.assignment_id is None:
        return "the access assignment is gone: it is made again, and access checked again"
    if before.status == after.status:
        return f"the access assignment is {after.assignment_status}"
    if after.status in ACTIVE and before.status in PENDING:
        holds = ", ".join(after.granted)
        return f"the customer approved the GDAP relationship: it is {after.status} and holds {holds}"
    return f"the GDAP relationship is {after.status} (it was {before.status})"


def _live(assignment: AccessAssignment) -> bool:
    return assignment.status in LIVE


def _assignment_status(ctx: StepContext, gdap: GdapRequest) -> str:
    """The recorded assignment's status now; ``deleted`` when Graph no longer knows it (404)."""
    assert gdap.assignment_id is not None
    try:
        return ctx.delegated_admin.get_access_assignment(gdap.relationship_id, gdap.assignment_id).status
    except GraphError as error:
        if error.status == 404:
            return "deleted"
        raise


def gdap_details(gdap: GdapRequest) -> tuple[tuple[str, str], ...]:
    """The relationship's ids, kept beside a history row's sentence for an admin who needs them."""
    named = (
        ("relationshipId", gdap.relationship_id),
        ("accessAssignmentId", gdap.assignment_id),
        ("consentRequestId", gdap.consent_request_id),
    )
    return tuple((key, value) for key, value in named if value)


def commit_access(
    ctx: StepContext,
    record: TransferRecord,
    gdap: GdapRequest,
    message: str,
    *,
    actor: str = "workflow",
    event_id: str | None = None,
) -> TransferRecord:
    at: datetime = ctx.now()
    entry = gdap_entry(gdap, message, at, actor=actor, event_id=event_id)
    return ctx.commit(record, Change(replace(record.transfer, gdap=gdap, updated_at=at), history=(entry,)))


def gdap_entry(
    gdap: GdapRequest, message: str, at: datetime, *, actor: str = "workflow", event_id: str | None = None
) -> HistoryEntry:
    """A history row about the relationship: a sentence, with its ids kept apart in ``details``."""
    return HistoryEntry(
        at=at, action="gdap", actor=actor, message=message, event_id=event_id, details=gdap_details(gdap)
    )
