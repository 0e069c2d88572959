"""Partner Center's catalog, customer and webhook-registration resources, parsed at the edge."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.resources import field, lowered, objects, optional, strings


@dataclass(frozen=True, slots=True)
class Product:
    """A catalog product, e.g. ``CFQ7TTC0LH18`` Microsoft 365 Business Basic."""

    id: str
    title: str
    product_type: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Product:
        r = "Product"
        kind = optional(data, "productType", dict, {}, resource=r)
        return cls(
            id=field(data, "id", str, resource=r),
            title=optional(data, "title", str, "", resource=r),
            product_type=optional(kind, "id", str, "", resource=r),
        )


@dataclass(frozen=True, slots=True)
class Sku:
    """A purchasable variant of a product; ``provisioning_id`` is the Entra ``skuId`` it grants."""

    id: str
    product_id: str
    title: str
    provisioning_id: str | None
    minimum_quantity: int = 1
    maximum_quantity: int = 1_000_000
    is_trial: bool = False
    is_addon: bool = False
    supported_billing_cycles: tuple[str, ...] = ()
    prerequisite_skus: tuple[str, ...] = ()
    upgrade_target_offers: tuple[str, ...] = ()
    #: Partner Center limits how much of it one customer may hold ("the SKU contains assetConstraints"),
    #: besides ``maximum_quantity`` per subscription; the limit itself is not published (error 800089).
    has_constraints: bool = False
    #: ``attestationProperties.enforceAttestation``: a cart line buys it only with ``attestationAccepted``.
    enforces_attestation: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Sku:
        r = "Sku"
        dynamic = optional(data, "dynamicAttributes", dict, {}, resource=r)
        attestation = optional(data, "attestationProperties", dict, {}, resource=r)
        return cls(
            id=field(data, "id", str, resource=r),
            product_id=field(data, "productId", str, resource=r),
            title=optional(data, "title", str, "", resource=r),
            provisioning_id=lowered(optional(dynamic, "provisioningId", str, None, resource=r)),
            minimum_quantity=optional(data, "minimumQuantity", int, 1, resource=r),
            maximum_quantity=optional(data, "maximumQuantity", int, 1_000_000, resource=r),
            is_trial=optional(data, "isTrial", bool, False, resource=r),
            is_addon=optional(dynamic, "isAddon", bool, False, resource=r),
            supported_billing_cycles=strings(data, "supportedBillingCycles", resource=r),
            prerequisite_skus=strings(dynamic, "prerequisiteSkus", resource=r),
            upgrade_target_offers=strings(dynamic, "upgradeTargetOffers", resource=r),
            has_constraints=optional(dynamic, "hasConstraints", bool, False, resource=r),
            enforces_attestation=optional(attestation, "enforceAttestation", bool, False, resource=r),
        )


@dataclass(frozen=True, slots=True)
class Term:
    """A commitment term of an availability: duration ``P1M``/``P1Y``/``P3Y`` and billing cycle."""

    id: str
    duration: str
    billing_cycle: str
    description: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Term:
        r = "Term"
        return cls(
            id=optional(data, "id", str, "", resource=r),
            duration=field(data, "duration", str, resource=r),
            billing_cycle=field(data, "billingCycle", str, resource=r).lower(),
            description=optional(data, "description", str, "", resource=r),
        )


@dataclass(frozen=True, slots=True)
class Availability:
    """Where and how a SKU can be bought; ``catalog_item_id`` is what a cart line orders."""

    id: str
    product_id: str
    sku_id: str
    catalog_item_id: str
    country: str
    is_purchasable: bool
    terms: tuple[Term, ...] = ()
    segment: str = "commercial"
    #: ``defaultCurrency``: the only money an availability carries; it has no price.
    currency: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Availability:
        r = "Availability"
        terms = optional(data, "terms", list, [], resource=r)
        currency = data.get("defaultCurrency")  # documented as a string; sent as {"code", "symbol"}
        code = currency.get("code") if isinstance(currency, dict) else currency
        return cls(
            id=field(data, "id", str, resource=r),
            product_id=field(data, "productId", str, resource=r),
            sku_id=field(data, "skuId", str, resource=r),
            catalog_item_id=field(data, "catalogItemId", str, resource=r),
            country=optional(data, "country", str, "", resource=r).upper(),
            is_purchasable=optional(data, "isPurchasable", bool, False, resource=r),
            terms=tuple(Term.from_json(t) for t in terms if isinstance(t, dict)),
            segment=optional(data, "segment", str, "commercial", resource=r).lower(),
            currency=code.upper() if isinstance(code, str) and code else None,
        )


@dataclass(frozen=True, slots=True)
class Address:
    """A postal address; ``country`` (ISO 3166 alpha-2) decides the CSP region."""

    country: str
    region: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Address:
        r = "Address"
        return cls(
            country=field(data, "country", str, resource=r).upper(),
            region=optional(data, "region", str, "", resource=r),
            city=optional(data, "city", str, "", resource=r),
            state=optional(data, "state", str, "", resource=r),
            postal_code=optional(data, "postalCode", str, "", resource=r),
        )


@dataclass(frozen=True, slots=True)
class CompanyProfile:
    """``CustomerCompanyProfile``: the tenant's company; contact details are deliberately not kept."""

    tenant_id: str
    domain: str
    company_name: str
    address: Address | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CompanyProfile:
        r = "CompanyProfile"
        address = optional(data, "address", dict, None, resource=r)
        return cls(
            tenant_id=field(data, "tenantId", str, resource=r).lower(),
            domain=optional(data, "domain", str, "", resource=r),
            company_name=optional(data, "companyName", str, "", resource=r),
            address=Address.from_json(address) if address else None,
        )


@dataclass(frozen=True, slots=True)
class BillingProfile:
    """``CustomerBillingProfile``: only what the transfer needs (country, culture, etag)."""

    id: str
    company_name: str
    culture: str
    default_address: Address | None
    etag: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BillingProfile:
        r = "BillingProfile"
        address = optional(data, "defaultAddress", dict, None, resource=r)
        attributes = optional(data, "attributes", dict, {}, resource=r)
        return cls(
            id=optional(data, "id", str, "", resource=r),
            company_name=optional(data, "companyName", str, "", resource=r),
            culture=optional(data, "culture", str, "", resource=r),
            default_address=Address.from_json(address) if address else None,
            etag=optional(attributes, "etag", str, None, resource=r),
        )


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer; ``relationship_to_partner`` becomes ``reseller`` once the invitation is accepted."""

    id: str
    company_profile: CompanyProfile | None
    relationship_to_partner: str
    commerce_id: str | None = None
    billing_profile: BillingProfile | None = None
    allow_delegated_access: bool | None = None

    @property
    def country(self) -> str | None:
        """The customer's country, from the company address or else the billing address."""
        for address in (
            self.company_profile.address if self.company_profile else None,
            self.billing_profile.default_address if self.billing_profile else None,
        ):
            if address and address.country:
                return address.country
        return None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Customer:
        r = "Customer"
        company = optional(data, "companyProfile", dict, None, resource=r)
        billing = optional(data, "billingProfile", dict, None, resource=r)
        return cls(
            id=field(data, "id", str, resource=r).lower(),
            company_profile=CompanyProfile.from_json(company) if company else None,
            relationship_to_partner=optional(data, "relationshipToPartner", str, "none", resource=r).lower(),
            commerce_id=optional(data, "commerceId", str, None, resource=r),
            billing_profile=BillingProfile.from_json(billing) if billing else None,
            allow_delegated_access=optional(data, "allowDelegatedAccess", bool, None, resource=r),
        )


@dataclass(frozen=True, slots=True)
class RelationshipRequest:
    """The partner-scoped invitation link a customer's global admin opens to accept the partner."""

    url: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RelationshipRequest:
        return cls(url=field(data, "url", str, resource="RelationshipRequest"))


@dataclass(frozen=True, slots=True)
class WebhookRegistration:
    """Where Partner Center posts events for this partner, and which events."""

    webhook_url: str
    webhook_events: tuple[str, ...]
    subscriber_id: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WebhookRegistration:
        r = "WebhookRegistration"
        # The service answers in PascalCase (SubscriberId, WebhookUrl), the swagger model in camelCase.
        folded = {key[:1].lower() + key[1:]: value for key, value in data.items()}
        return cls(
            webhook_url=field(folded, "webhookUrl", str, resource=r),
            webhook_events=strings(folded, "webhookEvents", resource=r),
            subscriber_id=optional(folded, "subscriberId", str, None, resource=r),
        )


@dataclass(frozen=True, slots=True)
class WebhookValidationStatus:
    """How Partner Center's test event fared: ``completed`` once delivered or given up on.

    ``response_codes`` holds each delivery attempt's answer as Partner Center names it (``"OK"``,
    ``"Unauthorized"``, or ``None`` when the receiver did not answer at all), oldest first.
    """

    correlation_id: str
    status: str
    callback_url: str
    response_codes: tuple[str | None, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WebhookValidationStatus:
        r = "WebhookValidationStatus"
        results = objects(data, "results", resource=r)
        return cls(
            correlation_id=field(data, "correlationId", str, resource=r),
            status=field(data, "status", str, resource=r),
            callback_url=optional(data, "callbackUrl", str, "", resource=r),
            response_codes=tuple(optional(item, "responseCode", str, None, resource=r) for item in results),
        )

    @property
    def delivered(self) -> bool:
        """Whether the receiver acknowledged the event (its last attempt answered OK)."""
        return bool(self.response_codes) and self.response_codes[-1] == "OK"
