"""The customer's Microsoft Customer Agreement and qualifications, as Partner Center serves them.

Partner Center side (``/partnercenter``), shapes from the Learn pages named here:

* ``GET /v1/agreements?agreementType=`` ("Get agreement metadata for Microsoft Customer
  Agreement"): the ``AgreementMetaData`` collection (``templateId``, ``agreementType``,
  ``agreementLink``, ``versionRank``); ``MicrosoftCloudAgreement`` when no type is given, ``*`` for all.
* ``GET /v1/customers/{id}/agreements?agreementType=`` ("Get confirmation of customer acceptance of
  Microsoft Customer Agreement", App+User): the acceptances partners confirmed.
* ``POST /v1/customers/{id}/agreements`` ("Confirm customer acceptance of the Microsoft Customer
  Agreement", App+User): ``{primaryContact {firstName, lastName, email, phoneNumber?}, templateId,
  dateAgreed, type}``; 201 with the ``Agreement``, ``userId`` taken from the token. The same contact
  confirmed twice is refused with 600061 ``PartnerConfirmedAgreementAlreadyExists``.
* ``GET /v1/customers/{id}/directSignedMicrosoftCustomerAgreementStatus`` ("Get the status of a
  customer's direct signing (direct acceptance) of Microsoft Customer Agreement", App+User):
  ``{"isSigned": bool}``.
* ``GET /v1/customers/{id}/qualifications`` ("Get a customer's qualification asynchronously", App or
  App+User): a JSON array such as ``[{"qualification": "Education", "vettingStatus": "Approved"}]``,
  empty for a commercial customer.

Without an accepted agreement the checkout refuses every order group (:mod:`sandbox.eligibility`).
The control API (``/_sandbox``) shows a customer's agreements (``GET /customers/{id}/agreements``),
sets its qualifications (``PUT /customers/{id}/qualifications``, a list as above), makes an offer
listed as purchasable refused for the customer or makes its SKU enforce attestation
(``PATCH /offers/{skuId}/eligibility {"eligible", "attestation"}``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from .eligibility import CONTACT_FIELDS, METADATA, agreement_json, metadata_json
from .partner_center import collection, customer_of
from .routing import Call, Reply, Router, lookup
from .state import Sandbox
from .world import PartnerCenterError

router: Router[Sandbox] = Router()
"""Partner Center's routes (``/partnercenter``)."""
control_router: Router[Sandbox] = Router()
"""The control API's (``/_sandbox``)."""


def _types(call: Call) -> list[str]:
    wanted = call.query.get("agreementType") or "MicrosoftCloudAgreement"
    return list(METADATA) if wanted == "*" else [k for k in METADATA if k.lower() == wanted.lower()]


@router.route("GET", "/v1/agreements")
def agreement_metadata(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return Reply(200, collection([metadata_json(k) for k in _types(call)], "/agreements"))


@router.route("GET", "/v1/customers/{customer_id}/agreements", app_user_only=True)
def list_agreements(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = customer_of(sb, p["customer_id"])
    kinds = _types(call)
    items = [a for a in tenant.agreements if a["type"] in kinds]
    return Reply(200, collection(items, f"/customers/{tenant.id}/agreements"))


@router.route("POST", "/v1/customers/{customer_id}/agreements", app_user_only=True)
def confirm_agreement(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = customer_of(sb, p["customer_id"])
    body = call.json()
    kind = str(lookup(body, "type", ""))
    if kind not in METADATA:
        raise PartnerCenterError(400, 3000, f"Invalid property type: one of {', '.join(METADATA)}.")
    if str(lookup(body, "templateId", "")).lower() != METADATA[kind]["templateId"]:
        raise PartnerCenterError(400, 3000, f"Invalid property templateId: not the {kind} template.")
    contact = _contact(lookup(body, "primaryContact"))
    date_agreed = _date(lookup(body, "dateAgreed"))
    same = [a for a in tenant.agreements if a["type"] == kind and a["primaryContact"] == contact]
    if same:
        raise PartnerCenterError(
            400, 600061, "A partner confirmed agreement already exists for the customer."
        )
    assert call.claims is not None
    agreement = agreement_json(contact, date_agreed, kind=kind, user=call.claims.user_id or "")
    tenant.agreements.append(agreement)
    return Reply(201, agreement)


def _contact(value: Any) -> dict[str, str]:
    """``primaryContact``: first and last name and e-mail required, the phone number optional."""
    if not isinstance(value, dict):
        raise PartnerCenterError(400, 3000, "Invalid property primaryContact: an object is required.")
    contact = {name: lookup(value, name) for name in CONTACT_FIELDS}
    for name in CONTACT_FIELDS[:3]:
        if not isinstance(contact[name], str) or not contact[name].strip():
            raise PartnerCenterError(400, 3000, f"Invalid property primaryContact.{name}: it is required.")
    return {name: str(text) for name, text in contact.items() if text is not None}


def _date(value: Any) -> str:
    try:
        dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise PartnerCenterError(400, 3000, "Invalid property dateAgreed: a UTC date and time.") from exc
    return str(value)


@router.route(
    "GET", "/v1/customers/{customer_id}/directSignedMicrosoftCustomerAgreementStatus", app_user_only=True
)
def direct_sign_status(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = customer_of(sb, p["customer_id"])
    body = {
        "isSigned": tenant.signed_directly,
        "attributes": {"objectType": "DirectSignedCustomerAgreementStatus"},
    }
    return Reply(200, body)


@router.route("GET", "/v1/customers/{customer_id}/qualifications")
def qualifications(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return Reply(200, list(customer_of(sb, p["customer_id"]).qualifications))


# ---------------------------------------------------------------------- control


@control_router.route("GET", "/customers/{customer_id}/agreements")
def show_agreements(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = sb.world.tenants.get(p["customer_id"].lower())
    if tenant is None:
        return Reply(404, {"error": f"no tenant {p['customer_id']}"})
    return Reply(200, {"agreements": tenant.agreements, "signedDirectly": tenant.signed_directly})


@control_router.route("PUT", "/customers/{customer_id}/qualifications")
def set_qualifications(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = sb.world.tenants.get(p["customer_id"].lower())
    body = call.json()
    if tenant is None:
        return Reply(404, {"error": f"no tenant {p['customer_id']}"})
    if not isinstance(body, list) or not all(isinstance(q, dict) and "qualification" in q for q in body):
        return Reply(400, {"error": 'a list of {"qualification", "vettingStatus"} objects'})
    tenant.qualifications = body
    return Reply(200, body)


@control_router.route("PATCH", "/offers/{sku_id}/eligibility")
def set_eligibility(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """``{"eligible": false}``: the SKU's primary offer stays listed as purchasable, but a cart line
    buying it gets an ``error`` and its checkout 800020, as for an item the customer may not buy;
    ``{"attestation": "Type"}`` (or ``null``): the SKU enforces attestation from now on (or not)."""
    offer = sb.world.catalog.offer_for_sku(p["sku_id"].lower())
    body = call.json()
    eligible, attestation = body.get("eligible", True), body.get("attestation")
    if offer is None:
        return Reply(404, {"error": f"no offer provisions SKU {p['sku_id']}"})
    if not isinstance(eligible, bool) or not isinstance(attestation, str | None):
        return Reply(400, {"error": "eligible must be true or false, attestation a type or null"})
    changed = dataclasses.replace(offer, eligible=eligible, attestation=attestation or None)
    sb.world.catalog.offers[offer.catalog_item_id] = changed
    return Reply(
        200, {"catalogItemId": offer.catalog_item_id, "eligible": eligible, "attestation": attestation}
    )
