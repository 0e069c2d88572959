"""The customer's Microsoft Customer Agreement and qualifications, as Partner Center shows them.

Contact details in an ``Agreement`` are personal data: they are sent when the partner confirms an
acceptance, and never kept from an answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.resources import MalformedResourceError, field, objects, optional, timestamp

MICROSOFT_CUSTOMER_AGREEMENT = "MicrosoftCustomerAgreement"


@dataclass(frozen=True, slots=True)
class AgreementMetadata:
    """``AgreementMetaData``: the agreement's ``templateId``, which a confirmation must name."""

    template_id: str
    agreement_type: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AgreementMetadata:
        r = "AgreementMetaData"
        return cls(
            template_id=field(data, "templateId", str, resource=r),
            agreement_type=optional(data, "agreementType", str, "", resource=r),
        )


@dataclass(frozen=True, slots=True)
class Agreement:
    """An acceptance a partner confirmed: which agreement, and when the customer accepted it."""

    type: str
    template_id: str
    date_agreed: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Agreement:
        r = "Agreement"
        return cls(
            type=optional(data, "type", str, "", resource=r),
            template_id=optional(data, "templateId", str, "", resource=r),
            date_agreed=timestamp(data, "dateAgreed", resource=r),
        )


@dataclass(frozen=True, slots=True)
class Qualification:
    """One of the customer's qualifications (Education, GovernmentCommunityCloud, Nonprofit,
    StateOwnedEntity...) and how far Microsoft's vetting of it went (Approved, InReview, Denied)."""

    qualification: str
    vetting_status: str | None = None

    @property
    def approved(self) -> bool:
        """Approved, or without a vetting status (the older, synchronous answers have none)."""
        return self.vetting_status is None or self.vetting_status.lower() == "approved"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Qualification:
        r = "Qualification"
        return cls(
            qualification=field(data, "qualification", str, resource=r),
            vetting_status=optional(data, "vettingStatus", str, None, resource=r),
        )


def qualifications_from_json(data: Any) -> tuple[Qualification, ...]:
    """The answer of ``GET .../qualifications``: a JSON array (the current page), or an object with
    ``qualifications`` or ``items`` (older pages)."""
    if isinstance(data, dict):
        key = "qualifications" if "qualifications" in data else "items"
        return tuple(Qualification.from_json(q) for q in objects(data, key, resource="Qualifications"))
    if not isinstance(data, list) or not all(isinstance(q, dict) for q in data):
        raise MalformedResourceError("Qualifications: expected a list of objects")
    return tuple(Qualification.from_json(q) for q in data)


@dataclass(frozen=True, slots=True)
class AgreementConfirmation:
    """The body of ``POST /v1/customers/{id}/agreements``: the partner confirms, for the customer,
    that ``primaryContact`` accepted the agreement on ``date_agreed``."""

    first_name: str
    last_name: str
    email: str
    phone_number: str | None
    template_id: str
    date_agreed: datetime
    type: str = MICROSOFT_CUSTOMER_AGREEMENT

    def to_json(self) -> dict[str, Any]:
        contact = {"firstName": self.first_name, "lastName": self.last_name, "email": self.email}
        if self.phone_number:
            contact["phoneNumber"] = self.phone_number
        return {
            "primaryContact": contact,
            "templateId": self.template_id,
            "dateAgreed": self.date_agreed.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "type": self.type,
        }
