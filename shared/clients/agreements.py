"""The Partner Center calls about the customer's Microsoft Customer Agreement and qualifications.

A part of :class:`~shared.clients.partner_center.PartnerCenterClient` (it inherits them), kept in
its own module. The agreement calls take App+User tokens only, as their Learn pages say ("Get
confirmation of customer acceptance of Microsoft Customer Agreement", "Get the status of a
customer's direct signing (direct acceptance) of Microsoft Customer Agreement", "Confirm customer
acceptance of the Microsoft Customer Agreement"); the agreement metadata and the qualifications
("Get a customer's qualification asynchronously") take either.
"""

from __future__ import annotations

from shared.clients.auth import Flow
from shared.clients.transport import ApiCaller
from shared.resources import MalformedResourceError, json_object, objects, optional
from shared.resources.agreements import (
    MICROSOFT_CUSTOMER_AGREEMENT,
    Agreement,
    AgreementConfirmation,
    AgreementMetadata,
    Qualification,
    qualifications_from_json,
)

_AGREEMENTS = "/v1/customers/{customer_id}/agreements"


class AgreementCalls:
    """What Partner Center knows of the customer's agreement and segment (a mixin over ``_api``)."""

    _api: ApiCaller

    def get_agreement_metadata(self, agreement_type: str = MICROSOFT_CUSTOMER_AGREEMENT) -> AgreementMetadata:
        """The agreement's current template (the one a confirmation names)."""
        data = self._api.json("GET", "/v1/agreements", query={"agreementType": agreement_type})
        items = objects(json_object(data, "/v1/agreements"), "items", resource="AgreementMetaData")
        if not items:
            raise MalformedResourceError(f"/v1/agreements: no metadata for {agreement_type}")
        return AgreementMetadata.from_json(items[0])

    def list_customer_agreements(
        self, customer_id: str, agreement_type: str = MICROSOFT_CUSTOMER_AGREEMENT
    ) -> list[Agreement]:
        """The acceptances partners confirmed for the customer (none when it signed directly)."""
        data = self._api.json(
            "GET",
            _AGREEMENTS,
            {"customer_id": customer_id},
            query={"agreementType": agreement_type},
            token_flow=Flow.APP_USER,
        )
        items = objects(json_object(data, _AGREEMENTS), "items", resource="Agreement")
        return [Agreement.from_json(item) for item in items]

    def is_customer_agreement_signed_directly(self, customer_id: str) -> bool:
        template = "/v1/customers/{customer_id}/directSignedMicrosoftCustomerAgreementStatus"
        data = json_object(
            self._api.json("GET", template, {"customer_id": customer_id}, token_flow=Flow.APP_USER), template
        )
        return bool(optional(data, "isSigned", bool, False, resource="DirectSignedCustomerAgreementStatus"))

    def confirm_customer_agreement(
        self, customer_id: str, confirmation: AgreementConfirmation, *, request_id: str
    ) -> Agreement:
        """The partner confirms the customer's acceptance; Partner Center refuses the same contact
        twice (:class:`~shared.clients.errors.AgreementAlreadyConfirmedError`). Never re-sent here:
        after a lost answer (:class:`~shared.clients.errors.OutcomeUnknownError`) the caller reads
        the customer's agreements before sending it again."""
        data = self._api.json(
            "POST",
            _AGREEMENTS,
            {"customer_id": customer_id},
            body=confirmation.to_json(),
            request_id=request_id,
            token_flow=Flow.APP_USER,
            repeatable=False,
        )
        return Agreement.from_json(json_object(data, _AGREEMENTS))

    def list_qualifications(self, customer_id: str) -> tuple[Qualification, ...]:
        """The customer's qualifications; none for a commercial customer."""
        return qualifications_from_json(
            self._api.json("GET", "/v1/customers/{customer_id}/qualifications", {"customer_id": customer_id})
        )
