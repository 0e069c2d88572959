"""Request bodies parsed at the edge into the workflow's own values, or a 400 naming each wrong field."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from shared.api.problems import ApiResponse, problem, quote
from shared.catalog.plan import Choice
from shared.domain import CustomerContact, SourceChannel, SourcePartner, TransferOptions
from shared.domain.regions import UnknownCountryError, region_of
from shared.resources import GUID
from shared.workflow.admin import StartRequest

_MAX_BODY = 64 * 1024


_START_FIELDS = frozenset(
    {
        "customerTenantId",
        "customerDomain",
        "customerCountry",
        "sourceChannel",
        "contactEmail",
        "options",
        "sourcePartnerTenantId",
        "sourcePartnerName",
        "customerContact",
    }
)


_CONTACT_FIELDS = ("firstName", "lastName", "email", "phoneNumber")


_PERSON_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,100}")


_PHONE = re.compile(r"[0-9+()./ -]{4,40}")


_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,256}")


_EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


_COUNTRY = re.compile(r"[A-Za-z]{2}")


_CHOICES = tuple(choice.value for choice in Choice)
#: A DNS name of two labels or more, as Entra verifies them (no IDN in its Unicode form).
DOMAIN = re.compile(r"(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")


_CHANNELS = ", ".join(c.value for c in SourceChannel)


def parse_start_request(body: bytes) -> StartRequest | ApiResponse:
    """The start request, or a 400 listing every field that is wrong."""
    data = json_object(body)
    if isinstance(data, ApiResponse):
        return data
    errors: list[dict[str, str]] = []

    def wrong(name: str, message: str) -> None:
        errors.append({"field": name, "message": message})

    for name in sorted(set(data) - _START_FIELDS):
        wrong(name[:60], "unknown field")
    tenant, domain = data.get("customerTenantId"), data.get("customerDomain")
    if tenant is None and domain is None:
        wrong("customerTenantId", "required: the customer's Entra tenant id (a GUID), or customerDomain")
    elif tenant is not None and domain is not None:
        wrong("customerDomain", "give customerTenantId or customerDomain, not both")
    elif tenant is not None and (not isinstance(tenant, str) or not GUID.fullmatch(tenant)):
        wrong("customerTenantId", "the customer's Entra tenant id, a GUID")
    elif domain is not None and (not isinstance(domain, str) or not DOMAIN.fullmatch(domain)):
        wrong("customerDomain", "one of the customer's domains, such as contoso.com")
    country = data.get("customerCountry")
    if not isinstance(country, str) or not _COUNTRY.fullmatch(country):
        wrong("customerCountry", "required: an ISO 3166-1 alpha-2 country code such as US")
    else:
        try:
            region_of(country)
        except UnknownCountryError:
            wrong("customerCountry", f"{country!r} is not a country Microsoft sells CSP in")
    channel = data.get("sourceChannel")
    if not isinstance(channel, str) or channel not in {c.value for c in SourceChannel}:
        wrong("sourceChannel", f"required: one of {_CHANNELS}")
    email = data.get("contactEmail")
    if email is not None and (not isinstance(email, str) or len(email) > 254 or not _EMAIL.fullmatch(email)):
        wrong("contactEmail", "an e-mail address, if given")
    options = TransferOptions()
    raw_options = data.get("options")
    if raw_options is not None and not isinstance(raw_options, dict):
        wrong("options", "an object with termDuration and billingCycle")
    else:
        try:
            options = TransferOptions.from_json(raw_options)
        except ValueError as error:
            wrong("options", str(error))
    source = _source_partner(data, channel, email, wrong)
    contact = _customer_contact(data.get("customerContact"), wrong)
    if errors:
        return _invalid(errors)
    return StartRequest(
        customer_tenant_id=tenant.lower() if isinstance(tenant, str) else None,
        customer_domain=domain.lower() if isinstance(domain, str) else None,
        customer_country=str(country).upper(),
        source_channel=SourceChannel(str(channel)),
        contact_email=email,
        options=options,
        source_partner=source,
        customer_contact=contact,
    )


def _customer_contact(value: Any, wrong: Callable[[str, str], None]) -> CustomerContact | None:
    """Who at the customer accepted the Microsoft Customer Agreement: the person the partner's
    confirmation of that acceptance names (first and last name and e-mail; a phone number if given)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        wrong("customerContact", "an object with firstName, lastName, email and phoneNumber")
        return None
    for name in sorted(set(value) - set(_CONTACT_FIELDS)):
        wrong(f"customerContact.{name[:40]}", "unknown field")
    first, last, email, phone = (value.get(name) for name in _CONTACT_FIELDS)
    valid = True
    for name, text in (("firstName", first), ("lastName", last)):
        if not isinstance(text, str) or not _PERSON_NAME.fullmatch(text) or not text.strip():
            wrong(f"customerContact.{name}", "required: 1 to 100 printable characters")
            valid = False
    if not isinstance(email, str) or len(email) > 254 or not _EMAIL.fullmatch(email):
        wrong("customerContact.email", "required: an e-mail address")
        valid = False
    if phone is not None and (not isinstance(phone, str) or not _PHONE.fullmatch(phone)):
        wrong("customerContact.phoneNumber", "a phone number (digits, spaces, + ( ) . / -), if given")
        valid = False
    if not valid or set(value) - set(_CONTACT_FIELDS):
        return None
    return CustomerContact(str(first).strip(), str(last).strip(), str(email), phone)


def parse_retry(body: bytes) -> CustomerContact | ApiResponse | None:
    """``{"customerContact": {...}}``, or nothing: what a retry may bring."""
    data = json_object(body or b"{}")
    if isinstance(data, ApiResponse):
        return data
    errors: list[dict[str, str]] = []

    def wrong(name: str, message: str) -> None:
        errors.append({"field": name, "message": message})

    for name in sorted(set(data) - {"customerContact"}):
        wrong(name[:60], "unknown field")
    contact = _customer_contact(data.get("customerContact"), wrong)
    if errors:
        return _invalid(errors)
    return contact


def _source_partner(
    data: Mapping[str, Any], channel: Any, email: Any, wrong: Callable[[str, str], None]
) -> SourcePartner | None:
    """The partner selling to the customer today, asked for a partner-to-partner transfer: both its
    Microsoft ID and company name (the docs tell the customer to get both from it), and the contact
    e-mail that Microsoft sends the transfer notifications to."""
    tenant, name = data.get("sourcePartnerTenantId"), data.get("sourcePartnerName")
    if tenant is None and name is None:
        return None
    if channel != SourceChannel.OTHER_PARTNER.value:
        wrong("sourcePartnerTenantId", "only for sourceChannel OtherPartner")
    if not isinstance(tenant, str) or not GUID.fullmatch(tenant):
        wrong("sourcePartnerTenantId", "the current partner's Microsoft ID (tenant id), a GUID")
    if not isinstance(name, str) or not _NAME.fullmatch(name) or not name.strip():
        wrong("sourcePartnerName", "the current partner's company name, 1 to 256 printable characters")
    if email is None:
        wrong(
            "contactEmail", "required with sourcePartnerTenantId: Microsoft sends the transfer e-mails there"
        )
    if not isinstance(tenant, str) or not isinstance(name, str):
        return None
    return SourcePartner(tenant_id=tenant.lower(), name=name.strip())


def _invalid(errors: list[dict[str, str]]) -> ApiResponse:
    """The 400 naming every wrong field."""
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(400, "Invalid request", detail, errors=errors)


def parse_decisions(body: bytes) -> tuple[list[str], list[str], dict[str, str]] | ApiResponse:
    """``{"approve": [lineId...], "decline": [lineId...], "choose": {lineId: option}}``, at least one
    line in all; ``choose`` picks the option of a line above a seat cap per customer."""
    data = json_object(body or b"{}")
    if isinstance(data, ApiResponse):
        return data
    lists: dict[str, list[str]] = {}
    for name in ("approve", "decline"):
        value = data.get(name, [])
        if (
            not isinstance(value, list)
            or len(value) > 500
            or not all(isinstance(v, str) and 0 < len(v) <= 100 for v in value)
        ):
            return problem(400, "Invalid request", f"{name} must be a list of line ids", parameter=name)
        lists[name] = value
    unknown = sorted(set(data) - {"approve", "decline", "choose"})
    if unknown or not (lists["approve"] or lists["decline"]):
        return problem(
            400, "Invalid request", "give the line ids to approve and/or decline, and nothing else"
        )
    choose = data.get("choose", {})
    if not isinstance(choose, dict) or not all(
        0 < len(line) <= 100 and option in _CHOICES for line, option in choose.items()
    ):
        options = " or ".join(f'"{c}"' for c in _CHOICES)
        return problem(400, "Invalid request", f"choose maps line ids to {options}", parameter="choose")
    return lists["approve"], lists["decline"], choose


def json_object(body: bytes) -> dict[str, Any] | ApiResponse:
    if len(body) > _MAX_BODY:
        return problem(413, "Body too large", f"the body is {len(body)} bytes; at most {_MAX_BODY} are read")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nesting past the parser's depth
        return problem(400, "Invalid request", "the body must be a JSON object")
    if not isinstance(data, dict):
        return problem(400, "Invalid request", "the body must be a JSON object")
    return data


def parse_tenant_query(query: Mapping[str, str]) -> tuple[str | None, str | None] | ApiResponse:
    """``domain`` or ``tenantId`` (exactly one), lower-cased, or a 400 naming the one at fault."""
    domain, tenant = query.get("domain") or None, query.get("tenantId") or None
    if (domain is None) == (tenant is None):
        return problem(400, "Invalid filter", "give domain or tenantId, one of the two", parameter="domain")
    for name, value, pattern, what in (
        ("domain", domain, DOMAIN, "a domain name"),
        ("tenantId", tenant, GUID, "a GUID"),
    ):
        if value is not None and not pattern.fullmatch(value):
            return problem(
                400, "Invalid filter", f"{name} must be {what}; got {quote(value)}", parameter=name
            )
    return (domain.lower() if domain else None), (tenant.lower() if tenant else None)
