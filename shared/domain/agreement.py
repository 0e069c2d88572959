"""The customer's Microsoft Customer Agreement, which Partner Center requires before it sells new
commerce: how its acceptance was confirmed for a transfer, and the contact a confirmation names."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class AgreementStatus(StrEnum):
    CONTACT_NEEDED = "ContactNeeded"  # neither accepted nor confirmable: the customer's contact is missing
    INTENDED = "Intended"  # a confirmation is persisted and may have been sent
    CONFIRMED = "Confirmed"


class AgreementBasis(StrEnum):
    """What confirmed it: the customer signed it, a partner confirmed it earlier, or this partner did."""

    SIGNED_DIRECTLY = "SignedDirectly"
    CONFIRMED_EARLIER = "ConfirmedEarlier"
    ATTESTED = "Attested"


@dataclass(frozen=True, slots=True)
class CustomerContact:
    """The customer's person who accepted the agreement, whom the partner's confirmation names.

    Personal data: kept on the record for that one call, shown to admins, never logged or put in a
    history message.
    """

    first_name: str
    last_name: str
    email: str
    phone_number: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerAgreement:
    """How the acceptance was confirmed for this transfer, and when (times in ISO 8601).

    A confirmation this partner makes is persisted (``Intended``, with its ``MS-RequestId``, template
    and ``dateAgreed``) before it is sent, and each attempt counted first: after an attempt whose
    answer was lost, the customer's agreements are read again before it is sent a second time.
    """

    status: AgreementStatus
    basis: AgreementBasis | None = None
    confirmed_at: str | None = None
    date_agreed: str | None = None
    request_id: str | None = None
    template_id: str | None = None
    attempts: int = 0

    def __post_init__(self) -> None:  # read back from JSON as plain strings
        object.__setattr__(self, "status", AgreementStatus(self.status))
        if self.basis is not None:
            object.__setattr__(self, "basis", AgreementBasis(self.basis))

    @property
    def confirmed(self) -> bool:
        return self.status is AgreementStatus.CONFIRMED

    @classmethod
    def intended(cls, template_id: str, at: datetime) -> CustomerAgreement:
        return cls(
            AgreementStatus.INTENDED,
            request_id=str(uuid.uuid4()),
            template_id=template_id,
            date_agreed=at.isoformat(),
        )

    def confirm(
        self, basis: AgreementBasis, at: datetime, date_agreed: datetime | None = None
    ) -> CustomerAgreement:
        agreed = date_agreed.isoformat() if date_agreed else self.date_agreed
        return replace(
            self,
            status=AgreementStatus.CONFIRMED,
            basis=basis,
            confirmed_at=at.isoformat(),
            date_agreed=agreed,
        )
