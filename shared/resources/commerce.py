"""Partner Center's carts, orders and subscriptions, parsed at the edge."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.resources import field, lowered, objects, optional, timestamp

#: ``CartErrorCode`` 10012: the line's SKU enforces attestation, and the line did not accept it.
ATTESTATION_NOT_ACCEPTED = "10012"


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

    ``custom_term_end_date`` (``YYYY-MM-DD``) aligns the replacement's term with others (coterminosity);
    ``attestation_accepted`` is sent where the SKU enforces attestation ("Create a cart").
    """

    catalog_item_id: str
    quantity: int
    term_duration: str
    billing_cycle: str
    id: int | None = None
    custom_term_end_date: str | None = None
    order_group: str | None = None
    error: CartLineError | None = None
    attestation_accepted: bool = False

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
        if self.attestation_accepted:
            body["attestationAccepted"] = True
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
            line_items=tuple(CartLineItem.from_json(i) for i in objects(data, "lineItems", resource=r)),
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
            subscription_id=lowered(optional(data, "subscriptionId", str, None, resource=r)),
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
            line_items=tuple(OrderLineItem.from_json(i) for i in objects(data, "lineItems", resource=r)),
            reference_customer_id=lowered(optional(data, "referenceCustomerId", str, None, resource=r)),
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
            orders=tuple(Order.from_json(o) for o in objects(data, "orders", resource=r)),
            order_errors=tuple(OrderError.from_json(e) for e in objects(data, "orderErrors", resource=r)),
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
            billing_cycle=lowered(optional(data, "billingCycle", str, None, resource=r)),
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
