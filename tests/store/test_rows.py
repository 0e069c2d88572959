"""The transfer header as a table row and back: what a checkout records survives the round trip."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.domain import (
    AgreementBasis,
    AgreementStatus,
    CustomerAgreement,
    CustomerContact,
    SourceChannel,
    Transfer,
    TransferState,
    new_transfer_id,
)
from shared.store.rows import transfer_from_row, transfer_row


def test_the_contact_the_agreement_and_the_segment_read_back_as_written():
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    agreement = CustomerAgreement.intended("117a77b0-9360-443b-8795-c6dedc750cf9", at).confirm(
        AgreementBasis.ATTESTED, at
    )
    transfer = Transfer(
        id=new_transfer_id(),
        customer_tenant_id="8d1c9a43-7c4e-4b8a-9f55-3c2f5a8e6b10",
        customer_country="US",
        source_channel=SourceChannel.DIRECT,
        state=TransferState.PROVISIONING,
        created_at=at,
        updated_at=at,
        customer_contact=CustomerContact("Ada", "Admin", "ada@contoso.example"),
        agreement=agreement,
        segment="education",
    )

    back = transfer_from_row(transfer_row(transfer, version=1))

    assert back == transfer
    assert back.agreement is not None
    assert (back.agreement.status, back.agreement.basis) == (
        AgreementStatus.CONFIRMED,
        AgreementBasis.ATTESTED,
    )
