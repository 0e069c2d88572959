"""What Partner Center checks before it sells, beyond the offer itself being on sale.

* **The Microsoft Customer Agreement** ("Purchase new commerce license-based subscriptions" lists
  "confirmation of the customer's acceptance of the Microsoft Customer Agreement" as a
  prerequisite): a customer who neither signed it directly nor had a partner confirm it gets no
  order; the checkout answers an ``orderErrors`` entry for each order group, which is how partners
  see these orders "fail silently".
* **The segment** ("Create a cart": "ensure availability of the catalog item is for the correct
  segment"): a commercial availability is for anyone; an education, government or nonprofit one
  only for a customer qualified for that segment ("Get a customer's qualification
  asynchronously"). Anything else is a cart line ``error`` when the cart is created, and 800020
  ("The catalog item is not eligible for purchase") at checkout.
* **Fresh ids** ("Product resources": availability ids "can change over time"): an id of an
  earlier month of the sandbox clock is a cart line ``error`` (``CatalogItemIdIsNotValid``) and
  800020 at checkout.
* **Attestations** ("Create a cart"): ``PartnerOnRecordAttestationAccepted`` is required on the
  cart; ``AttestationAccepted`` on a line whose SKU's ``attestationProperties.enforceAttestation``
  is true, else the line gets ``CartErrorCode`` 10012 ``AttestationNotAccepted``.
* **``MS-Contract-Version``** ("Partner Center REST and response headers": "Required").

Pure functions over the world: the handlers in :mod:`sandbox.partner_center` call them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .catalog import Offer
from .world import CartLine, PartnerCenterError, Tenant, stable_id

CONTRACT_VERSION = "v1"

#: ``CartErrorCode`` values ("Cart resources").
CATALOG_ITEM_ID_IS_NOT_VALID = 10001
UNABLE_TO_PROCESS_CART_LINE_ITEM = 10006
ATTESTATION_NOT_ACCEPTED = 10012

#: Qualification (``vettingStatus`` Approved) -> the segment whose availabilities it opens.
QUALIFIED_SEGMENTS = {
    "education": "education",
    "governmentcommunitycloud": "government",
    "nonprofit": "nonprofit",
}

NOT_ELIGIBLE = "The catalog item is not eligible for purchase."


MCA = "MicrosoftCustomerAgreement"
MCA_TEMPLATE_ID = "117a77b0-9360-443b-8795-c6dedc750cf9"  # the templateId of the docs' examples
METADATA = {
    MCA: {"templateId": MCA_TEMPLATE_ID, "agreementLink": "https://aka.ms/customeragreement"},
    "MicrosoftCloudAgreement": {
        "templateId": stable_id("agreement-template", "MicrosoftCloudAgreement"),
        "agreementLink": "https://aka.ms/microsoftcloudagreement",
    },
}
CONTACT_FIELDS = ("firstName", "lastName", "email", "phoneNumber")


def metadata_json(kind: str) -> dict[str, Any]:
    return {"agreementType": kind, "versionRank": 0, **METADATA[kind]}


def agreement_json(
    contact: dict[str, str], date_agreed: str, *, kind: str = MCA, user: str
) -> dict[str, Any]:
    """An ``Agreement`` resource ("Agreement resources")."""
    return {
        "userId": user,
        "primaryContact": contact,
        "templateId": METADATA[kind]["templateId"],
        "dateAgreed": date_agreed,
        "type": kind,
        "agreementLink": METADATA[kind]["agreementLink"],
    }


def customer_segment(tenant: Tenant) -> str:
    """The segment of the customer's first approved qualification; commercial without one."""
    for qualification in tenant.qualifications:
        segment = QUALIFIED_SEGMENTS.get(str(qualification.get("qualification", "")).lower())
        if segment and str(qualification.get("vettingStatus", "Approved")).lower() == "approved":
            return segment
    return "commercial"


def eligible(tenant: Tenant, offer: Offer) -> bool:
    return offer.eligible and offer.segment in ("commercial", customer_segment(tenant))


def missing_contract_version(headers: Mapping[str, str]) -> str | None:
    """Why a Partner Center call's headers are refused, or None."""
    version = headers.get("MS-Contract-Version", "")
    if not version:
        return f"The MS-Contract-Version header is required (for example {CONTRACT_VERSION})."
    if version.lower() != CONTRACT_VERSION:
        return f"MS-Contract-Version {version[:20]!r} is not supported; use {CONTRACT_VERSION}."
    return None


def require_partner_attestation(cart: Mapping[str, Any]) -> None:
    """The cart's ``PartnerOnRecordAttestationAccepted``: required, and true."""
    accepted = next((v for k, v in cart.items() if k.lower() == "partneronrecordattestationaccepted"), None)
    if accepted is not True:
        raise PartnerCenterError(
            400,
            3000,
            "Invalid property PartnerOnRecordAttestationAccepted: the attestation must be accepted.",
        )


def cart_line_error(tenant: Tenant, offer: Offer, *, stale: bool, attested: bool) -> dict[str, Any] | None:
    """The ``CartError`` a line of a new cart carries, or None."""
    if stale:
        return _error(
            CATALOG_ITEM_ID_IS_NOT_VALID, "The catalog item id is not valid: it is no longer listed."
        )
    if not eligible(tenant, offer):
        return _error(
            UNABLE_TO_PROCESS_CART_LINE_ITEM,
            f"{NOT_ELIGIBLE} Its availability is for the {offer.segment} segment; the customer's is "
            f"{customer_segment(tenant)}.",
        )
    if offer.attestation and not attested:
        return _error(
            ATTESTATION_NOT_ACCEPTED,
            f"Attestation is not accepted: the SKU enforces attestation ({offer.attestation}).",
        )
    return None


def checkout_refusal(tenant: Tenant, line: CartLine) -> PartnerCenterError | None:
    """Why a cart line's order group gets no order at checkout, or None."""
    if not tenant.agreement_accepted:
        return PartnerCenterError(
            403,
            800020,
            f"{NOT_ELIGIBLE} The customer has not accepted the Microsoft Customer Agreement.",
        )
    error = line.error
    if error is None:
        return None
    if error["errorCode"] == ATTESTATION_NOT_ACCEPTED:
        return PartnerCenterError(400, 800009, f"Error in Cart item(s): {error['errorDescription']}")
    return PartnerCenterError(403, 800020, f"{NOT_ELIGIBLE} {error['errorDescription']}")


def order_refusal(tenant: Tenant, offer: Offer, *, stale: bool) -> PartnerCenterError | None:
    """The same rules for ``POST /orders``, which has no cart to carry line errors."""
    line_error = cart_line_error(tenant, offer, stale=stale, attested=True)
    line = CartLine(0, offer, 0, "", "", "0", error=line_error)
    return checkout_refusal(tenant, line)


def _error(code: int, description: str) -> dict[str, Any]:
    return {"errorCode": code, "errorDescription": description}
