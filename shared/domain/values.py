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
    #: A holder without a usage location gets the tenant's country at cutover (Entra refuses a
    #: licence to a user without one). Off by default: where a user works is the customer's call.
    usage_location_from_tenant: bool = False

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
        if not isinstance(self.usage_location_from_tenant, bool):
            raise ValueError("usageLocationFromTenant must be true or false")

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
        unknown = sorted(set(data) - _OPTION_NAMES)
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
            usage_location_from_tenant=data.get("usageLocationFromTenant", False),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "termDuration": self.term_duration,
            "billingCycle": self.billing_cycle,
            "purchaseTiming": self.purchase_timing,
            "purchaseLeadDays": self.purchase_lead_days,
            "usageLocationFromTenant": self.usage_location_from_tenant,
        }


_OPTION_NAMES = frozenset(
    {"termDuration", "billingCycle", "purchaseTiming", "purchaseLeadDays", "usageLocationFromTenant"}
)


@dataclass(frozen=True, slots=True)
class GdapRequest:
    """The GDAP relationship asked of the customer, and the access the product set up with it.

    ``status`` is the relationship's as Graph last said; once it is active the product records the
    roles it holds (``granted``), the access assignment it made for the partner's security group
    (``assignment_status`` is ``requested`` from before the write until Graph answers), the
    application consent (``consent_request_id``, derived from the transfer and relationship: a repeat
    is answered 409, so nothing is stored before the call) and when access was
    verified. ``ended`` says what became of the relationship once the transfer no longer needs it.
    """

    relationship_id: str
    approval_url: str
    roles: tuple[str, ...]
    status: str
    attempt: int = 1  # the how-many-th relationship asked for this transfer (its name says so)
    granted: tuple[str, ...] = ()
    assignment_id: str | None = None
    assignment_status: str | None = None
    consent_request_id: str | None = None
    consented: bool = False
    verified_at: str | None = None  # ISO 8601
    #: The tenant's ``countryLetterCode`` as the read that verified access gave it ("" when it gave
    #: none): the region check uses it instead of reading the tenant again.
    tenant_country: str | None = None
    ended: str | None = None  # "ending" (intent), then "ended", "reduced" or "withdrawn"
    read_for: str | None = None  # the event whose announcement was last read (read once per event)


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
    attestation: bool = False  # its SKU enforces attestation: the cart line accepts it
    product_name: str | None = None  # the catalog's title: "Microsoft 365 E3 (no Teams)"

    @property
    def name(self) -> str:
        """What an admin calls the offer: its title, else its catalog item id."""
        return self.product_name or self.catalog_item_id


#: Holders named in the record as left without a seat (object ids); the plan lists every one.
NAMED_USERS = 200


@dataclass(frozen=True, slots=True)
class LineChoice:
    """One way to buy a line that only an admin can choose (a line above a seat cap per customer):
    what is bought and what the line becomes once chosen. ``name`` is ``upToCap`` or ``enterprise``;
    ``users_without_seat``: the holders it leaves without a licence (at most :data:`NAMED_USERS`
    object ids, never names), ``unnamed`` how many more there are."""

    name: str
    decision: str
    replacements: tuple[Replacement, ...]
    users_to_move: int = 0
    upgraded_plans: tuple[tuple[str, str | None], ...] = ()
    users_without_seat: tuple[str, ...] = ()
    unnamed: int = 0


@dataclass(frozen=True, slots=True)
class UserFailure:
    """A user whose license could not be moved, and why (an object id, never a name).
    ``group_id`` names the group whose change Entra could not apply to them (a member error)."""

    user_id: str
    reason: str
    detail: str = ""
    group_id: str | None = None


@dataclass(frozen=True, slots=True)
class RefundItem:
    """One new subscription to cancel for a refund: ``intended`` (persisted before any call, so a
    repeat reads it at Partner Center before cancelling), then ``cancelled`` or ``refused``."""

    subscription_id: str
    request_id: str  # the cancel's MS-RequestId, persisted before it is sent
    status: str = "intended"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Refund:
    """An admin's cancel with ``refundPurchases``: the transfer's new subscriptions, cancelled once
    inside their cancellation window (new commerce refunds them, prorated)."""

    requested_at: str  # ISO 8601
    items: tuple[RefundItem, ...]

    def __post_init__(self) -> None:
        items = tuple(i if isinstance(i, RefundItem) else RefundItem(**i) for i in self.items)
        object.__setattr__(self, "items", items)  # dicts and a list when read back from storage

    @property
    def settled(self) -> bool:
        return all(i.status != "intended" for i in self.items)
