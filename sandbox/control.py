"""The control API under ``/_sandbox``: reset, knobs, faults, clock, acceptance, webhooks, ledger.

It needs no token (the sandbox listens on loopback only) and is never throttled or faulted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import time
import uuid
from typing import Any

from .knobs import Fault, merge
from .pki import WEBHOOK_SIGNER_NAME
from .routing import Call, Reply, Router
from .scenarios import CLIENT_ID, SCENARIOS
from .state import Sandbox
from .tokens import GRAPH_AUDIENCE, PARTNER_CENTER_AUDIENCE, VAULT_AUDIENCE
from .webhooks import ACCEPTED
from .world import Subscription, User, iso

router: Router[Sandbox] = Router()
cert_router: Router[Sandbox] = Router()


@cert_router.route("GET", f"/cert/{WEBHOOK_SIGNER_NAME}.cer")
def signing_certificate(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return Reply(200, raw=sb.pki.signer.der, content_type="application/pkix-cert")


@cert_router.route("GET", f"/cert/untrusted/{WEBHOOK_SIGNER_NAME}.cer")
def untrusted_certificate(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return Reply(200, raw=sb.pki.untrusted_signer.der, content_type="application/pkix-cert")


@cert_router.route("GET", f"/cert/redirect/{WEBHOOK_SIGNER_NAME}.cer")
def redirect_to_certificate(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """The genuine certificate one redirect away: a receiver must not follow it."""
    return Reply(302, headers={"Location": sb.endpoints.certificate_url})


@router.route("GET", "/health")
def health(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return Reply(200, {"ok": True, "scenario": sb.world.scenario})


@router.route("GET", "/ca.pem")
def ca_pem(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return Reply(200, raw=sb.pki.ca_pem, content_type="application/x-pem-file")


@router.route("GET", "/scenario")
def scenario(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    world = sb.world
    return Reply(
        200,
        {
            "name": world.scenario,
            "scenarios": sorted(SCENARIOS),
            "partnerTenantId": world.partner_tenant_id,
            "partnerCountry": world.partner_country,
            "partnerMpnId": world.partner_mpn_id,
            "certificateUrl": sb.endpoints.certificate_url,
            "now": iso(world.clock.now()),
            **{key: value for key, value in world.keys.items() if key != "partner"},
            "otherPartnerTenantId": world.keys["partner"]["other_partner_tenant_id"],
            "partnerSecurityGroupId": world.keys["partner"]["security_group_id"],
        },
    )


@router.route("POST", "/reset")
def reset(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    body = call.json()
    name = str(body.get("scenario", "default"))
    if name not in SCENARIOS:
        return Reply(400, {"error": f"unknown scenario {name!r}", "scenarios": sorted(SCENARIOS)})
    sb.reset(name, body.get("params") or {})
    return scenario(sb, call, p)


@router.route("GET", "/knobs")
def get_knobs(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return Reply(200, sb.knobs)


@router.route("PATCH", "/knobs")
def set_knobs(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    sb.knobs = merge(sb.knobs, call.json())
    sb.limiter.reset()
    return Reply(200, sb.knobs)


@router.route("GET", "/faults")
def list_faults(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return Reply(200, {"faults": [f.as_json() for f in sb.faults]})


@router.route("POST", "/faults")
def add_fault(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    fault = Fault.from_json(call.json())
    sb.faults.append(fault)
    return Reply(201, fault.as_json())


@router.route("DELETE", "/faults")
def clear_faults(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    sb.faults.clear()
    return Reply(204)


@router.route("GET", "/clock")
def get_clock(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    clock = sb.world.clock
    return Reply(200, {"now": iso(clock.now()), "offsetSeconds": clock.offset.total_seconds()})


@router.route("POST", "/clock/advance")
def advance_clock(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """Move time forward; every subscription passes the lifecycle dates it reaches, in order."""
    body = call.json()
    step = dt.timedelta(
        days=float(body.get("days", 0)),
        hours=float(body.get("hours", 0)),
        seconds=float(body.get("seconds", 0)),
    )
    if step < dt.timedelta(0):
        return Reply(400, {"error": "the clock only moves forward"})
    sb.world.clock.offset += step
    for tenant in sb.world.tenants.values():
        sb.world.settle(tenant)
    return get_clock(sb, call, p)


@router.route("GET", "/customers")
def customers(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """The scenario's customers as a person trying the product meets them (``make run`` lists them)."""
    world = sb.world
    items = [
        {
            "key": key,
            "tenantId": tenant.id,
            "name": tenant.name,
            "domain": tenant.domain,
            "country": tenant.country,
            "accepted": tenant.relationship != "none",
        }
        for key, tenant_id in world.keys["customers"].items()
        if (tenant := world.tenants.get(tenant_id)) is not None
    ]
    return Reply(200, {"items": items})


@router.route("POST", "/customers/{customer_id}/accept")
def accept_invitation(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """The customer's global admin accepts the reseller invitation and (unless ``approveGdap`` is
    false: the two are separate links) approves the partner's pending GDAP requests."""
    body = call.json()
    lag = sb.knobs["consistency_lag"]
    try:
        tenant, approved = sb.world.accept_invitation(
            p["customer_id"],
            float(body.get("lagSeconds", lag["seconds"])),
            int(body.get("lagRequests", lag["requests"])),
            time.time(),
            approve_gdap=bool(body.get("approveGdap", True)),
        )
    except KeyError:
        return Reply(404, {"error": f"no tenant {p['customer_id']}"})
    deliveries = sb.webhooks.announce(sb.webhooks.event(ACCEPTED, tenant.id))
    deliveries += [
        d for r in approved for d in sb.webhooks.announce_gdap("granular-admin-relationship-approved", r.id)
    ]
    return Reply(
        200,
        {
            "customerId": tenant.id,
            "relationshipToPartner": tenant.relationship,
            "webhookDeliveries": deliveries,
        },
    )


@router.route("PATCH", "/customers/{customer_id}/gdap")
def set_gdap(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = sb.world.tenants.get(p["customer_id"].lower())
    if tenant is None:
        return Reply(404, {"error": f"no tenant {p['customer_id']}"})
    body = call.json()
    tenant.gdap_roles = frozenset(body.get("roles", tenant.gdap_roles))
    tenant.gdap_active = bool(body.get("active", tenant.gdap_active))
    return Reply(200, {"roles": sorted(tenant.gdap_roles), "active": tenant.gdap_active})


@router.route("PATCH", "/offers/{sku_id}")
def set_offer(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """Withdraw an offer from sale (or bring it back): ``{"purchasable": false}``; and/or sell it as
    another product type: ``{"productType": "SaaS"}``."""
    offer = sb.world.catalog.offer_for_sku(p["sku_id"].lower())
    if offer is None:
        return Reply(404, {"error": f"no offer provisions SKU {p['sku_id']}"})
    body = call.json()
    purchasable = body.get("purchasable", offer.purchasable)
    kind = body.get("productType", offer.product_type)
    if not isinstance(purchasable, bool) or not isinstance(kind, str) or not kind:
        return Reply(400, {"error": "purchasable must be true or false, productType a name"})
    changed = dataclasses.replace(offer, purchasable=purchasable, product_type=kind)
    sb.world.catalog.offers[offer.catalog_item_id] = changed
    return Reply(
        200, {"catalogItemId": offer.catalog_item_id, "purchasable": purchasable, "productType": kind}
    )


@router.route("POST", "/customers/{customer_id}/subscriptions")
def add_subscription(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """A subscription the customer gets elsewhere (direct, EA, another partner) while a test runs."""
    tenant = sb.world.tenant(p["customer_id"])
    if tenant is None:
        return Reply(404, {"error": f"no tenant {p['customer_id']}"})
    body = call.json()
    channel = str(body.get("channel", "direct"))
    if channel not in ("direct", "ea", "other-partner", "trial", "free"):
        return Reply(400, {"error": "channel must be direct, ea, other-partner, trial or free"})
    now = sb.world.clock.now()
    days = body.get("daysToNext", 30)
    owner = sb.world.keys["partner"]["other_partner_tenant_id"] if channel == "other-partner" else None
    sub = Subscription(
        id=str(uuid.uuid4()),
        graph_id=str(uuid.uuid4()),
        sku_id=str(body["skuId"]).lower(),
        quantity=int(body.get("quantity", 1)),
        created=now,
        next_lifecycle=None if days is None else now + dt.timedelta(days=float(days)),
        owner_tenant_id=owner,
        channel=channel,
        status=str(body.get("status", "Enabled")),
        is_trial=channel == "trial",
        auto_renew=bool(body.get("autoRenew", False)),
    )
    sub.commitment_end = sub.next_lifecycle
    tenant.subscriptions[sub.id] = sub
    return Reply(201, {"id": sub.graph_id, "commerceSubscriptionId": sub.id})


@router.route("PATCH", "/customers/{customer_id}/subscriptions/{graph_id}")
def change_subscription(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """What the customer or Microsoft does to an original meanwhile: ``{"status"}`` (e.g. Deleted:
    deprovisioned early), ``{"daysToNext"}`` (a new lifecycle date from now) and/or
    ``{"autoRenew"}`` (on: it renews at its date, which jumps a term ahead, instead of lapsing)."""
    tenant = sb.world.tenant(p["customer_id"])
    sub = (
        next((s for s in tenant.subscriptions.values() if s.graph_id == p["graph_id"]), None)
        if tenant
        else None
    )
    if sub is None:
        return Reply(404, {"error": f"no subscription {p['graph_id']} in {p['customer_id']}"})
    body = call.json()
    if "status" in body:
        sub.status = str(body["status"])
    if "daysToNext" in body:
        days = body["daysToNext"]
        sub.next_lifecycle = None if days is None else sb.world.clock.now() + dt.timedelta(days=float(days))
    if "autoRenew" in body:
        sub.auto_renew = bool(body["autoRenew"])
    sub.etag += 1
    return Reply(200, {"id": sub.graph_id, "status": sub.status, "autoRenew": sub.auto_renew})


@router.route("POST", "/customers/{customer_id}/users")
def add_users(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """``count`` users holding ``skuId`` directly (with ``disabledPlans``) and/or joining ``groupId``;
    ``usageLocation`` may be null. Returns their ids, in order."""
    tenant = sb.world.tenant(p["customer_id"])
    if tenant is None:
        return Reply(404, {"error": f"no tenant {p['customer_id']}"})
    body = call.json()
    sku, group_id = body.get("skuId"), body.get("groupId")
    group = tenant.groups.get(str(group_id).lower()) if group_id else None
    if group_id and group is None:
        return Reply(404, {"error": f"no group {group_id}"})
    disabled = [str(d).lower() for d in body.get("disabledPlans") or []]
    ids = []
    for _ in range(int(body.get("count", 1))):
        user_id = str(uuid.uuid4())
        user = User(
            id=user_id,
            user_principal_name=f"added.{user_id[:8]}@{tenant.domain}",
            display_name="Added User",
            usage_location=body.get("usageLocation", "US"),
            direct={str(sku).lower(): list(disabled)} if sku else {},
        )
        if group is not None:
            group.members.append(user_id)
            user.groups.add(group.id)
        tenant.users[user_id] = user
        ids.append(user_id)
    return Reply(201, {"ids": ids})


@router.route("PATCH", "/customers/{customer_id}/users/{user_id}")
def patch_user(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """Set a user's ``usageLocation`` (null clears it), as an admin would before retrying."""
    tenant = sb.world.tenant(p["customer_id"])
    user = tenant.users.get(p["user_id"].lower()) if tenant else None
    if tenant is None or user is None:
        return Reply(404, {"error": f"no user {p['user_id']} in {p['customer_id']}"})
    user.usage_location = call.json().get("usageLocation")
    return Reply(200, {"id": user.id, "usageLocation": user.usage_location})


@router.route("POST", "/webhooks/send")
async def send_webhook(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    body = call.json()
    payload: dict[str, Any] | bytes = sb.webhooks.event(
        str(body.get("eventName", ACCEPTED)), body.get("customerId"), resource_uri=body.get("resourceUri")
    )
    if body.get("rawBody") is not None:
        payload = str(body["rawBody"]).encode()
    ids = sb.webhooks.dispatch(payload, str(body.get("mode", "normal")), body.get("url"))
    if body.get("wait", False):
        await sb.webhooks.wait(ids, float(body.get("timeoutS", 60)))
    return Reply(200, {"deliveries": [sb.webhooks.deliveries[i].as_json() for i in ids]})


@router.route("GET", "/webhooks/deliveries")
def list_deliveries(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return Reply(200, {"deliveries": [d.as_json() for d in sb.webhooks.deliveries.values()]})


@router.route("POST", "/webhooks/wait")
async def wait_deliveries(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    body = call.json()
    ids = body.get("ids") or list(sb.webhooks.deliveries)
    await sb.webhooks.wait(ids, float(body.get("timeoutS", 60)))
    return list_deliveries(sb, call, p)


@router.route("GET", "/ledger")
def ledger(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """``?kinds=purchases,licenseChanges,licenseWrites,requests,webhooks`` (default all) and
    ``?since=N`` for requests."""
    kinds = set(
        call.query.get("kinds", "purchases,licenseChanges,licenseWrites,requests,webhooks").split(",")
    )
    book = sb.world.ledger
    out: dict[str, Any] = {"requestCount": len(book.requests), "throttled": dict(sb.limiter.refused)}
    if "purchases" in kinds:
        out["purchases"] = [dataclasses.asdict(x) for x in book.purchases]
    if "licenseChanges" in kinds:
        out["licenseChanges"] = list(book.license_changes)
    if "licenseWrites" in kinds:
        out["licenseWrites"] = list(book.license_writes)
    if "requests" in kinds:
        since = int(call.query.get("since", 0))
        out["requests"] = list(itertools.islice(book.requests, since, None))
    if "webhooks" in kinds:
        out["webhooks"] = [d.as_json() for d in sb.webhooks.deliveries.values()]
    return Reply(200, out)


@router.route("GET", "/vault/secrets/{name}")
def vault_versions(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """Every value the vault holds for a secret, oldest first (``[]`` for none)."""
    versions = sb.vault.secrets.get(p["name"].lower(), [])
    return Reply(200, {"values": [v["value"] for v in versions]})


@router.route("DELETE", "/ledger")
def clear_ledger(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    book = sb.world.ledger
    book.purchases.clear()
    book.license_changes.clear()
    book.license_writes.clear()
    book.requests.clear()
    sb.limiter.refused.clear()
    return Reply(204)


@router.route("POST", "/tokens")
def mint_token(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """A token made to order (expired, wrong tenant, wrong app) so tests can check the 401 paths."""
    body = call.json()
    audiences = {"graph": GRAPH_AUDIENCE, "keyvault": VAULT_AUDIENCE}
    audience = audiences.get(body.get("audience", "partner_center"), PARTNER_CENTER_AUDIENCE)
    app_only = bool(body.get("appOnly", False))
    token = sb.tokens.issue(
        tenant_id=str(body.get("tenantId", sb.world.partner_tenant_id)),
        audience=str(body.get("aud", audience)),
        app_id=str(body.get("appId", CLIENT_ID)),
        lifetime_s=int(body.get("lifetimeS", 3600)),
        scp=None if app_only else "user_impersonation",
        user_id=None if app_only else "00000000-0000-0000-0000-000000000001",
    )
    return Reply(200, {"accessToken": token})
