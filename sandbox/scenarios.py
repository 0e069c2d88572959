"""Named, deterministic worlds. Ids come from :func:`stable_id`, dates from the sandbox clock at reset.

``default`` holds one of each case the product meets (sandbox/README.md lists them); ``large`` adds
thousands of customers and a tenant with many users, for paging and benchmarks; ``throttled`` is
``default`` with Partner Center's and Graph's rate limits switched on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from .catalog import Catalog
from .eligibility import agreement_json
from .world import (
    DELETED,
    ENABLED,
    ROLE_DEFINITIONS,
    SUSPENDED,
    WARNING,
    AdminRelationship,
    Clock,
    Group,
    Order,
    Subscription,
    Tenant,
    User,
    World,
    partner_admin_id,
    partner_group_id,
    stable_id,
)

PARTNER_TENANT_ID = "3b33e682-00c3-41ee-9dd2-a548adf56438"
PARTNER_MPN_ID = "4847383"
OTHER_PARTNER_TENANT_ID = "331af819-4e0b-49f7-a6bf-14e1165ad3a0"
OTHER_PARTNER_NAME = "Litware Sandbox CSP"
CLIENT_ID = "0f5c7e3a-8b1d-4c2e-9f60-5a4b3c2d1e0f"
CLIENT_SECRET = "sandbox-client-secret-not-a-real-secret"  # noqa: S105 - a public test credential of the sandbox
REFRESH_TOKEN = "0.sandbox-refresh-token.partner-admin-consent"  # noqa: S105 - a public test credential of the sandbox

SKUS: dict[str, str] = {
    "O365_E1": "18181a46-0d4e-45cd-891e-60aabd171b4e",
    "O365_E3": "6fd2c87f-b296-42f0-b197-1e91e994b900",
    "O365_E5": "c7df2760-2c81-4ef7-b578-5b5392b571df",
    "O365_E1_NO_TEAMS": "f8ced641-8e17-4dc5-b014-f5a2d53f6ac8",
    "O365_E3_NO_TEAMS": "46c3a859-c90d-40b3-9551-6178a48d5c18",
    "TEAMS_ENTERPRISE": "7e31c0d9-9551-471d-836f-32ee72be4a01",
    "M365_E3": "05e9a617-0261-4cee-bb44-138d3ef5d965",
    "M365_E5": "06ebc4ee-1bb5-47dd-8120-11324bc54e06",
    "M365_E3_NO_TEAMS": "dcf0408c-aaec-446c-afd4-43e3683943ea",
    "M365_E5_NO_TEAMS": "18a4bd3f-0b5b-4887-b04f-61dd0ee15f5e",
    "BUSINESS_BASIC": "3b555118-da6a-4418-894f-7df1e2096870",
    "BUSINESS_STANDARD": "f245ecc8-75af-4f8e-b61f-27d8114de5f3",
    "BUSINESS_PREMIUM": "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46",
    "EXCHANGE_PLAN_1": "4b9405b0-7788-4568-add1-99614e613b69",
    "EXCHANGE_PLAN_2": "19ec0d23-8335-4cbd-94ac-6050e30712fa",
    "EMS_E3": "efccb6f7-5641-4e0e-bd10-b4976e1bf68e",
    "FLOW_FREE": "f30db892-07e9-47e9-837c-80727f46fd3d",
    "POWER_BI_STANDARD": "a403ebcc-fae0-4ca2-8c8c-7a907fd6c235",
    "TEAMS_EEA": "7e74bd05-2c47-404e-829a-ba95c66fe8e5",
    "BUSINESS_BASIC_EEA_NO_TEAMS": "b1f3042b-a390-4b56-ab61-b88e7e767a97",
}
#: SKUs the ``large`` scenario's small customers hold, in this order (``customer_skus`` of them):
#: a discontinued suite (an equivalent, its holders swapped at cutover) and two still sold (identical).
FLEET_SKUS = ("O365_E3", "EMS_E3", "EXCHANGE_PLAN_2")
GDAP_LICENSING = frozenset({"License Administrator", "Directory Readers"})


class _Builder:
    def __init__(self, world: World) -> None:
        self.world = world
        self.now = world.clock.now()
        for group in (
            "customers",
            "users",
            "groups",
            "subscriptions",
            "commerce_subscriptions",
            "admin_relationships",
        ):
            world.keys.setdefault(group, {})
        world.keys["skus"] = dict(SKUS)
        world.keys["catalog_items"] = {
            name: offer.catalog_item_id
            for name, sku in SKUS.items()
            if (offer := world.catalog.offer_for_sku(sku)) is not None
        }

    def tenant(
        self,
        key: str,
        name: str,
        country: str,
        *,
        accepted: bool = True,
        roles: frozenset[str] = GDAP_LICENSING,
        agreement: str = "attested",
        qualification: str | None = None,
    ) -> Tenant:
        """``agreement``: how the customer accepted the Microsoft Customer Agreement: confirmed by a
        partner (``attested``), signed by itself (``direct``), or not at all (``none``);
        ``qualification``: approved Education, GovernmentCommunityCloud or Nonprofit, if any."""
        tenant_id = stable_id("tenant", key)
        slug = key.replace("_", "")
        tenant = Tenant(
            id=tenant_id,
            name=name,
            domain=f"{slug}sandbox.onmicrosoft.com",
            country=country,
            relationship="reseller" if accepted else "none",
            signed_directly=agreement == "direct",
            qualifications=[{"qualification": qualification, "vettingStatus": "Approved"}]
            if qualification
            else [],
        )
        if agreement == "attested":
            contact = {"firstName": "Sandbox", "lastName": "Admin", "email": f"admin@{tenant.domain}"}
            agreed = (self.now - dt.timedelta(days=400)).strftime("%Y-%m-%dT00:00:00Z")
            tenant.agreements.append(agreement_json(contact, agreed, user=stable_id("partner-admin")))
        self.world.tenants[tenant_id] = tenant
        self.world.keys["customers"][key] = tenant_id
        names = {name: role_id for role_id, name in ROLE_DEFINITIONS.items()}
        relationship = AdminRelationship(
            id=stable_id("gdap", tenant_id) + "-" + stable_id("gdap-suffix", tenant_id),
            customer_id=tenant_id,
            display_name=f"CSP transfer - {key}",
            duration="P730D",
            auto_extend="P180D",
            roles=frozenset(names[r] for r in roles),
            status="active" if accepted else "approvalPending",
            created=self.now - dt.timedelta(days=1 if not accepted else 200),
            activated=None if not accepted else self.now - dt.timedelta(days=199),
        )
        self.world.admin_relationships[relationship.id] = relationship
        self.world.keys["admin_relationships"][key] = relationship.id
        return tenant

    def user(
        self,
        tenant: Tenant,
        key: str,
        *,
        usage_location: str | None = "US",
        skus: tuple[str, ...] = (),
        disabled: dict[str, list[str]] | None = None,
        register: bool = True,
    ) -> User:
        user_id = stable_id("user", tenant.id, key)
        user = User(
            id=user_id,
            user_principal_name=f"{key.replace('_', '.')}@{tenant.domain}",
            display_name=key.replace("_", " ").title(),
            usage_location=usage_location,
            direct={SKUS[s]: list((disabled or {}).get(s, [])) for s in skus},
        )
        for sku in user.direct:
            user.updated[sku] = self.now - dt.timedelta(days=100)
        tenant.users[user_id] = user
        if register:
            self.world.keys["users"][f"{self._tenant_key(tenant)}.{key}"] = user_id
        return user

    def group(self, tenant: Tenant, key: str, name: str, skus: tuple[str, ...], members: list[User]) -> Group:
        group = Group(
            id=stable_id("group", tenant.id, key),
            display_name=name,
            licenses={SKUS[s]: [] for s in skus},
            members=[m.id for m in members],
        )
        for member in members:
            member.groups.add(group.id)
        tenant.groups[group.id] = group
        self.world.keys["groups"][f"{self._tenant_key(tenant)}.{key}"] = group.id
        return group

    def subscription(
        self,
        tenant: Tenant,
        key: str,
        sku: str,
        quantity: int,
        channel: str,
        *,
        days_to_next: float | None,
        status: str = ENABLED,
        trial: bool = False,
        created_days_ago: int = 300,
    ) -> Subscription:
        owner = {"partner": self.world.partner_tenant_id, "other-partner": OTHER_PARTNER_TENANT_ID}.get(
            channel
        )
        offer = self.world.catalog.offer_for_sku(SKUS[sku]) if channel == "partner" else None
        sub = Subscription(
            id=stable_id("subscription", tenant.id, key),
            graph_id=stable_id("companySubscription", tenant.id, key),
            sku_id=SKUS[sku],
            quantity=quantity,
            created=self.now - dt.timedelta(days=created_days_ago),
            next_lifecycle=None if days_to_next is None else self.now + dt.timedelta(days=days_to_next),
            owner_tenant_id=owner,
            channel=channel,
            status=status,
            is_trial=trial,
            auto_renew=channel == "partner",
            offer=offer,
        )
        sub.commitment_end = sub.next_lifecycle
        tenant.subscriptions[sub.id] = sub
        if offer is not None:
            order = Order(stable_id("order", sub.id), tenant.id, [], sub.created, None, "seed")
            order.lines.append((offer, quantity, sub.id, sub.term_duration, sub.billing_cycle))
            tenant.orders[order.id] = order
            sub.order_id = order.id
        name = f"{self._tenant_key(tenant)}.{key}"
        self.world.keys["subscriptions"][name] = sub.graph_id
        self.world.keys["commerce_subscriptions"][name] = sub.id
        return sub

    def _tenant_key(self, tenant: Tenant) -> str:
        for key, value in self.world.keys["customers"].items():
            if value == tenant.id:
                return key
        return tenant.id


def _new_world(catalog: Catalog, clock: Clock, name: str) -> World:
    world = World(
        catalog=catalog,
        partner_tenant_id=PARTNER_TENANT_ID,
        partner_country="US",
        partner_mpn_id=PARTNER_MPN_ID,
        clock=clock,
        scenario=name,
    )
    world.tenants[PARTNER_TENANT_ID] = Tenant(
        id=PARTNER_TENANT_ID,
        name="Sandbox CSP Partner",
        domain="partnersandbox.onmicrosoft.com",
        country="US",
    )
    group = partner_group_id(PARTNER_TENANT_ID)
    world.partner_groups[group] = {partner_admin_id(PARTNER_TENANT_ID)}
    world.keys["partner"] = {
        "tenant_id": PARTNER_TENANT_ID,
        "security_group_id": group,
        "other_partner_tenant_id": OTHER_PARTNER_TENANT_ID,
        "other_partner_name": OTHER_PARTNER_NAME,
    }
    return world


def _seed_default(b: _Builder) -> None:
    # contoso: accepted, GDAP License Administrator + Directory Readers, one of every channel.
    contoso = b.tenant("contoso", "Contoso Sandbox Ltd", "US")
    b.subscription(contoso, "direct_e3", "O365_E3", 25, "direct", days_to_next=20)
    b.subscription(contoso, "ea_ems", "EMS_E3", 10, "ea", days_to_next=45)
    b.subscription(contoso, "other_partner_bp", "BUSINESS_PREMIUM", 5, "other-partner", days_to_next=60)
    b.subscription(contoso, "partner_exo1", "EXCHANGE_PLAN_1", 3, "partner", days_to_next=65)
    b.subscription(contoso, "trial_m365_e5", "M365_E5", 25, "trial", days_to_next=25, trial=True)
    b.subscription(contoso, "free_flow", "FLOW_FREE", 10000, "free", days_to_next=None)
    b.user(contoso, "direct_e3_a", skus=("O365_E3",))
    b.user(contoso, "direct_e3_ems", skus=("O365_E3", "EMS_E3"))
    b.user(
        contoso, "direct_e3_disabled", skus=("O365_E3",), disabled={"O365_E3": [_plan(b, "O365_E3", "SWAY")]}
    )
    members = [b.user(contoso, f"group_e3_{n}") for n in ("a", "b", "c")]
    both = b.user(contoso, "group_and_direct_e3", skus=("O365_E3",))
    b.group(contoso, "e3", "Licensing - Office 365 E3", ("O365_E3",), [*members, both])
    b.user(contoso, "business_premium", skus=("BUSINESS_PREMIUM",))
    b.user(contoso, "exchange_only", skus=("EXCHANGE_PLAN_1",))
    b.user(contoso, "no_usage_location", usage_location=None)
    b.user(contoso, "unlicensed")

    # fabrikam: invitation sent, not accepted yet; GDAP roles granted on acceptance. It bought from
    # Microsoft directly, and signed the Microsoft Customer Agreement itself.
    fabrikam = b.tenant("fabrikam", "Fabrikam Sandbox Inc", "US", accepted=False, agreement="direct")
    b.subscription(fabrikam, "direct_e1", "O365_E1", 10, "direct", days_to_next=40)
    b.subscription(fabrikam, "direct_m365_e3", "M365_E3", 5, "direct", days_to_next=40)
    for n in ("a", "b", "c"):
        b.user(fabrikam, f"direct_e1_{n}", skus=("O365_E1",))
    b.user(fabrikam, "direct_m365_e3", skus=("M365_E3",))

    # adatum: sold by the other partner (new commerce), invitation pending: a partner-to-partner transfer.
    adatum = b.tenant("adatum", "Adatum Sandbox Corp", "US", accepted=False)
    b.subscription(adatum, "other_partner_bp", "BUSINESS_PREMIUM", 5, "other-partner", days_to_next=200)
    b.subscription(adatum, "other_partner_exo1", "EXCHANGE_PLAN_1", 3, "other-partner", days_to_next=100)
    for n in ("a", "b"):
        b.user(adatum, f"business_premium_{n}", skus=("BUSINESS_PREMIUM",))
    b.user(adatum, "exchange_only", skus=("EXCHANGE_PLAN_1",))

    # northwind: Germany, outside the US partner's CSP region.
    northwind = b.tenant("northwind", "Northwind Sandbox GmbH", "DE")
    b.subscription(northwind, "direct_bs", "BUSINESS_STANDARD", 5, "direct", days_to_next=30)
    b.user(northwind, "direct_bs", usage_location="DE", skus=("BUSINESS_STANDARD",))

    # tailspin: accepted, but GDAP only grants Directory Readers (can read, cannot assign).
    tailspin = b.tenant("tailspin", "Tailspin Sandbox Co", "US", roles=frozenset({"Directory Readers"}))
    b.subscription(tailspin, "direct_e3", "O365_E3", 4, "direct", days_to_next=15)
    b.user(tailspin, "direct_e3", skus=("O365_E3",))

    # wingtip: accepted, lapsing subscriptions in each later lifecycle state, plus a full pool.
    wingtip = b.tenant("wingtip", "Wingtip Sandbox LLC", "US")
    b.subscription(wingtip, "warning_e3", "O365_E3", 2, "direct", days_to_next=10, status=WARNING)
    b.subscription(wingtip, "suspended_bb", "BUSINESS_BASIC", 3, "direct", days_to_next=50, status=SUSPENDED)
    b.subscription(wingtip, "deleted_e1", "O365_E1", 3, "direct", days_to_next=None, status=DELETED)
    b.subscription(wingtip, "full_ems", "EMS_E3", 1, "direct", days_to_next=100)
    b.user(wingtip, "warning_e3", skus=("O365_E3",))
    b.user(wingtip, "full_ems", skus=("EMS_E3",))
    spares = [b.user(wingtip, "spare"), b.user(wingtip, "spare_2")]
    b.group(wingtip, "unlicensed", "Licensing - pending", (), spares)
    _seed_planning_rules(b)
    _seed_checkout(b)


#: relecloud's Business Premium holders: more than the 300 seats one customer may buy of it.
CAPPED_HOLDERS = 310


def _seed_planning_rules(b: _Builder) -> None:
    """Customers the plan's own checks stop before anything is bought (docs/planning.md)."""
    # relecloud: 350 Business Premium seats bought directly, above the 300 Partner Center sells one
    # customer (800089); 310 users hold one.
    relecloud = b.tenant("relecloud", "Relecloud Sandbox Inc", "US", accepted=False)
    b.subscription(relecloud, "direct_bp", "BUSINESS_PREMIUM", 300, "direct", days_to_next=45)
    b.subscription(relecloud, "direct_bp_more", "BUSINESS_PREMIUM", 50, "direct", days_to_next=45)
    for n in range(CAPPED_HOLDERS):
        b.user(relecloud, f"bp_{n:03d}", skus=("BUSINESS_PREMIUM",), register=n < 2)

    # lamna: its admin types US at start, but the tenant's country (Graph organization) is Canada.
    lamna = b.tenant("lamna", "Lamna Sandbox Ltd", "CA", accepted=False)
    b.subscription(lamna, "direct_bs", "BUSINESS_STANDARD", 5, "direct", days_to_next=30)
    for who in ("a", "b"):
        b.user(lamna, f"direct_bs_{who}", usage_location="CA", skus=("BUSINESS_STANDARD",))


def _seed_checkout(b: _Builder) -> None:
    """Customers whose checkout depends on what Partner Center checks before it sells."""
    # litware: never accepted the Microsoft Customer Agreement: no order until a partner confirms it.
    litware = b.tenant("litware", "Litware Sandbox Inc", "US", accepted=False, agreement="none")
    b.subscription(litware, "direct_bp", "BUSINESS_PREMIUM", 4, "direct", days_to_next=45)
    for n in ("a", "b"):
        b.user(litware, f"business_premium_{n}", skus=("BUSINESS_PREMIUM",))

    # fineartschool: qualified for education: it may buy only commercial and education availabilities.
    school = b.tenant(
        "fineartschool", "School of Fine Art Sandbox", "US", accepted=False, qualification="Education"
    )
    b.subscription(school, "direct_exo1", "EXCHANGE_PLAN_1", 6, "direct", days_to_next=50)
    b.subscription(school, "direct_e1", "O365_E1", 3, "direct", days_to_next=50)
    b.user(school, "exchange_only", skus=("EXCHANGE_PLAN_1",))
    b.user(school, "direct_e1", skus=("O365_E1",))

    # treyresearch: a qualified nonprofit, whose nonprofit availabilities are listed only when asked for.
    trey = b.tenant("treyresearch", "Trey Research Sandbox", "US", accepted=False, qualification="Nonprofit")
    b.subscription(trey, "direct_bs", "BUSINESS_STANDARD", 3, "direct", days_to_next=50)
    b.user(trey, "business_standard", skus=("BUSINESS_STANDARD",))


def _plan(b: _Builder, sku: str, name: str) -> str:
    for plan in b.world.catalog.reference(SKUS[sku]).plans:
        if plan.name == name:
            return plan.id
    return stable_id("plan", name)


def default(catalog: Catalog, clock: Clock, params: dict[str, Any]) -> tuple[World, dict[str, Any]]:
    world = _new_world(catalog, clock, "default")
    _seed_default(_Builder(world))
    return world, {}


def large(catalog: Catalog, clock: Clock, params: dict[str, Any]) -> tuple[World, dict[str, Any]]:
    """``default`` plus ``customers`` (2500) small customers and ``users`` (1500) users in "bigcorp".

    Each small customer holds the first ``customer_skus`` (1) of :data:`FLEET_SKUS` and has
    ``customer_users`` (2) users, each holding one of them in turn (by default Office 365 E3 x10).
    """
    world = _new_world(catalog, clock, "large")
    b = _Builder(world)
    _seed_default(b)
    big = b.tenant("bigcorp", "Bigcorp Sandbox", "US")
    users = int(params.get("users", 1500))
    b.subscription(big, "direct_e3", "O365_E3", users + 100, "direct", days_to_next=20)
    for n in range(users):
        b.user(big, f"user{n:05d}", skus=("O365_E3",), register=False)
    skus, per_customer = int(params.get("customer_skus", 1)), int(params.get("customer_users", 2))
    if not 1 <= skus <= len(FLEET_SKUS):
        raise ValueError(f"customer_skus must be 1..{len(FLEET_SKUS)}")
    owned = FLEET_SKUS[:skus]
    seats = max(10, -(-per_customer // skus) + 5)  # every holder has a seat, and a few are spare
    for n in range(int(params.get("customers", 2500))):
        tenant = b.tenant(f"customer{n:05d}", f"Sandbox Customer {n:05d}", "US")
        for s, sku in enumerate(owned):
            key = "direct_e3" if s == 0 else f"direct_{sku.lower()}"
            b.subscription(tenant, key, sku, seats, "direct", days_to_next=20 + n % 60)
        for m in range(per_customer):
            b.user(tenant, f"user{m}", skus=(owned[m % skus],), register=False)
    return world, {}


def throttled(catalog: Catalog, clock: Clock, params: dict[str, Any]) -> tuple[World, dict[str, Any]]:
    world, _ = default(catalog, clock, params)
    world.scenario = "throttled"
    limit = int(params.get("limit", 10))
    window = float(params.get("window_s", 60))
    return world, {
        "rate_limits": {
            "partner_center": {"limit": limit, "window_s": window, "scope": "partner"},
            "graph": {"limit": limit, "window_s": window, "scope": "tenant"},
        }
    }


SCENARIOS: dict[str, Callable[[Catalog, Clock, dict[str, Any]], tuple[World, dict[str, Any]]]] = {
    "default": default,
    "large": large,
    "throttled": throttled,
}


def build(name: str, catalog: Catalog, params: dict[str, Any] | None = None) -> tuple[World, dict[str, Any]]:
    """A fresh world for scenario ``name`` and the knobs it switches on.

    Every scenario's accepted customers hold an active GDAP relationship with the partner, but no
    access assignment and no consent of the partner's application: Graph into their tenants is
    refused until the product sets both up. ``access=granted`` is for tests that are not about
    access: those relationships' roles count as effective, the application as consented.
    """
    if name not in SCENARIOS:
        raise KeyError(name)
    rest = dict(params or {})
    access = str(rest.pop("access", "none"))
    if access not in ("none", "granted"):
        raise ValueError("access must be none or granted")
    world, knobs = SCENARIOS[name](catalog, Clock(), rest)
    if access == "granted":
        for tenant in world.customers():
            for relationship in world.approved_relationships(tenant.id):
                tenant.gdap_roles |= relationship.role_names
            tenant.gdap_active = bool(tenant.gdap_roles)
    return world, knobs
