"""The value objects a transfer record carries: options, requests made, purchases, replacements."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

TERM_DURATIONS = ("P1M", "P1Y", "P3Y")


BILLING_CYCLES = ("monthly", "annual", "triennial")


PURCHASE_TIMINGS = ("onAcceptance", "beforeLapse")


#: "If the current partner does not respond within 30 days the request expires" (Azure plan page).
PARTNER_TRANSFER_EXPIRY = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class TransferOptions:
    """How and when replacements are bought.

    The default, a one-year term billed monthly, is what Microsoft itself gives subscriptions it
    migrates into new commerce, costs less than the monthly term, and spares the partner prepaying
    a year for a customer it has only just taken over. Buying on acceptance is Microsoft's
    documented path; ``beforeLapse`` buys each line ``purchase_lead_days`` before its original
    lapses, so the customer does not pay twice for the months in between.
    """

    term_duration: str = "P1Y"
    billing_cycle: str = "monthly"
    purchase_timing: str = "onAcceptance"
    purchase_lead_days: int = 14

    def __post_init__(self) -> None:
        if self.term_duration not in TERM_DURATIONS:
            raise ValueError(f"termDuration must be one of {TERM_DURATIONS}, not {self.term_duration!r}")
        if self.billing_cycle not in BILLING_CYCLES:
            raise ValueError(f"billingCycle must be one of {BILLING_CYCLES}, not {self.billing_cycle!r}")
        if self.purchase_timing not in PURCHASE_TIMINGS:
            raise ValueError(
                f"purchaseTiming must be one of {PURCHASE_TIMINGS}, not {self.purchase_timing!r}"
            )
        if not 1 <= self.purchase_lead_days <= 90:
            raise ValueError(f"purchaseLeadDays must be from 1 to 90, not {self.purchase_lead_days!r}")

    @property
    def deferred(self) -> bool:
        return self.purchase_timing == "beforeLapse"

    def purchase_due(self, original_expires: datetime | None, now: datetime) -> datetime:
        """When a line's replacement is bought: now, or its lead time before the original lapses."""
        if not self.deferred or original_expires is None:
            return now
        return original_expires - timedelta(days=self.purchase_lead_days)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> TransferOptions:
        """From the API's ``options`` object; raises ValueError naming what is wrong."""
        data = data or {}
        unknown = sorted(set(data) - {"termDuration", "billingCycle", "purchaseTiming", "purchaseLeadDays"})
        if unknown:
            raise ValueError(f"unknown options {[str(k)[:40] for k in unknown]}")
        term = data.get("termDuration", "P1Y")
        cycle = data.get("billingCycle", "monthly")
        timing = data.get("purchaseTiming", "onAcceptance")
        lead = data.get("purchaseLeadDays", 14)
        if not all(isinstance(v, str) for v in (term, cycle, timing)):
            raise ValueError("termDuration, billingCycle and purchaseTiming must be strings")
        if not isinstance(lead, int) or isinstance(lead, bool):
            raise ValueError("purchaseLeadDays must be a whole number of days")
        return cls(
            term_duration=term.upper(),
            billing_cycle=cycle.lower(),
            purchase_timing=timing,
            purchase_lead_days=lead,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "termDuration": self.term_duration,
            "billingCycle": self.billing_cycle,
            "purchaseTiming": self.purchase_timing,
            "purchaseLeadDays": self.purchase_lead_days,
        }


@dataclass(frozen=True, slots=True)
class GdapRequest:
    """The GDAP relationship asked of the customer: the roles the cutover needs, and its approval link."""

    relationship_id: str
    approval_url: str
    roles: tuple[str, ...]
    status: str


@dataclass(frozen=True, slots=True)
class Purchase:
    """The one cart that buys every line, and the ``MS-RequestId`` of each write, persisted before it.

    Partner Center answers a repeated write with the same request id with the first answer, so
    re-sending either call after an ambiguous failure cannot buy twice.
    """

    cart_request_id: str
    checkout_request_id: str
    started_at: str  # ISO 8601; orders older than this are not this purchase's
    cart_id: str | None = None
    checkout_attempts: int = 0  # counted before each call: above zero, the cart may already be bought

    @classmethod
    def new(cls, at: datetime) -> Purchase:
        return cls(str(uuid.uuid4()), str(uuid.uuid4()), at.isoformat())


@dataclass(frozen=True, slots=True)
class SourcePartner:
    """The CSP partner that sells the customer its subscriptions today (Microsoft ID and name)."""

    tenant_id: str
    name: str


@dataclass(frozen=True, slots=True)
class PartnerTransferRequest:
    """The one Partner Center transfer request of a transfer, persisted before it is created.

    ``transfer_id`` is stored the moment Partner Center names it; until then a retry lists the
    customer's transfers and adopts an open one from the same source partner rather than POST again.
    ``status`` is our reading (:class:`~shared.resources.partner_center.TransferStatus` values).
    """

    request_id: str
    started_at: str  # ISO 8601
    transfer_id: str | None = None
    status: str = "Intended"
    created_at: str | None = None  # Partner Center's createdTime: the 30 days of expiry count from it
    checked_at: str | None = None  # the last time it was read: the timer polls by this
    attempts: int = 0  # create attempts counted before each POST

    @classmethod
    def new(cls, at: datetime) -> PartnerTransferRequest:
        return cls(str(uuid.uuid4()), at.isoformat())

    @property
    def created(self) -> datetime:
        """When Partner Center created it (else when it was asked for): its expiry counts from then."""
        return datetime.fromisoformat(self.created_at or self.started_at)

    @property
    def expires(self) -> datetime:
        return self.created + PARTNER_TRANSFER_EXPIRY


@dataclass(frozen=True, slots=True)
class LineTransfer:
    """How a line of a partner-to-partner transfer moves: by ``transfer``, or by ``rebuy``, and why.

    ``status`` is the line's transfer status (Expected, Requested, InProgress, Transferred,
    PartlyTransferred, NotIncluded, Expired, Failed, Cancelled, NotTransferable). A line the source
    partner submitted only in part keeps the seats that moved (``transferred_quantity``, on
    ``subscription_ids``, now this partner's) and rebuys the rest: its ``quantity`` is the remainder.
    """

    path: str
    status: str
    reason: str | None = None
    line_item_id: str | None = None
    transferred_quantity: int = 0
    subscription_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "subscription_ids", tuple(self.subscription_ids))  # a list when stored


@dataclass(frozen=True, slots=True)
class Replacement:
    """One catalog item bought for a line: what, how many, on which term."""

    catalog_item_id: str
    sku_id: str  # the Entra SKU it provisions
    quantity: int
    term_duration: str
    billing_cycle: str
    order_id: str | None = None  # set once bought: a retry buys only what has none
    product_name: str | None = None  # the catalog's title: "Microsoft 365 E3 (no Teams)"

    @property
    def name(self) -> str:
        """What an admin calls the offer: its title, else its catalog item id."""
        return self.product_name or self.catalog_item_id


@dataclass(frozen=True, slots=True)
class UserFailure:
    """A user whose license could not be moved, and why (an object id, never a name)."""

    user_id: str
    reason: str
    detail: str = ""
