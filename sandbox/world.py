"""The world both APIs look at: tenants, users, groups, subscriptions, orders, and a movable clock.

Partner Center and Graph are two views of this one model, so a checkout shows up at once as a
Partner Center subscription, a Graph ``companySubscription`` and more prepaid units on the
tenant's ``subscribedSku``. Everything runs on the server's single event loop, so every
operation here is atomic without locks.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from .catalog import Catalog, Offer, region_of

NAMESPACE = uuid.UUID("6b1f4c1e-2f57-4c8e-9a3e-5d3c4b2a1f00")
ISO_DAYS = re.compile(r"^P(\d+)D$")
REQUEST_EXPIRY = dt.timedelta(days=90)

ENABLED, WARNING, SUSPENDED, DELETED, LOCKED_OUT = "Enabled", "Warning", "Suspended", "Deleted", "LockedOut"

READ_ROLES = frozenset(
    {"Directory Readers", "Global Reader", "License Administrator", "User Administrator", "Directory Writers"}
)
WRITE_ROLES = frozenset({"License Administrator", "User Administrator", "Directory Writers"})
ROLE_DEFINITIONS = {
    "4d6ac14f-3453-41d0-bef9-a3e0c569773a": "License Administrator",
    "88d8e3e3-8f55-4a1e-953a-9b9898b8876b": "Directory Readers",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
    "9360feb5-f418-4baa-8175-e2a00bac4301": "Directory Writers",
    "f2ef992c-3afb-46b9-b7cf-a126ee74c451": "Global Reader",
    "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
    "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
}
"""Entra built-in role template ids the sandbox's GDAP relationships accept."""
CONSENT_ROLES = frozenset(
    {"Cloud Application Administrator", "Application Administrator", "Privileged Role Administrator",
     "Global Administrator"}
)  # fmt: skip
"""GDAP roles that let a partner's user consent an application in the customer's tenant (Learn: "Use
the Exchange Online PowerShell v3 Module with GDAP and App Consent": Global admin, Privileged role
admin or Cloud application admin; Application Administrator holds the same consent rights)."""

# Families of service plans Entra refuses to stack on one user. Exchange and Skype are left out on
# purpose: Microsoft now lets Exchange plans duplicate, and sells Teams Enterprise (MCOIMP,
# EXCHANGE_S_DESKLESS) together with the no-Teams suites (MCOSTANDARD, EXCHANGE_S_STANDARD).
EXCLUSIVE_FAMILIES: tuple[frozenset[str], ...] = (
    frozenset(
        {
            "ONEDRIVEENTERPRISE", "SHAREPOINT_S_DEVELOPER", "SHAREPOINTDESKLESS", "SHAREPOINTENTERPRISE",
            "SHAREPOINTENTERPRISE_EDU", "SHAREPOINTENTERPRISE_MIDMARKET", "SHAREPOINTLITE",
            "SHAREPOINTSTANDARD", "SHAREPOINTSTANDARD_EDU", "SHAREPOINTSTANDARD_YAMMERSHADOW",
        }
    ),
    frozenset({"YAMMER_ENTERPRISE", "YAMMER_EDU", "YAMMER_MIDSIZE"}),
    frozenset({"INTUNE_A", "INTUNE_A_VL", "INTUNE_B"}),
    frozenset({"RMS_S_ENTERPRISE", "RMS_S_ENTERPRISE_GOV"}),
)  # fmt: skip


def stable_id(*parts: str) -> str:
    """A GUID fixed by its name, so scenarios are the same on every run."""
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def partner_admin_id(partner_tenant_id: str) -> str:
    """The partner tenant's admin: every sign-in and every app + user token is this user."""
    return stable_id("partner-admin", partner_tenant_id)


def partner_group_id(partner_tenant_id: str) -> str:
    """The partner's security group for GDAP access assignments; its one member is the admin."""
    return stable_id("partner-group", partner_tenant_id)


def iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock:
    """Real time plus an offset the control API moves forward."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


class PartnerCenterError(Exception):
    """A business error answered in Partner Center's ``{code, description, data, source}`` shape."""

    def __init__(self, status: int, code: int, description: str, data: list[str] | None = None) -> None:
        super().__init__(description)
        self.status, self.code, self.description, self.data = status, code, description, data or []


class GraphError(Exception):
    """An error answered in Graph's ``{"error": {"code", "message"}}`` shape."""

    def __init__(self, status: int, code: str, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


@dataclass(slots=True)
class User:
    id: str
    user_principal_name: str
    display_name: str
    usage_location: str | None
    direct: dict[str, list[str]] = field(default_factory=dict)
    """skuId -> disabled plan ids, for licenses assigned to the user directly."""
    groups: set[str] = field(default_factory=set)
    updated: dict[str, dt.datetime] = field(default_factory=dict)


@dataclass(slots=True)
class GroupChange:
    """A group licence change Entra has accepted (202) but not processed yet: until ``done_at`` the
    members keep what the group gave them before (``before``, with its ``errors``)."""

    done_at: dt.datetime
    before: dict[str, list[str]]
    errors: dict[tuple[str, str], str]
    added: tuple[str, ...]


@dataclass(slots=True)
class Group:
    id: str
    display_name: str
    licenses: dict[str, list[str]] = field(default_factory=dict)
    """What the group assigns: after a change, at once (the group's own ``assignedLicenses``)."""
    members: list[str] = field(default_factory=list)
    errors: dict[tuple[str, str], str] = field(default_factory=dict)
    """(user id, skuId) -> licenseAssignmentState error, for members the group could not license."""
    processing: GroupChange | None = None

    def effective(self) -> tuple[dict[str, list[str]], dict[tuple[str, str], str]]:
        """What the members hold through the group now: the previous licences while a change is
        being processed, the group's own once it is done."""
        if self.processing is not None:
            return self.processing.before, self.processing.errors
        return self.licenses, self.errors


@dataclass(slots=True)
class Subscription:
    """One commerce subscription. Every one is a Graph companySubscription; this partner's are also
    Partner Center subscriptions."""

    id: str
    graph_id: str
    sku_id: str
    quantity: int
    created: dt.datetime
    next_lifecycle: dt.datetime | None
    owner_tenant_id: str | None
    channel: str
    """direct | ea | partner | other-partner | free | trial"""
    status: str = ENABLED
    is_trial: bool = False
    auto_renew: bool = False
    offer: Offer | None = None
    term_duration: str = "P1Y"
    billing_cycle: str = "Monthly"
    order_id: str | None = None
    partner_status: str | None = None
    """Partner Center status set by PATCH (suspended/deleted); None means follow the lifecycle."""
    etag: int = 1
    commitment_end: dt.datetime | None = None
    provisioned_at: dt.datetime | None = None
    """Until the clock reaches this, the purchase is still provisioning: Graph does not show it yet."""

    @property
    def provisioning(self) -> bool:
        return self.provisioned_at is not None

    def grace_days(self) -> tuple[int, int]:
        """Days in Warning, then in Suspended (EA: 90 then 60; everything else 30 then 90)."""
        return (90, 60) if self.channel == "ea" else (30, 90)


@dataclass(slots=True)
class Order:
    id: str
    customer_id: str
    lines: list[tuple[Offer, int, str, str, str]]
    """(offer, quantity, subscription id, term duration, billing cycle) per line."""
    created: dt.datetime
    request_id: str | None
    via: str


@dataclass(slots=True)
class CartLine:
    id: int
    offer: Offer
    quantity: int
    term_duration: str
    billing_cycle: str
    order_group: str
    friendly_name: str | None = None
    sent_id: str = ""
    """The catalog item id the cart was sent (an earlier month's, when stale)."""
    error: dict[str, Any] | None = None
    """The line's ``CartError`` (``errorCode``, ``errorDescription``), set when the cart is created."""


@dataclass(slots=True)
class Cart:
    id: str
    customer_id: str
    lines: list[CartLine]
    created: dt.datetime
    status: str = "Active"
    checkout: dict[str, Any] | None = None


@dataclass(slots=True)
class Tenant:
    id: str
    name: str
    domain: str
    country: str
    relationship: str = "none"
    """Partner Center ``relationshipToPartner``: none until the customer accepts, then reseller."""
    gdap_roles: frozenset[str] = frozenset()
    gdap_active: bool = False
    """Access pre-granted by a test that is not about access (``PATCH /customers/{id}/gdap``, or the
    scenario parameter ``access=granted``): these roles count as effective and the application as
    consented, without an access assignment. Off in every scenario by default."""
    consented_apps: set[str] = field(default_factory=set)
    """Application ids consented in this tenant (Partner Center ``applicationconsents``)."""
    accepted_at: float | None = None
    lag_requests_left: int = 0
    lag_until: float = 0.0
    users: dict[str, User] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    carts: dict[str, Cart] = field(default_factory=dict)
    agreements: list[dict[str, Any]] = field(default_factory=list)
    """Microsoft Customer Agreement acceptances partners confirmed (``Agreement`` resources)."""
    signed_directly: bool = False
    """Whether the customer accepted the Microsoft Customer Agreement itself."""
    qualifications: list[dict[str, Any]] = field(default_factory=list)
    """``[{"qualification": "Education", "vettingStatus": "Approved"}]``; none: commercial."""
    direct_seats: tuple[Counter[str], int] | None = None
    """Direct holders per SKU, and how many users the tenant had when they were counted."""

    @property
    def agreement_accepted(self) -> bool:
        return self.signed_directly or any(a["type"] == "MicrosoftCustomerAgreement" for a in self.agreements)

    def effective_skus(self, user: User) -> dict[str, str | None]:
        """skuId -> None when direct, else the id of the (first) group it is inherited from."""
        held: dict[str, str | None] = dict.fromkeys(user.direct)
        for group_id in sorted(user.groups):
            licenses, errors = self.groups[group_id].effective()
            for sku in licenses:
                if (user.id, sku) not in errors:
                    held.setdefault(sku, group_id)
        return held

    def consumed(self, sku_id: str) -> int:
        """Seats of ``sku_id`` in use: its direct holders (counted as they change, so a licence write
        in a tenant of 50,000 users costs no walk over them) and the group members who hold it only
        through a group, without an error."""
        inherited = {
            member
            for group in self.groups.values()
            if sku_id in group.effective()[0]
            for member in group.members
            if sku_id not in self.users[member].direct and (member, sku_id) not in group.effective()[1]
        }
        return self._direct_seats()[sku_id] + len(inherited)

    def _direct_seats(self) -> Counter[str]:
        """skuId -> users holding it directly; counted again whenever users were added since."""
        if self.direct_seats is None or self.direct_seats[1] != len(self.users):
            counts = Counter(sku for user in self.users.values() for sku in user.direct)
            self.direct_seats = (counts, len(self.users))
        return self.direct_seats[0]

    def directly_assigned(self, user: User, after: dict[str, list[str]]) -> None:
        """The one way a user's direct licences change once the user exists: the seat counts follow."""
        counts = self._direct_seats()
        counts.subtract(user.direct.keys())
        counts.update(after.keys())
        user.direct = after

    def consumption(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for user in self.users.values():
            for sku in self.effective_skus(user):
                counts[sku] = counts.get(sku, 0) + 1
        return counts

    def units(self, sku_id: str) -> dict[str, int]:
        totals = {ENABLED: 0, WARNING: 0, SUSPENDED: 0, LOCKED_OUT: 0}
        for sub in self.subscriptions.values():
            if sub.sku_id == sku_id and sub.status in totals and not sub.provisioning:
                totals[sub.status] += sub.quantity
        return totals

    def assignable(self, sku_id: str) -> int:
        """Seats still free: enabled plus warning units (users keep access in grace) minus consumed."""
        units = self.units(sku_id)
        return units[ENABLED] + units[WARNING] - self.consumed(sku_id)


@dataclass(slots=True)
class AccessAssignment:
    """A GDAP ``delegatedAdminAccessAssignment``: a partner security group holds some of the
    relationship's roles once it is ``active`` (it is ``pending`` until ``active_from``)."""

    id: str
    group_id: str
    roles: frozenset[str]
    """Role template ids, a subset of the relationship's."""
    created: dt.datetime
    active_from: dt.datetime
    status: str = "pending"
    etag: int = 1

    def settle(self, now: dt.datetime) -> bool:
        """Pending until its activation time; True when this read is the one that activates it."""
        if self.status == "pending" and now >= self.active_from:
            self.status = "active"
            self.etag += 1
            return True
        return False


@dataclass(slots=True)
class AdminRelationship:
    """A GDAP ``delegatedAdminRelationship``; its roles take effect when the customer approves it."""

    id: str
    customer_id: str
    display_name: str
    duration: str
    auto_extend: str
    roles: frozenset[str]
    """Role template ids (``ROLE_DEFINITIONS`` keys)."""
    status: str
    created: dt.datetime
    activated: dt.datetime | None = None
    assignments: dict[str, AccessAssignment] = field(default_factory=dict)

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(ROLE_DEFINITIONS[r] for r in self.roles)


@dataclass(slots=True)
class Purchase:
    order_id: str
    customer_id: str
    request_id: str | None
    via: str
    lines: list[dict[str, Any]]
    at: str


@dataclass(slots=True)
class Ledger:
    """What happened, for tests ("bought exactly once") and benchmarks (how many calls)."""

    purchases: list[Purchase] = field(default_factory=list)
    license_changes: list[dict[str, Any]] = field(default_factory=list)
    license_writes: list[dict[str, Any]] = field(default_factory=list)
    """Every assignLicense received (user or group, in a ``$batch`` or not), whatever its answer."""
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=200_000))


@dataclass(slots=True)
class World:
    catalog: Catalog
    partner_tenant_id: str
    partner_country: str
    partner_mpn_id: str
    clock: Clock
    tenants: dict[str, Tenant] = field(default_factory=dict)
    keys: dict[str, dict[str, str]] = field(default_factory=dict)
    """Named ids of the scenario (customers, users, groups, subscriptions, skus, catalog items)."""
    ledger: Ledger = field(default_factory=Ledger)
    scenario: str = "default"
    admin_relationships: dict[str, AdminRelationship] = field(default_factory=dict)
    transfers: dict[str, Any] = field(default_factory=dict)
    """Partner-to-partner transfer requests by id (:mod:`sandbox.transfers`)."""
    partner_groups: dict[str, set[str]] = field(default_factory=dict)
    """The partner tenant's security groups (access containers of GDAP access assignments) and
    their members' ids."""

    # ------------------------------------------------------------------ lookups and lifecycle

    def tenant(self, tenant_id: str) -> Tenant | None:
        tenant = self.tenants.get(tenant_id.lower())
        if tenant is not None:
            self.settle(tenant)
        return tenant

    def settle(self, tenant: Tenant) -> None:
        """Move every subscription past each lifecycle date the clock has reached, and finish the
        group licence changes whose processing time is over."""
        now = self.clock.now()
        for sub in tenant.subscriptions.values():
            if sub.provisioned_at is not None and sub.provisioned_at <= now:
                sub.provisioned_at = None
            while sub.next_lifecycle is not None and sub.next_lifecycle <= now:
                self._advance(sub)
        for group in tenant.groups.values():
            if group.processing is not None and group.processing.done_at <= now:
                self._finish_group_change(tenant, group)

    def _advance(self, sub: Subscription) -> None:
        assert sub.next_lifecycle is not None
        warning_days, suspended_days = sub.grace_days()
        if sub.status == ENABLED and sub.auto_renew and sub.partner_status is None:
            sub.next_lifecycle += term_length(sub.term_duration)
            sub.commitment_end = sub.next_lifecycle
        elif sub.status == ENABLED:
            sub.status, sub.next_lifecycle = WARNING, sub.next_lifecycle + dt.timedelta(days=warning_days)
        elif sub.status in (WARNING, LOCKED_OUT):
            sub.status, sub.next_lifecycle = SUSPENDED, sub.next_lifecycle + dt.timedelta(days=suspended_days)
        else:
            sub.status, sub.next_lifecycle = DELETED, None
        sub.etag += 1

    def customers(self) -> list[Tenant]:
        """Tenants with a reseller relationship to this partner, in a stable order."""
        return [t for t in self.tenants.values() if t.relationship == "reseller"]

    # ------------------------------------------------------------------ invitation

    def accept_invitation(
        self, tenant_id: str, lag_seconds: float, lag_requests: int, now: float, *, approve_gdap: bool = True
    ) -> tuple[Tenant, list[AdminRelationship]]:
        """The customer's Global Administrator accepts the reseller invitation and approves the
        partner's pending GDAP requests; returns the tenant and the relationships approved."""
        tenant = self.tenants.get(tenant_id.lower())
        if tenant is None:
            raise KeyError(tenant_id)
        tenant.relationship = "reseller"
        approved = self.approve_relationships(tenant) if approve_gdap else []
        tenant.accepted_at = now
        tenant.lag_until = now + lag_seconds
        tenant.lag_requests_left = lag_requests
        return tenant, approved

    def approve_relationships(
        self, tenant: Tenant, keep_roles: frozenset[str] | None = None
    ) -> list[AdminRelationship]:
        """The customer approves every pending GDAP request (all its roles: a customer cannot change
        them). ``keep_roles`` (role names) stands for a request whose roles were changed while it
        was ``created``, before it was locked for approval: the relationship holds only those."""
        approved = []
        for relationship in self.admin_relationships.values():
            if relationship.customer_id == tenant.id and relationship.status == "approvalPending":
                if keep_roles is not None:
                    relationship.roles = frozenset(
                        r for r in relationship.roles if ROLE_DEFINITIONS[r] in keep_roles
                    )
                relationship.status, relationship.activated = "active", self.clock.now()
                approved.append(relationship)
        return approved

    def approved_relationships(self, tenant_id: str) -> list[AdminRelationship]:
        return [
            r
            for r in self.admin_relationships.values()
            if r.customer_id == tenant_id and r.status == "active"
        ]

    def terminate_relationship(self, relationship: AdminRelationship) -> None:
        """Ending a GDAP relationship (or withdrawing a pending request) takes its roles away: its
        access assignments go with it."""
        relationship.status = "terminated"
        for assignment in relationship.assignments.values():
            assignment.status = "deleted"

    def settle_relationship(self, relationship: AdminRelationship) -> bool:
        """Expire a relationship whose time is up: a request the customer left pending for 90 days
        (GDAP FAQ: "GDAP relationship requests expire after 90 days"), or an active one past its
        duration. True when this call expired it."""
        now = self.clock.now()
        days = ISO_DAYS.match(relationship.duration)
        pending_ends = relationship.created + REQUEST_EXPIRY
        active_ends = None
        if relationship.activated is not None and days is not None:
            active_ends = relationship.activated + dt.timedelta(days=int(days.group(1)))
        if (relationship.status == "approvalPending" and now >= pending_ends) or (
            relationship.status == "active" and active_ends is not None and now >= active_ends
        ):
            self.terminate_relationship(relationship)
            relationship.status = "expired"
            return True
        return False

    def effective_roles(self, tenant: Tenant) -> frozenset[str]:
        """The role names the partner's admin user holds in ``tenant``: those of every active access
        assignment of an active relationship whose security group the user belongs to (and any a
        test pre-granted)."""
        admin = partner_admin_id(self.partner_tenant_id)
        roles = set(tenant.gdap_roles) if tenant.gdap_active else set()
        for relationship in self.approved_relationships(tenant.id):
            for assignment in relationship.assignments.values():
                members = self.partner_groups.get(assignment.group_id, set())
                if assignment.status == "active" and admin in members:
                    roles |= {ROLE_DEFINITIONS[r] for r in assignment.roles & relationship.roles}
        return frozenset(roles)

    def has_consent(self, tenant: Tenant, app_id: str) -> bool:
        """Whether the application may get tokens for ``tenant``: consented there (or pre-granted)."""
        return tenant.gdap_active or app_id in tenant.consented_apps

    # ------------------------------------------------------------------ purchases

    def check_purchasable(self, tenant: Tenant, offer: Offer, quantity: int) -> None:
        if tenant.country not in region_of(self.partner_country):
            raise PartnerCenterError(
                403, 2030, f"Partner is not onboarded to sell in country {tenant.country}."
            )
        if tenant.country not in offer.countries:
            raise PartnerCenterError(400, 800070, "Offer is not available in the specified country.")
        if not offer.purchasable:
            raise PartnerCenterError(403, 800020, "The catalog item is not eligible for purchase.")
        if not offer.minimum_quantity <= quantity <= offer.maximum_quantity:
            raise PartnerCenterError(400, 800017, "The quantity is not available for this catalog item.")

    def check_customer_caps(self, tenant: Tenant, lines: list[tuple[Offer, int]]) -> None:
        """Partner Center's per-customer limit (403 800089): the seats this partner already sells the
        customer of a capped offer's SKU, plus those now asked for, stay within the cap. Seats of the
        same SKU bought through other channels (direct, EA, another partner) are not counted."""
        asked: dict[str, tuple[int, int]] = {}
        for offer, quantity in lines:
            if offer.customer_cap is not None:
                before = asked.get(offer.provisioning_id, (offer.customer_cap, 0))[1]
                asked[offer.provisioning_id] = (offer.customer_cap, before + quantity)
        for sku, (cap, quantity) in sorted(asked.items()):
            held = sum(
                sub.quantity
                for sub in tenant.subscriptions.values()
                if sub.sku_id == sku and sub.channel == "partner" and sub.status != DELETED
            )
            if held + quantity > cap:
                raise PartnerCenterError(
                    403,
                    800089,
                    f"The requested number of {quantity} asset/s exceeded the remaining limit of "
                    f"{max(0, cap - held)} assets allowed per customer",
                )

    def place_order(
        self,
        tenant: Tenant,
        lines: list[tuple[Offer, int, str, str, str | None]],
        *,
        request_id: str | None,
        via: str,
        provisioning_s: float = 0.0,
    ) -> Order:
        """Create the subscriptions of an order: one per line, visible to Partner Center and Graph."""
        now = self.clock.now()
        order_id = uuid.uuid4().hex
        placed: list[tuple[Offer, int, str, str, str]] = []
        for offer, quantity, term, cycle, _name in lines:
            sub_id = str(uuid.uuid4())
            tenant.subscriptions[sub_id] = Subscription(
                id=sub_id,
                graph_id=str(uuid.uuid4()),
                sku_id=offer.provisioning_id,
                quantity=quantity,
                created=now,
                next_lifecycle=now + term_length(term),
                owner_tenant_id=self.partner_tenant_id,
                channel="partner",
                auto_renew=True,
                offer=offer,
                term_duration=term,
                billing_cycle=cycle,
                order_id=order_id,
                commitment_end=now + term_length(term),
                provisioned_at=now + dt.timedelta(seconds=provisioning_s) if provisioning_s > 0 else None,
            )
            placed.append((offer, quantity, sub_id, term, cycle))
        order = Order(order_id, tenant.id, placed, now, request_id, via)
        tenant.orders[order_id] = order
        self.ledger.purchases.append(
            Purchase(
                order_id=order_id,
                customer_id=tenant.id,
                request_id=request_id,
                via=via,
                at=iso(now) or "",
                lines=[
                    {
                        "catalogItemId": o.catalog_item_id,
                        "segment": o.segment,
                        "productType": o.product_type,
                        "skuId": o.provisioning_id,
                        "quantity": q,
                        "subscriptionId": s,
                        "termDuration": t,
                    }
                    for o, q, s, t, _ in placed
                ],
            )
        )
        return order

    # ------------------------------------------------------------------ licenses

    def assign_user_licenses(
        self, tenant: Tenant, user: User, add: list[tuple[str, list[str]]], remove: list[str]
    ) -> None:
        """Graph's user assignLicense: all of ``add`` and ``remove`` apply together, or nothing does."""
        held = tenant.effective_skus(user)
        for sku in remove:
            if sku in user.direct:
                continue
            if sku in held:
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    "User license is inherited from group membership and cannot be removed directly "
                    "from the user.",
                )
            raise GraphError(400, "Request_BadRequest", "User does not have a corresponding license.")
        if add and not user.usage_location:
            raise GraphError(
                400,
                "Request_BadRequest",
                "License assignment cannot be done for user with invalid usage location.",
                "ProhibitedInUsageLocationViolation",
            )
        for sku, _disabled in add:
            self._check_company_license(tenant, sku)
            if sku not in held and tenant.assignable(sku) < 1:
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    f"Subscription with SKU {sku} does not have any available licenses.",
                    "CountViolation",
                )
        after = {s: list(user.direct[s]) for s in user.direct if s not in remove}
        for sku, disabled in add:
            after[sku] = disabled
        inherited = {s for s, g in held.items() if g is not None}
        conflict = self._conflict(set(after) | inherited)
        if conflict is not None:
            raise GraphError(
                400,
                "Request_BadRequest",
                f"License assignment failed because service plans {conflict[0]} and {conflict[1]} "
                "are mutually exclusive.",
                "MutuallyExclusiveViolation",
            )
        before = set(user.direct)
        tenant.directly_assigned(user, after)
        now = self.clock.now()
        for sku in set(after) ^ before | {s for s, _ in add}:
            user.updated[sku] = now
        self.ledger.license_changes.append(
            {
                "tenantId": tenant.id,
                "userId": user.id,
                "added": [s for s, _ in add],
                "removed": list(remove),
                "at": iso(now),
            }
        )

    def assign_group_licenses(
        self,
        tenant: Tenant,
        group: Group,
        add: list[tuple[str, list[str]]],
        remove: list[str],
        *,
        delay: dt.timedelta = dt.timedelta(0),
    ) -> None:
        """Group assignLicense: the group's licences change at once, its members' after ``delay``
        (Entra processes group changes in the background); members who cannot get a seat then get
        an error state, as Entra records it. A change still being processed is finished first."""
        if group.processing is not None:
            self._finish_group_change(tenant, group)
        for sku in remove:
            if sku not in group.licenses:
                raise GraphError(400, "Request_BadRequest", "Group does not have a corresponding license.")
        for sku, _ in add:
            self._check_company_license(tenant, sku)
        now = self.clock.now()
        before = (dict(group.licenses), dict(group.errors))
        group.processing = GroupChange(now + delay, *before, tuple(s for s, _ in add))
        for sku in [*remove, *(s for s, _ in add)]:
            group.licenses.pop(sku, None)
            group.errors = {k: v for k, v in group.errors.items() if k[1] != sku}
        group.licenses.update(dict(add))
        self.ledger.license_changes.append(
            {
                "tenantId": tenant.id,
                "groupId": group.id,
                "added": [s for s, _ in add],
                "removed": list(remove),
                "at": iso(now),
            }
        )
        if delay <= dt.timedelta(0):
            self._finish_group_change(tenant, group)

    def _finish_group_change(self, tenant: Tenant, group: Group) -> None:
        """The members get what the group now assigns; a member the new licence cannot reach (no
        seat, no usage location, a conflicting plan) gets it in an error state instead."""
        change = group.processing
        assert change is not None
        group.processing = None
        added = {sku: group.licenses[sku] for sku in change.added if sku in group.licenses}
        for sku in added:
            del group.licenses[sku]
        for sku, disabled in added.items():
            free = tenant.assignable(sku)
            for member_id in group.members:
                member = tenant.users[member_id]
                held = set(tenant.effective_skus(member))
                if sku in held:
                    continue  # already holds it directly or through another group: no extra seat
                if free < 1:
                    group.errors[(member_id, sku)] = "CountViolation"
                elif not member.usage_location:
                    group.errors[(member_id, sku)] = "ProhibitedInUsageLocationViolation"
                elif self._conflict(held | {sku}) is not None:
                    group.errors[(member_id, sku)] = "MutuallyExclusiveViolation"
                else:
                    free -= 1
            group.licenses[sku] = disabled
        now = self.clock.now()
        for member_id in group.members:
            for sku in set(added) | (set(change.before) - set(group.licenses)):
                tenant.users[member_id].updated[sku] = now

    def _check_company_license(self, tenant: Tenant, sku: str) -> None:
        units = tenant.units(sku)
        if not any(units.values()):
            raise GraphError(
                400, "Request_BadRequest", f"License {sku} does not correspond to a valid company License."
            )
        if units[ENABLED] + units[WARNING] == 0:
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Subscription with SKU {sku} does not have any available licenses.",
                "CountViolation",
            )

    def _conflict(self, skus: set[str]) -> tuple[str, str] | None:
        """Two service plans of one exclusive family, from different SKUs, if ``skus`` hold any."""
        owner: dict[int, tuple[str, str]] = {}
        for sku in sorted(skus):
            for plan in self.catalog.reference(sku).plans:
                for index, family in enumerate(EXCLUSIVE_FAMILIES):
                    if plan.name not in family:
                        continue
                    other = owner.setdefault(index, (sku, plan.name))
                    if other[0] != sku and other[1] != plan.name:
                        return other[1], plan.name
        return None


def capability_status(units: dict[str, int]) -> str:
    """A SKU's ``capabilityStatus``: the best state any of its seats is in."""
    for status in (ENABLED, WARNING, SUSPENDED, LOCKED_OUT):
        if units[status]:
            return status
    return DELETED


def term_length(duration: str) -> dt.timedelta:
    return {"P1M": dt.timedelta(days=30), "P3Y": dt.timedelta(days=3 * 365)}.get(
        duration, dt.timedelta(days=365)
    )
