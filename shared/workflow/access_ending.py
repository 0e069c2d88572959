"""Giving delegated access up: once the transfer is done (reduced to reading while the originals are
watched, then ended; or ended at once), when it is cancelled (the request withdrawn), or when a
retry asks the customer for a new relationship. A failure here is noted in the history, never a
reason to fail a finished transfer."""

from __future__ import annotations

from dataclasses import replace

from shared.clients.errors import OutcomeUnknownError, RetryLaterError, ServiceError, brief
from shared.domain import GdapRequest
from shared.domain.events import TransferEvent
from shared.store.records import TransferRecord
from shared.workflow.access import ACCESS_RETRIES, access_wait, commit_access, request_gdap
from shared.workflow.context import Next, StepContext
from shared.workflow.rules.access import ACTIVE, PENDING, READING_ROLES, ROLE_IDS, is_ended


def end_access(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """Every line done: end the relationship, or reduce its assignment to reading, as set (least
    privilege by default). A failure is noted, never a reason to fail a finished transfer."""
    gdap = record.transfer.gdap
    assert gdap is not None
    reduce = ctx.access.after_completion == "reduce" and gdap.assignment_id is not None
    if gdap.ended != "ending":
        gdap = replace(gdap, ended="ending")
        what = "reducing its access assignment to " + ", ".join(READING_ROLES) if reduce else "ending it"
        record = commit_access(
            ctx, record, gdap, f"the transfer is done, so its GDAP relationship is no longer needed: {what}"
        )
    try:
        gdap = _reduce(ctx, gdap) if reduce else _end(ctx, gdap)
    except RetryLaterError:
        raise
    except ServiceError as error:
        again = error.retryable or isinstance(error, OutcomeUnknownError)  # each look reads first
        if again and event.attempt < ACCESS_RETRIES:
            return Next(record, wait_seconds=access_wait(ctx, event))
        gdap = replace(gdap, ended="failed")
        message = f"the GDAP relationship was not ended ({brief(error)}): end it in Partner Center"
        return Next(commit_access(ctx, record, gdap, message))
    setting = ctx.access.after_completion
    message = f"the GDAP relationship is {gdap.ended} (GDAP_AFTER_COMPLETION: {setting})"
    return Next(commit_access(ctx, record, gdap, message))


def end_after_watch(ctx: StepContext, record: TransferRecord) -> TransferRecord:
    """Every original has lapsed: the reading kept to watch them is no longer needed, so a reduced
    relationship is ended. A failure is noted, never a reason to fail a finished transfer."""
    gdap = record.transfer.gdap
    if gdap is None or gdap.ended != "reduced":
        return record
    try:
        ended = _end(ctx, gdap)
    except RetryLaterError:
        raise
    except ServiceError as error:
        note = f"the GDAP relationship was not ended ({brief(error)}): end it in Partner Center"
        return commit_access(ctx, record, gdap, note)
    return commit_access(ctx, record, ended, "every original has lapsed: the GDAP relationship is ended")


def withdraw(ctx: StepContext, record: TransferRecord) -> GdapRequest | None:
    """Cancelling: the relationship, still pending (or approved but now unneeded), is terminated.
    None when there is nothing to withdraw."""
    gdap = record.transfer.gdap
    if gdap is None or is_ended(gdap) or gdap.ended in ("ended", "withdrawn"):
        return None
    relationship = ctx.delegated_admin.get_admin_relationship(gdap.relationship_id)
    if relationship.status in PENDING - {"created"} or relationship.status in ACTIVE:
        ctx.delegated_admin.terminate_admin_relationship(gdap.relationship_id)
        relationship = replace(relationship, status="terminated")
    return replace(gdap, status=relationship.status, ended="withdrawn")


def _end(ctx: StepContext, gdap: GdapRequest) -> GdapRequest:
    relationship = ctx.delegated_admin.get_admin_relationship(gdap.relationship_id)
    if relationship.status in ACTIVE or relationship.status == "approvalPending":
        ctx.delegated_admin.terminate_admin_relationship(gdap.relationship_id)
        relationship = replace(relationship, status="terminated")
    return replace(gdap, status=relationship.status, ended="ended")


def _reduce(ctx: StepContext, gdap: GdapRequest) -> GdapRequest:
    assert gdap.assignment_id is not None
    assignment = ctx.delegated_admin.get_access_assignment(gdap.relationship_id, gdap.assignment_id)
    reading = sorted(ROLE_IDS[name] for name in READING_ROLES)
    if sorted(assignment.role_ids) != reading:
        ctx.delegated_admin.update_access_assignment(gdap.relationship_id, assignment, reading)
    return replace(gdap, ended="reduced")


def renew(ctx: StepContext, record: TransferRecord) -> TransferRecord:
    """``retry`` of a transfer whose relationship cannot serve (ended, or without a needed role):
    withdraw it and ask the customer for a new one."""
    old = withdraw(ctx, record)
    if old is not None:
        record = commit_access(ctx, record, old, "the GDAP relationship is withdrawn", actor="api")
    return request_gdap(ctx, record)
