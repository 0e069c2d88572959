"""Partner Center resources: customers, the new-commerce catalog, carts, orders, subscriptions, webhooks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from . import MalformedResourceError, field, optional, timestamp


def _strings(data: Mapping[str, Any], name: str, *, resource: str) -> tuple[str, ...]:
    values = optional(data, name, list, [], resource=resource)
    if not all(isinstance(v, str) for v in values):
        raise MalformedResourceError(f"{resource}: field {name!r} should hold strings")
    return tuple(values)


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

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Sku:
        r = "Sku"
        dynamic = optional(data, "dynamicAttributes", dict, {}, resource=r)
        provisioning = optional(dynamic, "provisioningId", str, None, resource=r)
        return cls(
            id=field(data, "id", str, resource=r),
            product_id=field(data, "productId", str, resource=r),
            title=optional(data, "title", str, "", resource=r),
            provisioning_id=provisioning.lower() if provisioning else None,
            minimum_quantity=optional(data, "minimumQuantity", int, 1, resource=r),
            maximum_quantity=optional(data, "maximumQuantity", int, 1_000_000, resource=r),
            is_trial=optional(data, "isTrial", bool, False, resource=r),
            is_addon=optional(dynamic, "isAddon", bool, False, resource=r),
            supported_billing_cycles=_strings(data, "supportedBillingCycles", resource=r),
            prerequisite_skus=_strings(dynamic, "prerequisiteSkus", resource=r),
            upgrade_target_offers=_strings(dynamic, "upgradeTargetOffers", resource=r),
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

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Availability:
        r = "Availability"
        terms = optional(data, "terms", list, [], resource=r)
        return cls(
            id=field(data, "id", str, resource=r),
            product_id=field(data, "productId", str, resource=r),
            sku_id=field(data, "skuId", str, resource=r),
            catalog_item_id=field(data, "catalogItemId", str, resource=r),
            country=optional(data, "country", str, "", resource=r).upper(),
            is_purchasable=optional(data, "isPurchasable", bool, False, resource=r),
            terms=tuple(Term.from_json(t) for t in terms if isinstance(t, dict)),
            segment=optional(data, "segment", str, "commercial", resource=r).lower(),
        )


def _objects(data: Mapping[str, Any], name: str, *, resource: str) -> list[Mapping[str, Any]]:
    values = optional(data, name, list, [], resource=resource)
    if not all(isinstance(v, dict) for v in values):
        raise MalformedResourceError(f"{resource}: field {name!r} should hold objects")
    return list(values)


def _lower(value: str | None) -> str | None:
    return value.lower() if value else None


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
class CartLineError:
    """Why one cart line cannot be bought (``CartErrorCode``, e.g. 10003 inventory not available)."""

    code: str
    description: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CartLineError:
        r = "CartLineItem.error"
        return cls(
            code=str(optional(data, "errorCode", (str, int), "", resource=r)),
            description=optional(data, "errorDescription", str, "", resource=r),
        )


@dataclass(frozen=True, slots=True)
class CartLineItem:
    """One line of a cart: what to buy, how many, for which term. Built by the caller, echoed by the service.

    ``custom_term_end_date`` (``YYYY-MM-DD``) aligns the replacement's term with others (coterminosity).
    """

    catalog_item_id: str
    quantity: int
    term_duration: str
    billing_cycle: str
    id: int | None = None
    custom_term_end_date: str | None = None
    order_group: str | None = None
    error: CartLineError | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "catalogItemId": self.catalog_item_id,
            "quantity": self.quantity,
            "termDuration": self.term_duration,
            "billingCycle": self.billing_cycle,
        }
        if self.id is not None:
            body["id"] = self.id
        if self.custom_term_end_date:
            body["customTermEndDate"] = self.custom_term_end_date
        return body

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CartLineItem:
        r = "CartLineItem"
        error = optional(data, "error", dict, None, resource=r)
        group = optional(data, "orderGroup", (str, int), None, resource=r)
        end = optional(data, "customTermEndDate", str, None, resource=r)
        return cls(
            catalog_item_id=field(data, "catalogItemId", str, resource=r),
            quantity=field(data, "quantity", int, resource=r),
            term_duration=optional(data, "termDuration", str, "", resource=r),
            billing_cycle=optional(data, "billingCycle", str, "", resource=r).lower(),
            id=optional(data, "id", int, None, resource=r),
            custom_term_end_date=end[:10] if end else None,
            order_group=None if group is None else str(group),
            error=CartLineError.from_json(error) if error else None,
        )


@dataclass(frozen=True, slots=True)
class Cart:
    """A cart waiting to be checked out; ``status`` becomes ``Ordered`` after checkout."""

    id: str
    status: str
    line_items: tuple[CartLineItem, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cart:
        r = "Cart"
        return cls(
            id=field(data, "id", str, resource=r),
            status=optional(data, "status", str, "", resource=r),
            line_items=tuple(CartLineItem.from_json(i) for i in _objects(data, "lineItems", resource=r)),
        )


@dataclass(frozen=True, slots=True)
class OrderLineItem:
    """One line of an order; ``subscription_id`` is the replacement subscription it created."""

    line_item_number: int
    offer_id: str
    quantity: int
    subscription_id: str | None = None
    term_duration: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OrderLineItem:
        r = "OrderLineItem"
        return cls(
            line_item_number=optional(data, "lineItemNumber", int, 0, resource=r),
            offer_id=field(data, "offerId", str, resource=r),
            quantity=field(data, "quantity", int, resource=r),
            subscription_id=_lower(optional(data, "subscriptionId", str, None, resource=r)),
            term_duration=optional(data, "termDuration", str, None, resource=r),
        )


@dataclass(frozen=True, slots=True)
class Order:
    """An order: ``pending`` until provisioned, then ``completed`` (or ``cancelled``)."""

    id: str
    status: str
    line_items: tuple[OrderLineItem, ...]
    reference_customer_id: str | None = None
    billing_cycle: str | None = None
    created: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Order:
        r = "Order"
        return cls(
            id=field(data, "id", str, resource=r),
            status=optional(data, "status", str, "unknown", resource=r).lower(),
            line_items=tuple(OrderLineItem.from_json(i) for i in _objects(data, "lineItems", resource=r)),
            reference_customer_id=_lower(optional(data, "referenceCustomerId", str, None, resource=r)),
            billing_cycle=optional(data, "billingCycle", str, None, resource=r),
            created=timestamp(data, "creationDate", resource=r),
        )


@dataclass(frozen=True, slots=True)
class OrderError:
    """A part of a checkout that produced no order (one per failed ``orderGroup``)."""

    order_group_id: str
    code: str
    description: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OrderError:
        r = "OrderError"
        return cls(
            order_group_id=str(optional(data, "orderGroupId", (str, int), "", resource=r)),
            code=str(optional(data, "code", (str, int), "", resource=r)),
            description=optional(data, "description", str, "", resource=r),
        )


@dataclass(frozen=True, slots=True)
class CartCheckoutResult:
    """What a checkout produced: possibly several orders and, for some order groups, errors."""

    orders: tuple[Order, ...]
    order_errors: tuple[OrderError, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CartCheckoutResult:
        r = "CartCheckoutResult"
        return cls(
            orders=tuple(Order.from_json(o) for o in _objects(data, "orders", resource=r)),
            order_errors=tuple(OrderError.from_json(e) for e in _objects(data, "orderErrors", resource=r)),
        )


@dataclass(frozen=True, slots=True)
class Subscription:
    """A subscription this partner sold (the replacement); ``offer_id`` is the NCE catalog item id."""

    id: str
    offer_id: str
    quantity: int
    status: str
    offer_name: str = ""
    term_duration: str | None = None
    billing_cycle: str | None = None
    auto_renew_enabled: bool = False
    commitment_end: datetime | None = None
    cancellation_allowed_until: datetime | None = None
    order_id: str | None = None
    product_type: str | None = None
    etag: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Subscription:
        r = "Subscription"
        kind = optional(data, "productType", dict, {}, resource=r)
        attributes = optional(data, "attributes", dict, {}, resource=r)
        return cls(
            id=field(data, "id", str, resource=r).lower(),
            offer_id=field(data, "offerId", str, resource=r),
            quantity=field(data, "quantity", int, resource=r),
            status=field(data, "status", str, resource=r).lower(),
            offer_name=optional(data, "offerName", str, "", resource=r),
            term_duration=optional(data, "termDuration", str, None, resource=r),
            billing_cycle=_lower(optional(data, "billingCycle", str, None, resource=r)),
            auto_renew_enabled=optional(data, "autoRenewEnabled", bool, False, resource=r),
            commitment_end=timestamp(data, "commitmentEndDate", resource=r),
            cancellation_allowed_until=timestamp(data, "cancellationAllowedUntilDate", resource=r),
            order_id=optional(data, "orderId", str, None, resource=r),
            product_type=optional(kind, "id", str, None, resource=r),
            etag=optional(attributes, "etag", str, None, resource=r),
        )


@dataclass(frozen=True, slots=True)
class SubscriptionProvisioningStatus:
    """Whether a bought subscription has reached the tenant; ``sku_id`` is the Entra SKU GUID."""

    sku_id: str
    status: str
    quantity: int
    end_date: datetime | None = None

    @property
    def is_provisioned(self) -> bool:
        return self.status == "success"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubscriptionProvisioningStatus:
        r = "SubscriptionProvisioningStatus"
        return cls(
            sku_id=field(data, "skuId", str, resource=r).lower(),
            status=field(data, "status", str, resource=r).lower(),
            quantity=optional(data, "quantity", int, 0, resource=r),
            end_date=timestamp(data, "endDate", resource=r),
        )


@dataclass(frozen=True, slots=True)
class ProductSku:
    """The license SKU behind a Partner Center subscribed SKU; ``id`` equals Graph's ``skuId``."""

    id: str
    name: str
    sku_part_number: str
    target_type: str = "User"
    license_group_id: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProductSku:
        r = "ProductSku"
        return cls(
            id=field(data, "id", str, resource=r).lower(),
            name=optional(data, "name", str, "", resource=r),
            sku_part_number=optional(data, "skuPartNumber", str, "", resource=r),
            target_type=optional(data, "targetType", str, "User", resource=r),
            license_group_id=optional(data, "licenseGroupId", str, None, resource=r),
        )


@dataclass(frozen=True, slots=True)
class PartnerCenterSubscribedSku:
    """A tenant-wide license pool as Partner Center reports it (every channel, not only ours)."""

    product_sku: ProductSku
    active_units: int
    consumed_units: int
    warning_units: int = 0
    suspended_units: int = 0
    available_units: int = 0
    total_units: int = 0
    capability_status: str = "Enabled"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PartnerCenterSubscribedSku:
        r = "SubscribedSku"
        return cls(
            product_sku=ProductSku.from_json(field(data, "productSku", dict, resource=r)),
            active_units=optional(data, "activeUnits", int, 0, resource=r),
            consumed_units=optional(data, "consumedUnits", int, 0, resource=r),
            warning_units=optional(data, "warningUnits", int, 0, resource=r),
            suspended_units=optional(data, "suspendedUnits", int, 0, resource=r),
            available_units=optional(data, "availableUnits", int, 0, resource=r),
            total_units=optional(data, "totalUnits", int, 0, resource=r),
            capability_status=optional(data, "capabilityStatus", str, "Enabled", resource=r),
        )


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
            webhook_events=_strings(folded, "webhookEvents", resource=r),
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
        results = _objects(data, "results", resource=r)
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


class TransferStatus(StrEnum):
    """Our reading of a partner-to-partner transfer's status; Partner Center's strings vary by page."""

    PENDING = "Pending"  # created, waiting for the source partner
    IN_PROGRESS = "InProgress"  # submitted by the source partner, Partner Center is moving it
    COMPLETED = "Completed"
    EXPIRED = "Expired"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    UNKNOWN = "Unknown"  # a string none of the sources used: treated as not finished

    @classmethod
    def read(cls, text: str | None) -> TransferStatus:
        """Case- and space-insensitive, over every spelling the docs and public code use."""
        return _TRANSFER_STATUSES.get("".join((text or "").lower().split()), cls.UNKNOWN)

    @property
    def finished(self) -> bool:
        return self in (self.COMPLETED, self.EXPIRED, self.FAILED, self.CANCELLED)


_TRANSFER_STATUSES = {
    **dict.fromkeys(("active", "pending", "new", "created"), TransferStatus.PENDING),
    **dict.fromkeys(("inprogress", "submitted", "processing", "accepted"), TransferStatus.IN_PROGRESS),
    **dict.fromkeys(("complete", "completed", "succeeded", "success"), TransferStatus.COMPLETED),
    "expired": TransferStatus.EXPIRED,
    **dict.fromkeys(("failed", "fail", "reject", "rejected"), TransferStatus.FAILED),
    **dict.fromkeys(("cancel", "canceled", "cancelled"), TransferStatus.CANCELLED),
}


@dataclass(frozen=True, slots=True)
class TransferLineItem:
    """One subscription the source partner put in the transfer (``subscriptionId`` is theirs)."""

    id: str
    subscription_id: str
    quantity: int | None
    status: TransferStatus
    product_type: str | None = None
    billing_cycle: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TransferLineItem:
        r = "TransferLineItem"
        kind = data.get("productType")
        kind = kind.get("id") if isinstance(kind, dict) else kind
        item_id = data.get("id")
        return cls(
            id=str(item_id) if item_id is not None else "",
            subscription_id=field(data, "subscriptionId", str, resource=r).lower(),
            quantity=optional(data, "quantity", int, None, resource=r),
            # A line item without a status follows its transfer's (the docs show none on some pages).
            status=TransferStatus.read(optional(data, "status", str, None, resource=r)),
            product_type=str(kind) if isinstance(kind, str) else None,
            billing_cycle=_lower(optional(data, "billingCycle", str, None, resource=r)),
        )


@dataclass(frozen=True, slots=True)
class PartnerTransfer:
    """A new-commerce partner-to-partner ``TransferEntity``, as the target partner reads it."""

    id: str
    status: TransferStatus
    status_text: str
    source_partner_tenant_id: str | None
    line_items: tuple[TransferLineItem, ...] = ()
    created: datetime | None = None
    completed: datetime | None = None
    expires: datetime | None = None
    transfer_direction: int | None = None  # 1 incoming, 2 outgoing

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PartnerTransfer:
        r = "TransferEntity"
        status = optional(data, "status", str, "", resource=r)
        source = optional(data, "sourcePartnerTenantId", str, None, resource=r)
        direction = data.get("transferDirection")
        return cls(
            id=field(data, "id", str, resource=r).lower(),
            status=TransferStatus.read(status),
            status_text=status[:40],
            source_partner_tenant_id=source.lower() if source else None,
            line_items=tuple(TransferLineItem.from_json(i) for i in _objects(data, "lineItems", resource=r)),
            created=timestamp(data, "createdTime", resource=r),
            completed=timestamp(data, "completedTime", resource=r),
            expires=timestamp(data, "expirationTime", resource=r),
            transfer_direction=direction
            if isinstance(direction, int) and not isinstance(direction, bool)
            else None,
        )

    @property
    def is_open(self) -> bool:
        return not self.status.finished


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """The body of ``POST /v1/customers/{id}/transfers`` for a new-commerce transfer."""

    source_partner_tenant_id: str
    source_partner_name: str
    customer_email: str
    customer_name: str | None = None
    transfer_type: int = 5  # NewCommerce; the entity page: "should standardize on 5"
    target_product_types: tuple[str, ...] = ("OnlineServicesNCE",)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "sourcePartnerTenantId": self.source_partner_tenant_id,
            "sourcePartnerName": self.source_partner_name,
            "customerEmailId": self.customer_email,
            "targetProductTypes": list(self.target_product_types),
            "transferType": self.transfer_type,
        }
        if self.customer_name:
            body["customerName"] = self.customer_name
        return body
