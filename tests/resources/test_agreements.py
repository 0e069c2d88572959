"""The customer agreement, qualification and attestation shapes, as the Learn pages document them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.resources import MalformedResourceError
from shared.resources.agreements import Agreement, AgreementConfirmation, qualifications_from_json
from shared.resources.commerce import CartLineItem
from shared.resources.partner_center import Sku


def test_qualifications_read_the_current_array_and_the_older_object():
    current = [
        {"qualification": "Education", "vettingStatus": "InReview", "vettingCreatedDate": "2020-12-03"}
    ]
    older = {"qualifications": [{"qualification": "Education", "vettingStatus": "Approved"}]}

    [in_review] = qualifications_from_json(current)
    [approved] = qualifications_from_json(older)

    assert (in_review.qualification, in_review.approved) == ("Education", False)
    assert approved.approved
    assert qualifications_from_json([]) == ()
    with pytest.raises(MalformedResourceError):
        qualifications_from_json("Education")


def test_an_agreement_keeps_no_contact_and_a_confirmation_sends_one():
    agreement = Agreement.from_json(
        {
            "primaryContact": {"firstName": "Tania", "lastName": "Carr", "email": "someone@example.com"},
            "templateId": "117a77b0-9360-443b-8795-c6dedc750cf9",
            "dateAgreed": "2019-08-26T00:00:00",
            "type": "MicrosoftCustomerAgreement",
        }
    )
    body = AgreementConfirmation(
        "Tania", "Carr", "someone@example.com", None, agreement.template_id, datetime(2018, 6, 14, tzinfo=UTC)
    ).to_json()

    assert not hasattr(agreement, "primary_contact")
    assert agreement.date_agreed == datetime(2019, 8, 26, tzinfo=UTC)
    assert body == {
        "primaryContact": {"firstName": "Tania", "lastName": "Carr", "email": "someone@example.com"},
        "templateId": "117a77b0-9360-443b-8795-c6dedc750cf9",
        "dateAgreed": "2018-06-14T00:00:00.000Z",
        "type": "MicrosoftCustomerAgreement",
    }


def test_a_sku_that_enforces_attestation_has_its_cart_line_accept_it():
    sku = Sku.from_json(
        {
            "id": "0001",
            "productId": "CFQ7TTC0LH18",
            "attestationProperties": {"attestationType": "Terms", "enforceAttestation": True},
        }
    )
    line = CartLineItem("CFQ7TTC0LH18:0001:CFQ7TTC0K971", 1, "P1Y", "monthly", attestation_accepted=True)

    assert sku.enforces_attestation
    assert not Sku.from_json({"id": "0001", "productId": "CFQ7TTC0LH18"}).enforces_attestation
    assert line.to_json()["attestationAccepted"] is True
    assert "attestationAccepted" not in CartLineItem("x:y:z", 1, "P1Y", "monthly").to_json()
