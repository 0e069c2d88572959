"""What an admin can do to a transfer: start it, decide its waiting lines, retry it, cancel it.

Each use case reads and changes the record through the store's optimistic update (re-read and
decided again on a conflict), then wakes the workflow with a ``transfer-continue`` message; the
work itself is done by the steps. Refusals raise: :class:`IllegalTransitionError` for an action the
state does not allow, :class:`RegionMismatchError` and
:class:`~shared.workflow.rules.partner_transfer.InvalidSourcePartnerError` at start (nothing
stored), and the store's :class:`~shared.store.errors.ActiveTransferExistsError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import ClassVar

from shared.domain import (
    UNDECIDED,
    Change,
    ChoiceError,
    CustomerContact,
    GdapRequest,
    HistoryEntry,
    IllegalTransitionError,
    LineState,
    SourceChannel,
    SourcePartner,
    Transfer,
    TransferOptions,
    TransferState,
    merged,
    new_transfer_id,
)
from shared.domain.errors import ErrorKind
from shared.domain.regions import region_of, same_region
from shared.store.records import TransferRecord
from shared.workflow.access import commit_access, gdap_entry, request_gdap
from shared.workflow.access_ending import renew, withdraw
from shared.workflow.context import StepContext
from shared.workflow.customers import find_customer
from shared.workflow.partner_transfer import cancel_request, fallback
from shared.workflow.refunds import cancel_with_refund
from shared.workflow.rules.access import needs_new_request
from shared.workflow.rules.partner_transfer import buy_at_once, check_source_partner, is_deferred
from shared.workflow.rules.progress import retried


class RegionMismatchError(ValueError):
    """The customer's country is outside the partner's CSP region: the partner may not sell there."""

    kind: ClassVar[ErrorKind] = ErrorKind.REGION_MISMATCH


@dataclass(frozen=True, slots=True)
class StartRequest:
    customer_tenant_id: str | None  # the customer's tenant id, or else
    customer_country: str
    source_channel: SourceChannel
    contact_email: str | None = None
    options: TransferOptions = field(default_factory=TransferOptions)
    source_partner: SourcePartner | None = None  # asks it for a partner-to-partner transfer
    customer_contact: CustomerContact | None = None  # who accepted the Microsoft Customer Agreement
    customer_domain: str | None = None  # one of its domains, which Graph resolves to the tenant


def start_transfer(ctx: StepContext, request: StartRequest) -> TransferRecord:
    """Check the region, find the customer by its domain or tenant id (and its name), store the
    transfer, and ask for the two things the customer must grant: the reseller relationship (its
    invitation link) and GDAP (its approval link)."""
    partner = ctx.partner
    if request.source_partner is not None:
        check_source_partner(request.source_partner, partner.tenant_id)
    if not same_region(partner.country, request.customer_country):
        raise RegionMismatchError(
            f"the customer's country {request.customer_country} is in the CSP region "
            f"{region_of(request.customer_country)}, but the partner ({partner.country}) sells in "
            f"{region_of(partner.country)}; a partner takes over customers in its own region only"
        )
    customer = find_customer(
        ctx, tenant_id=request.customer_tenant_id, domain=request.customer_domain, lenient=True
    )
    invitation = ctx.partner_center.get_relationship_request_url()
    now = ctx.now()
    transfer = Transfer(
        id=new_transfer_id(),
        customer_tenant_id=customer.tenant_id.lower(),
        customer_country=request.customer_country,
        source_channel=request.source_channel,
        state=TransferState.AWAITING_ACCEPTANCE,
        created_at=now,
        updated_at=now,
        contact_email=request.contact_email,
        options=request.options,
        invitation_url=invitation,
        source_partner=request.source_partner,
        customer_contact=request.customer_contact,
        customer_name=customer.name,
        customer_domain=customer.domain,
    )
    entry = HistoryEntry(
        at=now, action="created", actor="api", message="transfer started; reseller invitation link issued"
    )
    return request_gdap(ctx, ctx.store.create(transfer, history=entry), first=True)


def approve(
    ctx: StepContext,
    transfer_id: str,
    approve: Iterable[str],
    decline: Iterable[str],
    choose: Mapping[str, str] | None = None,
) -> TransferRecord:
    """Decide the lines that wait for an admin; once none waits, the transfer goes on. A deferred
    line (a partner transfer's fallback, say) can be approved to buy at once. A line with options
    (above a seat cap per customer) is approved with the option ``choose`` names for it."""
    approved, declined, chosen = set(approve), set(decline), dict(choose or {})
    if approved & declined:
        raise IllegalTransitionError(f"lines both approved and declined: {sorted(approved & declined)}")
    if set(chosen) - approved:
        raise ChoiceError(f"options are chosen only for lines approved: {sorted(set(chosen) - approved)}")

    def decide(record: TransferRecord) -> Change:
        at = ctx.now()
        deferred = {x.id for x in record.lines if x.id in approved and is_deferred(x, at)}
        if record.transfer.state is not TransferState.BLOCKED and (declined or approved - deferred):
            raise IllegalTransitionError(
                f"the transfer is {record.transfer.state}; lines are approved only while it is Blocked"
            )
        unknown = sorted((approved | declined) - {line.id for line in record.lines})
        if unknown:
            raise IllegalTransitionError(f"the transfer has no lines {unknown}")
        lines, history = [], []
        for line in record.lines:
            if line.id in deferred:
                moved, entry = buy_at_once(line, at)
            elif line.id in approved:
                if line.state is not LineState.NEEDS_APPROVAL:
                    raise IllegalTransitionError(
                        f"line {line.id} is {line.state}; only a line that needs approval can be approved"
                    )
                if line.choices or line.id in chosen:
                    moved, entry = line.choose(chosen.get(line.id), at=at, actor="api")
                else:
                    moved, entry = line.move(LineState.PLANNED, at=at, actor="api")
            elif line.id in declined:
                moved, entry = line.move(LineState.SKIPPED, at=at, actor="api")
                moved = replace(moved, reason="declined by an admin")
            else:
                continue
            lines.append(moved)
            history.append(entry)
        transfer = record.transfer
        waiting = [x for x in merged(record.lines, lines) if x.state in UNDECIDED]
        if not waiting and transfer.state is TransferState.BLOCKED:
            transfer, entry = transfer.resume(at=at, actor="api")
            history.append(entry)
        return Change(replace(transfer, updated_at=at), tuple(lines), tuple(history))

    record = ctx.store.update(transfer_id, decide)
    ctx.wake(record.transfer, "admin")
    return record


def retry(
    ctx: StepContext, transfer_id: str, customer_contact: CustomerContact | None = None
) -> TransferRecord:
    """Re-drive a blocked or failed transfer from the step where it stopped; failed lines go again,
    their failed users only. ``customer_contact`` (who at the customer accepted the Microsoft
    Customer Agreement) is what a transfer blocked on that agreement needs to go on."""

    def decide(record: TransferRecord) -> Change:
        # Resuming past lines that wait for a decision would buy the others and strand these.
        undecided = sorted(x.id for x in record.lines if x.state in UNDECIDED)
        if undecided:
            raise IllegalTransitionError(
                f"lines {undecided} wait for an admin's decision: approve or decline them instead"
            )
        at = ctx.now()
        transfer, entry = record.transfer.resume(at=at, actor="api")
        purchase = transfer.purchase
        if purchase is not None and not purchase.checkout_attempts:
            # Nothing was checked out: new request ids, so a refused cart is not replayed.
            transfer = replace(transfer, purchase=None)
        lines, history = [], [entry]
        if customer_contact is not None:  # personal data: kept for the confirmation, never in history
            transfer = replace(transfer, customer_contact=customer_contact)
            message = "an admin gave the customer's contact for the Microsoft Customer Agreement"
            history.append(HistoryEntry(at=at, action="customer-contact", actor="api", message=message))
        for line in record.lines:
            if line.state is LineState.FAILED:
                resumed, line_entry = line.resume(at=at, actor="api")
                lines.append(retried(resumed))
                history.append(line_entry)
        return Change(transfer, tuple(lines), tuple(history))

    record = ctx.store.update(transfer_id, decide)
    try:
        # No link yet (the request at start failed), or the relationship cannot serve any more (it
        # ended, or was approved without a role the transfer needs): ask the customer again.
        if needs_new_request(record.transfer):
            record = renew(ctx, record)
    finally:  # resumed is committed: without its message it would wait for the timer's nudge
        ctx.wake(record.transfer, "admin")
    return record


def cancel(
    ctx: StepContext, transfer_id: str, *, partner_transfer_only: bool = False, refund_purchases: bool = False
) -> TransferRecord:
    """Stop the transfer; refused once anything may have been bought, unless ``refund_purchases``
    cancels what was bought inside its cancellation window (:mod:`shared.workflow.refunds`). A
    pending partner transfer request is cancelled at Partner Center first, and the GDAP relationship
    withdrawn; with ``partner_transfer_only`` only the partner transfer request is, and its lines
    fall back to the rebuy path."""
    if refund_purchases:
        return _withdraw_access(ctx, cancel_with_refund(ctx, transfer_id))
    record = ctx.store.get(transfer_id)
    if record.transfer.is_active and not partner_transfer_only:
        record.transfer.cancel(record.lines, at=ctx.now(), actor="api")  # refuse before touching PC
    request = cancel_request(ctx, record)
    if partner_transfer_only:
        if request is None or not request.status.finished:
            raise IllegalTransitionError("the transfer has no pending partner transfer request to cancel")
        reason = "an admin cancelled the transfer request"
        record = ctx.store.update(transfer_id, lambda r: fallback(ctx, r, request.status, reason))
        ctx.wake(record.transfer, "admin")
        return record

    withdrawn = withdraw(ctx, record) if record.transfer.is_active else None

    def decide(record: TransferRecord) -> Change:
        transfer, entry = record.transfer.cancel(record.lines, at=ctx.now(), actor="api")
        if request is not None and transfer.partner_transfer is not None:
            status = request.status.value
            transfer = replace(transfer, partner_transfer=replace(transfer.partner_transfer, status=status))
        if withdrawn is None:
            return Change(transfer, history=(entry,))
        note = gdap_entry(withdrawn, _withdrawn(withdrawn), entry.at, actor="api")
        return Change(replace(transfer, gdap=withdrawn), history=(entry, note))

    return ctx.store.update(transfer_id, decide)


def _withdraw_access(ctx: StepContext, record: TransferRecord) -> TransferRecord:
    """After a refund cancel, the relationship the transfer asked for is of no more use: withdrawn."""
    withdrawn = withdraw(ctx, record)
    if withdrawn is None:
        return record
    return commit_access(ctx, record, withdrawn, _withdrawn(withdrawn), actor="api")


def _withdrawn(gdap: GdapRequest) -> str:
    return f"the GDAP request is withdrawn ({gdap.status})"
