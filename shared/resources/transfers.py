"""Partner Center's partner-to-partner transfer resources, parsed at the edge."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.resources import field, lowered, objects, optional, timestamp


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
            billing_cycle=lowered(optional(data, "billingCycle", str, None, resource=r)),
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
        direction = data.get("transferDirection")
        return cls(
            id=field(data, "id", str, resource=r).lower(),
            status=TransferStatus.read(status),
            status_text=status[:40],
            source_partner_tenant_id=lowered(optional(data, "sourcePartnerTenantId", str, None, resource=r)),
            line_items=tuple(TransferLineItem.from_json(i) for i in objects(data, "lineItems", resource=r)),
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
