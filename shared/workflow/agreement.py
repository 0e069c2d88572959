"""The customer's Microsoft Customer Agreement, confirmed before anything is checked out.

"Purchase new commerce license-based subscriptions" lists the "confirmation of the customer's
acceptance of the Microsoft Customer Agreement" as a prerequisite, and customers who bought
through another channel often cannot accept it themselves: the partner then confirms it on their
behalf ("Confirm customer acceptance of the Microsoft Customer Agreement"). :func:`confirm_agreement`
is the step the runner's table reaches before a purchase's intent while the transfer has no
confirmed agreement:

1. an acceptance a partner confirmed before (``GET .../agreements``) or the customer signed itself
   (``GET .../directSignedMicrosoftCustomerAgreementStatus``) is recorded, with how and when;
2. else, given the customer's contact (``customerContact``), this partner confirms it: the
   confirmation (its ``MS-RequestId``, template and ``dateAgreed``) is persisted and each attempt
   counted before the POST, and after an attempt whose answer was lost the agreements are read
   again before it is sent a second time;
3. else the transfer is Blocked, naming what is needed; a retry (with the contact) goes on.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from shared.clients.errors import AgreementAlreadyConfirmedError, OutcomeUnknownError, PartnerCenterError
from shared.domain import (
    AgreementBasis,
    AgreementStatus,
    Change,
    CustomerAgreement,
    HistoryEntry,
    Transfer,
    TransferState,
)
from shared.domain.events import TransferEvent
from shared.resources.agreements import AgreementConfirmation
from shared.store.records import TransferRecord
from shared.workflow.context import Next, StepContext

MCA = "the Microsoft Customer Agreement"
CONTACT_NEEDED = (
    f"the customer has not accepted {MCA} and no partner has confirmed it, so Partner Center would "
    "refuse the order: the customer's admin accepts it in the Microsoft 365 admin center, or an admin "
    "gives the contact of the customer's person who accepted it (customerContact: firstName, lastName, "
    "email, phoneNumber) with POST /api/transfers/{id}/retry; nothing is bought until then"
)


def is_confirmed(transfer: Transfer) -> bool:
    return transfer.agreement is not None and transfer.agreement.confirmed


def confirm_agreement(ctx: StepContext, record: TransferRecord, event: TransferEvent) -> Next:
    """Record how the agreement is accepted, confirm it on the customer's behalf, or block."""
    transfer = record.transfer
    if transfer.agreement is not None and transfer.agreement.status is AgreementStatus.INTENDED:
        return _send(ctx, record, transfer.agreement)
    customer = transfer.customer_tenant_id
    confirmed = ctx.partner_center.list_customer_agreements(customer)
    if confirmed:
        agreed = max((a.date_agreed for a in confirmed if a.date_agreed), default=None)
        return Next(_confirmed(ctx, record, AgreementBasis.CONFIRMED_EARLIER, agreed))
    if ctx.partner_center.is_customer_agreement_signed_directly(customer):
        return Next(_confirmed(ctx, record, AgreementBasis.SIGNED_DIRECTLY, None))
    if transfer.customer_contact is None:
        return _halt(ctx, record, CONTACT_NEEDED.replace("{id}", transfer.id))
    at = ctx.now()
    intent = CustomerAgreement.intended(ctx.partner_center.get_agreement_metadata().template_id, at)
    message = f"confirming the customer's acceptance of {MCA} on its behalf, with the contact an admin gave"
    details = (("requestId", intent.request_id or ""),)
    entry = HistoryEntry(at=at, action="agreement-intent", message=message, details=details)
    record = ctx.commit(record, Change(replace(transfer, agreement=intent, updated_at=at), history=(entry,)))
    return _send(ctx, record, intent)


def _send(ctx: StepContext, record: TransferRecord, intent: CustomerAgreement) -> Next:
    """The confirmation, sent once per counted attempt; read back first after a lost answer."""
    transfer = record.transfer
    customer, contact = transfer.customer_tenant_id, transfer.customer_contact
    if intent.attempts and ctx.partner_center.list_customer_agreements(customer):
        return Next(_confirmed(ctx, record, AgreementBasis.ATTESTED, None))
    if contact is None or intent.template_id is None or intent.date_agreed is None:
        return _halt(ctx, record, CONTACT_NEEDED.replace("{id}", transfer.id))
    counted = replace(intent, attempts=intent.attempts + 1)
    record = ctx.commit(record, Change(replace(transfer, agreement=counted)))
    confirmation = AgreementConfirmation(
        first_name=contact.first_name,
        last_name=contact.last_name,
        email=contact.email,
        phone_number=contact.phone_number,
        template_id=intent.template_id,
        date_agreed=datetime.fromisoformat(intent.date_agreed),
    )
    try:
        ctx.partner_center.confirm_customer_agreement(
            customer, confirmation, request_id=counted.request_id or ""
        )
    except AgreementAlreadyConfirmedError:
        pass  # the same confirmation was made before: it stands
    except OutcomeUnknownError:
        return Next(record)  # it may have been made: the step reads the agreements again first
    except PartnerCenterError as error:
        if error.retryable or error.status is None or error.status >= 500:
            raise
        # Its code only: Partner Center's text may quote the contact, which no record message holds.
        reason = (
            f"Partner Center refused the confirmation of the customer's acceptance of {MCA} "
            f"(HTTP {error.status}, code {error.code}); correct the customer's contact and give it with "
            f"POST /api/transfers/{transfer.id}/retry"
        )
        return _halt(ctx, record, reason)
    return Next(_confirmed(ctx, record, AgreementBasis.ATTESTED, None))


_HOW = {
    AgreementBasis.SIGNED_DIRECTLY: f"the customer accepted {MCA} itself",
    AgreementBasis.CONFIRMED_EARLIER: f"a partner confirmed the customer's acceptance of {MCA} before",
    AgreementBasis.ATTESTED: f"this partner confirmed the customer's acceptance of {MCA} on its behalf",
}


def _confirmed(
    ctx: StepContext, record: TransferRecord, basis: AgreementBasis, agreed: datetime | None
) -> TransferRecord:
    at = ctx.now()
    transfer = record.transfer
    agreement = (transfer.agreement or CustomerAgreement(AgreementStatus.CONFIRMED)).confirm(
        basis, at, agreed
    )
    when = f" (accepted on {agreement.date_agreed[:10]})" if agreement.date_agreed else ""
    entry = HistoryEntry(at=at, action="agreement", message=f"{_HOW[basis]}{when}; orders may be placed")
    return ctx.commit(record, Change(replace(transfer, agreement=agreement, updated_at=at), history=(entry,)))


def _halt(ctx: StepContext, record: TransferRecord, reason: str) -> Next:
    """Blocked, nothing bought; the agreement is looked up again (and confirmed) on retry."""
    needed = replace(record.transfer, agreement=CustomerAgreement(AgreementStatus.CONTACT_NEEDED))
    blocked, entry = needed.move(TransferState.BLOCKED, at=ctx.now(), actor="workflow", reason=reason)
    return Next(ctx.commit(record, Change(blocked, history=(entry,))), stop=True)
