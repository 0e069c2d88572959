"""Microsoft Graph licensing subset under ``/graph``: the tenant is the access token's ``tid``."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from .routing import Call, Reply, Router
from .state import Sandbox
from .world import (
    DELETED,
    ENABLED,
    LOCKED_OUT,
    ROLE_DEFINITIONS,
    SUSPENDED,
    WARNING,
    AdminRelationship,
    GraphError,
    Group,
    Subscription,
    Tenant,
    User,
    capability_status,
    iso,
)

router: Router[Sandbox] = Router()
MAX_BATCH = 20
DISPLAY_NAME = re.compile(r"displayName\s+eq\s+'((?:[^']|'')*)'")
ANY_SKU = re.compile(r"^assignedLicenses/any\(\s*(\w+)\s*:\s*\1/skuId\s+eq\s+([0-9a-fA-F-]{36})\s*\)$")
USER_DEFAULT = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
GROUP_DEFAULT = ("id", "displayName", "securityEnabled", "mailEnabled", "assignedLicenses")


def tenant_of(sb: Sandbox, call: Call) -> Tenant:
    tenant = sb.world.tenant(str(call.tenant_id))
    assert tenant is not None  # authenticate() checked the tid exists
    return tenant


def odata_context(sb: Sandbox, entity: str) -> str:
    return f"{sb.endpoints.graph}/v1.0/$metadata#{entity}"


def _select(item: dict[str, Any], call: Call, default: tuple[str, ...]) -> dict[str, Any]:
    wanted = [s.strip() for s in call.query.get("$select", "").split(",") if s.strip()]
    keys = wanted or list(default)
    lowered = {k.lower(): k for k in item}
    return {lowered[k.lower()]: item[lowered[k.lower()]] for k in keys if k.lower() in lowered}


def paged(sb: Sandbox, call: Call, items: list[dict[str, Any]], entity: str, path: str) -> Reply:
    """One page of ``items`` with ``@odata.nextLink`` carrying an opaque ``$skiptoken``."""
    top = int(call.query.get("$top", sb.knobs["graph_page_size"]))
    if not 1 <= top <= 999:
        raise GraphError(400, "Request_BadRequest", "Invalid page size specified: '$top' must be 1-999.")
    offset = 0
    token = call.query.get("$skiptoken")
    if token:
        try:
            generation, offset = (int(x) for x in base64.urlsafe_b64decode(token).decode().split(":"))
        except ValueError as exc:
            raise GraphError(400, "Request_BadRequest", "Invalid skip token.") from exc
        if generation != sb.generation:
            raise GraphError(400, "Request_BadRequest", "The skip token has expired.")
    body: dict[str, Any] = {"@odata.context": odata_context(sb, entity)}
    if call.query.get("$count", "").lower() == "true":
        if call.headers.get("ConsistencyLevel", "").lower() != "eventual":
            raise GraphError(400, "Request_BadRequest", "$count is not currently supported.")
        body["@odata.count"] = len(items)
    body["value"] = items[offset : offset + top]
    if offset + top < len(items):
        query = {k: v for k, v in call.query.items() if k != "$skiptoken"}
        query["$skiptoken"] = base64.urlsafe_b64encode(f"{sb.generation}:{offset + top}".encode()).decode()
        body["@odata.nextLink"] = f"{sb.endpoints.graph}{path}?{urlencode(query)}"
    return Reply(200, body)


def _sku_filter(call: Call) -> str | None:
    expression = call.query.get("$filter")
    if not expression:
        return None
    found = ANY_SKU.match(expression.strip())
    if found is None:
        raise GraphError(400, "Request_UnsupportedQuery", "Unsupported Query.")
    return found.group(2).lower()


# ---------------------------------------------------------------------- organization and licences


@router.route("GET", "/v1.0/organization", gdap="read")
def organization(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = tenant_of(sb, call)
    org = {
        "id": tenant.id,
        "displayName": tenant.name,
        "countryLetterCode": tenant.country,
        "verifiedDomains": [
            {
                "name": tenant.domain,
                "isDefault": True,
                "isInitial": True,
                "type": "Managed",
                "capabilities": "Email, OfficeCommunicationsOnline",
            }
        ],
    }
    return Reply(
        200, {"@odata.context": odata_context(sb, "organization"), "value": [_select(org, call, tuple(org))]}
    )


def subscribed_sku_json(sb: Sandbox, tenant: Tenant, sku_id: str, consumed: int) -> dict[str, Any]:
    units = tenant.units(sku_id)
    reference = sb.catalog.reference(sku_id)
    return {
        "accountName": tenant.name,
        "accountId": tenant.id,
        "appliesTo": "User",
        "capabilityStatus": capability_status(units),
        "consumedUnits": consumed,
        "id": f"{tenant.id}_{sku_id}",
        "prepaidUnits": {
            "enabled": units[ENABLED],
            "lockedOut": units[LOCKED_OUT],
            "suspended": units[SUSPENDED],
            "warning": units[WARNING],
        },
        "servicePlans": [
            {
                "servicePlanId": plan.id,
                "servicePlanName": plan.name,
                "provisioningStatus": "Success",
                "appliesTo": "User",
            }
            for plan in reference.plans
        ],
        "skuId": sku_id,
        "skuPartNumber": reference.part_number,
        "subscriptionIds": [
            s.graph_id
            for s in tenant.subscriptions.values()
            if s.sku_id == sku_id and s.status != DELETED and not s.provisioning
        ],
    }


def _subscribed(tenant: Tenant) -> list[str]:
    live = {s.sku_id for s in tenant.subscriptions.values() if s.status != DELETED and not s.provisioning}
    return sorted(live | set(tenant.consumption()))


@router.route("GET", "/v1.0/subscribedSkus", gdap="read")
def list_subscribed_skus(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = tenant_of(sb, call)
    if "$filter" in call.query:
        raise GraphError(400, "Request_UnsupportedQuery", "Query filter expressions aren't supported.")
    consumption = tenant.consumption()
    items = [subscribed_sku_json(sb, tenant, s, consumption.get(s, 0)) for s in _subscribed(tenant)]
    selected = [_select(i, call, tuple(i)) for i in items]
    return Reply(200, {"@odata.context": odata_context(sb, "subscribedSkus"), "value": selected})


@router.route("GET", "/v1.0/subscribedSkus/{id}", gdap="read")
def get_subscribed_sku(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = tenant_of(sb, call)
    _, _, sku_id = p["id"].lower().rpartition("_")
    if sku_id not in _subscribed(tenant):
        raise GraphError(404, "Request_ResourceNotFound", f"Resource '{p['id']}' does not exist.")
    item = subscribed_sku_json(sb, tenant, sku_id, tenant.consumed(sku_id))
    return Reply(
        200,
        {"@odata.context": odata_context(sb, "subscribedSkus/$entity"), **_select(item, call, tuple(item))},
    )


def company_subscription_json(sb: Sandbox, tenant: Tenant, sub: Subscription) -> dict[str, Any]:
    reference = sb.catalog.reference(sub.sku_id)
    return {
        "createdDateTime": iso(sub.created),
        "commerceSubscriptionId": sub.id,
        "id": sub.graph_id,
        "isTrial": sub.is_trial,
        "nextLifecycleDateTime": iso(sub.next_lifecycle),
        "serviceStatus": [
            {
                "appliesTo": "User",
                "provisioningStatus": "Success",
                "servicePlanId": plan.id,
                "servicePlanName": plan.name,
            }
            for plan in reference.plans
        ],
        "skuId": sub.sku_id,
        "skuPartNumber": reference.part_number,
        "status": sub.status,
        "totalLicenses": sub.quantity,
        "ownerId": sub.owner_tenant_id or tenant.id,
        "ownerTenantId": sub.owner_tenant_id,
        "ownerType": "User",
    }


@router.route("GET", "/v1.0/directory/subscriptions", gdap="read")
def list_company_subscriptions(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = tenant_of(sb, call)
    subs = sorted(
        (s for s in tenant.subscriptions.values() if not s.provisioning), key=lambda s: (s.created, s.id)
    )
    everything = [company_subscription_json(sb, tenant, s) for s in subs]
    items = [_select(item, call, tuple(item)) for item in everything]
    return paged(sb, call, items, "directory/subscriptions", "/v1.0/directory/subscriptions")


def _company_subscription(sb: Sandbox, call: Call, key: str, by_commerce: bool) -> Reply:
    tenant = tenant_of(sb, call)
    for sub in tenant.subscriptions.values():
        if (sub.id if by_commerce else sub.graph_id) == key.lower() and not sub.provisioning:
            item = company_subscription_json(sb, tenant, sub)
            return Reply(
                200,
                {
                    "@odata.context": odata_context(sb, "directory/subscriptions/$entity"),
                    **_select(item, call, tuple(item)),
                },
            )
    raise GraphError(404, "Request_ResourceNotFound", f"Resource '{key}' does not exist.")


@router.route("GET", "/v1.0/directory/subscriptions(commerceSubscriptionId='{commerce_id}')", gdap="read")
def get_company_subscription_by_commerce_id(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return _company_subscription(sb, call, p["commerce_id"], True)


@router.route("GET", "/v1.0/directory/subscriptions/{id}", gdap="read")
def get_company_subscription(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return _company_subscription(sb, call, p["id"], False)


# ---------------------------------------------------------------------- users and groups


def user_json(tenant: Tenant, user: User) -> dict[str, Any]:
    held = tenant.effective_skus(user)
    states: list[dict[str, Any]] = []
    for sku, disabled in user.direct.items():
        states.append(_state(sku, None, disabled, "Active", "None", user.updated.get(sku)))
    for group_id in sorted(user.groups):
        licenses, errors = tenant.groups[group_id].effective()  # the previous ones while processing
        for sku, disabled in licenses.items():
            error = errors.get((user.id, sku))
            state = "Error" if error else "Active"
            states.append(_state(sku, group_id, disabled, state, error or "None", user.updated.get(sku)))
    assigned = [
        {"disabledPlans": user.direct[sku] if source is None else _given(tenant, source, sku), "skuId": sku}
        for sku, source in held.items()
    ]
    given, _, surname = user.display_name.partition(" ")
    return {
        "id": user.id,
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": given,
        "jobTitle": None,
        "mail": user.user_principal_name,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": "en-US",
        "surname": surname,
        "userPrincipalName": user.user_principal_name,
        "accountEnabled": True,
        "usageLocation": user.usage_location,
        "assignedLicenses": assigned,
        "licenseAssignmentStates": states,
    }


def _given(tenant: Tenant, group_id: str, sku: str) -> list[str]:
    """The disabled plans of what the group gives its members now (the previous licences while a
    change is being processed)."""
    return tenant.groups[group_id].effective()[0][sku]


def _state(
    sku: str, group: str | None, disabled: list[str], state: str, error: str, updated: Any
) -> dict[str, Any]:
    return {
        "assignedByGroup": group,
        "disabledPlans": list(disabled),
        "error": error,
        "lastUpdatedDateTime": iso(updated),
        "skuId": sku,
        "state": state,
    }


def group_json(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "displayName": group.display_name,
        "securityEnabled": True,
        "mailEnabled": False,
        "assignedLicenses": [{"disabledPlans": d, "skuId": s} for s, d in group.licenses.items()],
        "membersWithLicenseErrors": sorted({u for u, _ in group.errors}),
    }


def _user(tenant: Tenant, key: str) -> User:
    key = key.lower()
    user = tenant.users.get(key)
    if user is None:
        user = next((u for u in tenant.users.values() if u.user_principal_name.lower() == key), None)
    if user is None:
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{key}' does not exist or one of its "
            "queried reference-property objects are not present.",
        )
    return user


def _group(tenant: Tenant, key: str) -> Group:
    group = tenant.groups.get(key.lower())
    if group is None:
        raise GraphError(404, "Request_ResourceNotFound", f"Resource '{key}' does not exist.")
    return group


@router.route("GET", "/v1.0/users", gdap="read")
def list_users(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = tenant_of(sb, call)
    sku = _sku_filter(call)
    users = [u for u in tenant.users.values() if sku is None or sku in tenant.effective_skus(u)]
    items = [_select(user_json(tenant, u), call, USER_DEFAULT) for u in users]
    return paged(sb, call, items, "users", "/v1.0/users")


@router.route("GET", "/v1.0/users/{id}", gdap="read")
def get_user(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = tenant_of(sb, call)
    item = _select(user_json(tenant, _user(tenant, p["id"])), call, USER_DEFAULT)
    return Reply(200, {"@odata.context": odata_context(sb, "users/$entity"), **item})


@router.route("GET", "/v1.0/users/{id}/licenseDetails", gdap="read")
def license_details(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = tenant_of(sb, call)
    user = _user(tenant, p["id"])
    value = []
    for sku in tenant.effective_skus(user):
        reference = sb.catalog.reference(sku)
        value.append(
            {
                "id": f"{user.id}_{sku}",
                "skuId": sku,
                "skuPartNumber": reference.part_number,
                "servicePlans": [
                    {
                        "servicePlanId": pl.id,
                        "servicePlanName": pl.name,
                        "provisioningStatus": "Success",
                        "appliesTo": "User",
                    }
                    for pl in reference.plans
                ],
            }
        )
    return Reply(
        200, {"@odata.context": odata_context(sb, f"users('{user.id}')/licenseDetails"), "value": value}
    )


def _license_body(call: Call) -> tuple[list[tuple[str, list[str]]], list[str]]:
    body = call.json()
    add_raw, remove_raw = body.get("addLicenses"), body.get("removeLicenses")
    if not isinstance(add_raw, list) or not isinstance(remove_raw, list):
        raise GraphError(400, "Request_BadRequest", "Both addLicenses and removeLicenses are required.")
    add = [(str(a["skuId"]).lower(), [str(d).lower() for d in a.get("disabledPlans") or []]) for a in add_raw]
    return add, [str(r).lower() for r in remove_raw]


def _written(sb: Sandbox, tenant: Tenant, kind: str, target: str, call: Call) -> None:
    """The ledger's ``licenseWrites``: every assignLicense received, before it is judged."""
    body = call.json()
    sb.world.ledger.license_writes.append(
        {
            "tenantId": tenant.id,
            kind: target,
            "added": [str(a.get("skuId", "")).lower() for a in body.get("addLicenses") or []],
            "removed": [str(r).lower() for r in body.get("removeLicenses") or []],
            "at": iso(sb.world.clock.now()),
        }
    )


@router.route("POST", "/v1.0/users/{id}/assignLicense", gdap="write")
def assign_user_license(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = tenant_of(sb, call)
    _written(sb, tenant, "userId", p["id"].lower(), call)
    user = _user(tenant, p["id"])
    add, remove = _license_body(call)
    sb.world.assign_user_licenses(tenant, user, add, remove)
    item = _select(user_json(tenant, user), call, USER_DEFAULT)
    return Reply(200, {"@odata.context": odata_context(sb, "users/$entity"), **item})


@router.route("GET", "/v1.0/groups", gdap="read")
def list_groups(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = tenant_of(sb, call)
    sku = _sku_filter(call)
    groups = [g for g in tenant.groups.values() if sku is None or sku in g.licenses]
    return paged(
        sb, call, [_select(group_json(g), call, GROUP_DEFAULT) for g in groups], "groups", "/v1.0/groups"
    )


@router.route("GET", "/v1.0/groups/{id}", gdap="read")
def get_group(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    group = _group(tenant_of(sb, call), p["id"])
    return Reply(
        200,
        {
            "@odata.context": odata_context(sb, "groups/$entity"),
            **_select(group_json(group), call, GROUP_DEFAULT),
        },
    )


@router.route("POST", "/v1.0/groups/{id}/assignLicense", gdap="write")
def assign_group_license(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """Learn "group: assignLicense": ``202 Accepted`` and the target group. Entra assigns the members
    in the background ("Resolve group license assignment problems": errors "happen in the background
    ... recorded on the user object"): after ``group_license_delay_s`` of sandbox time here."""
    tenant = tenant_of(sb, call)
    _written(sb, tenant, "groupId", p["id"].lower(), call)
    group = _group(tenant, p["id"])
    add, remove = _license_body(call)
    delay = dt.timedelta(seconds=float(sb.knobs["group_license_delay_s"]))
    sb.world.assign_group_licenses(tenant, group, add, remove, delay=delay)
    return Reply(
        202,
        {
            "@odata.context": odata_context(sb, "groups/$entity"),
            **_select(group_json(group), call, GROUP_DEFAULT),
        },
    )


@router.route("GET", "/v1.0/groups/{id}/members", gdap="read")
def list_group_members(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """Learn "List group members": the direct members (directoryObjects; every member here is a user)."""
    return _members(sb, call, p["id"], cast=False)


@router.route("GET", "/v1.0/groups/{id}/members/microsoft.graph.user", gdap="read")
def list_group_user_members(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """The same, cast to users (OData cast), so user properties can be selected."""
    return _members(sb, call, p["id"], cast=True)


def _members(sb: Sandbox, call: Call, group_id: str, *, cast: bool) -> Reply:
    tenant = tenant_of(sb, call)
    group = _group(tenant, group_id)
    members = [tenant.users[m] for m in group.members if m in tenant.users]
    default = USER_DEFAULT if cast else ("id",)
    kind = {"@odata.type": "#microsoft.graph.user"}
    items = [{**kind, **_select(user_json(tenant, u), call, default)} for u in members]
    path = f"/v1.0/groups/{group.id}/members" + ("/microsoft.graph.user" if cast else "")
    return paged(sb, call, items, "users" if cast else "directoryObjects", path)


@router.route("PATCH", "/v1.0/users/{id}", gdap="write")
def update_user(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """Learn "Update user": ``usageLocation`` ("A two-letter country code (ISO standard 3166)";
    required for users that are assigned licenses), answered 204 No Content."""
    tenant = tenant_of(sb, call)
    user = _user(tenant, p["id"])
    body = call.json()
    if set(body) - {"usageLocation"}:
        raise GraphError(400, "Request_BadRequest", "The sandbox updates usageLocation only.")
    location = body.get("usageLocation")
    if location is not None and not (isinstance(location, str) and re.fullmatch("[A-Z]{2}", location)):
        raise GraphError(400, "Request_BadRequest", "Invalid value specified for property 'usageLocation'.")
    user.usage_location = location
    return Reply(204)


# ---------------------------------------------------------------------- GDAP (partner tenant)

GDAP = "/v1.0/tenantRelationships/delegatedAdminRelationships"
ISO_DAYS = re.compile(r"^P(\d+)D$")


def _partner_tenant(sb: Sandbox, call: Call) -> None:
    if call.tenant_id != sb.world.partner_tenant_id:
        raise GraphError(
            403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )


def admin_relationship_json(sb: Sandbox, relationship: AdminRelationship) -> dict[str, Any]:
    customer = sb.world.tenants.get(relationship.customer_id)
    days = ISO_DAYS.match(relationship.duration)
    ends = (
        relationship.activated + dt.timedelta(days=int(days.group(1)))
        if relationship.activated and days
        else None
    )
    return {
        "@odata.type": "#microsoft.graph.delegatedAdminRelationship",
        "id": relationship.id,
        "displayName": relationship.display_name,
        "duration": relationship.duration,
        "status": relationship.status,
        "autoExtendDuration": relationship.auto_extend,
        "createdDateTime": iso(relationship.created),
        "lastModifiedDateTime": iso(relationship.activated or relationship.created),
        "activatedDateTime": iso(relationship.activated),
        "endDateTime": iso(ends),
        "customer": {
            "tenantId": relationship.customer_id,
            "displayName": customer.name if customer else None,
        },
        "accessDetails": {"unifiedRoles": [{"roleDefinitionId": r} for r in sorted(relationship.roles)]},
    }


def admin_relationship(sb: Sandbox, call: Call, key: str) -> AdminRelationship:
    _partner_tenant(sb, call)
    relationship = sb.world.admin_relationships.get(key.lower())
    if relationship is None:
        raise GraphError(404, "Request_ResourceNotFound", f"Resource '{key}' does not exist.")
    if sb.world.settle_relationship(relationship):
        sb.webhooks.announce_gdap("granular-admin-relationship-expired", relationship.id)
    return relationship


@router.route("POST", GDAP)
def create_admin_relationship(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    _partner_tenant(sb, call)
    body = call.json()
    customer_id = str((body.get("customer") or {}).get("tenantId", "")).lower()
    roles = frozenset(
        str(r.get("roleDefinitionId", "")).lower()
        for r in (body.get("accessDetails") or {}).get("unifiedRoles") or []
    )
    duration = str(body.get("duration", ""))
    days = ISO_DAYS.match(duration)
    if customer_id not in sb.world.tenants or not body.get("displayName"):
        raise GraphError(400, "Request_BadRequest", "customer.tenantId and displayName are required.")
    if days is None or not 1 <= int(days.group(1)) <= 730:
        raise GraphError(400, "Request_BadRequest", "duration must be an ISO 8601 duration of 1 to 730 days.")
    if not roles or not roles <= set(ROLE_DEFINITIONS):
        raise GraphError(400, "Request_BadRequest", "accessDetails.unifiedRoles holds an unsupported role.")
    relationship = AdminRelationship(
        id=f"{uuid.uuid4()}-{uuid.uuid4()}",
        customer_id=customer_id,
        display_name=str(body["displayName"]),
        duration=duration,
        auto_extend=str(body.get("autoExtendDuration", "PT0S")),
        roles=roles,
        status="created",
        created=sb.world.clock.now(),
    )
    sb.world.admin_relationships[relationship.id] = relationship
    return Reply(
        201,
        {
            "@odata.context": odata_context(sb, "tenantRelationships/delegatedAdminRelationships/$entity"),
            **admin_relationship_json(sb, relationship),
        },
    )


@router.route("GET", GDAP)
def list_admin_relationships(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    _partner_tenant(sb, call)
    relationships = list(sb.world.admin_relationships.values())
    for relationship in relationships:
        if sb.world.settle_relationship(relationship):
            sb.webhooks.announce_gdap("granular-admin-relationship-expired", relationship.id)
    expression = call.query.get("$filter")
    if expression:  # the one filter the product uses: displayName eq 'text' ('' is a quote)
        found = DISPLAY_NAME.fullmatch(expression.strip())
        if found is None:
            raise GraphError(400, "Request_UnsupportedQuery", "Unsupported Query.")
        name = found.group(1).replace("''", "'")
        relationships = [r for r in relationships if r.display_name == name]
    items = [admin_relationship_json(sb, r) for r in relationships]
    return paged(sb, call, items, "tenantRelationships/delegatedAdminRelationships", GDAP)


@router.route("GET", GDAP + "/{id}")
def get_admin_relationship(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return Reply(200, admin_relationship_json(sb, admin_relationship(sb, call, p["id"])))


TRANSITIONS = {
    "lockForApproval": (("created",), "approvalPending"),
    "terminate": (("approvalPending", "active"), "terminated"),
}


@router.route("POST", GDAP + "/{id}/requests")
def request_admin_relationship_action(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """``lockForApproval`` makes the invitation link usable; ``terminate`` takes the roles away, or
    withdraws a request the customer has not approved yet (the relationship lifecycle of the GDAP
    API overview ends both in ``terminated``), and Partner Center announces it."""
    relationship = admin_relationship(sb, call, p["id"])
    action = str(call.json().get("action", ""))
    before, after = TRANSITIONS.get(action, ((), ""))
    if relationship.status not in before:
        raise GraphError(
            400, "Request_BadRequest", f"Action {action!r} is not allowed in status {relationship.status}."
        )
    if after == "terminated":
        sb.world.terminate_relationship(relationship)
        sb.webhooks.announce_gdap("granular-admin-relationship-terminated", relationship.id)
    else:
        relationship.status = after
    now = iso(sb.world.clock.now())
    return Reply(
        201,
        {
            "@odata.type": "#microsoft.graph.delegatedAdminRelationshipRequest",
            "id": str(uuid.uuid4()),
            "action": action,
            "status": "succeeded",
            "createdDateTime": now,
            "lastModifiedDateTime": now,
        },
    )


# ---------------------------------------------------------------------- tenant information

#: "tenantRelationship: findTenantInformationByDomainName" / "...ByTenantId": any tenant's public
#: name and default domain, to any tenant's token, no relationship or role needed; only the app's
#: permission (delegated or application) CrossTenantInformation.ReadBasic.All.
CROSS_TENANT_READ = "CrossTenantInformation.ReadBasic.All"
TENANT_BY_DOMAIN = "/v1.0/tenantRelationships/findTenantInformationByDomainName(domainName='{domain}')"
TENANT_BY_ID = "/v1.0/tenantRelationships/findTenantInformationByTenantId(tenantId='{tenant}')"


def _tenant_information(sb: Sandbox, call: Call, tenant: Tenant | None, key: str) -> Reply:
    claims = call.claims
    granted = set(claims.roles) | set((claims.scp or "").split()) if claims else set()
    if CROSS_TENANT_READ not in granted:
        raise GraphError(
            403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )
    if tenant is None:
        # Not in the reference page: an unknown tenant answers 404 as any missing resource does [inferred].
        raise GraphError(404, "Request_ResourceNotFound", f"Resource '{key}' does not exist.")
    return Reply(
        200,
        {
            "@odata.context": f"{sb.endpoints.graph}/v1.0/$metadata#microsoft.graph.tenantInformation",
            "tenantId": tenant.id,
            "federationBrandName": None,
            "displayName": tenant.name,
            "defaultDomainName": tenant.domain,
        },
    )


@router.route("GET", TENANT_BY_DOMAIN)
def find_tenant_by_domain(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    domain = p["domain"].lower()
    tenant = next((t for t in sb.world.tenants.values() if t.domain.lower() == domain), None)
    return _tenant_information(sb, call, tenant, p["domain"])


@router.route("GET", TENANT_BY_ID)
def find_tenant_by_id(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return _tenant_information(sb, call, sb.world.tenants.get(p["tenant"].lower()), p["tenant"])


# ---------------------------------------------------------------------- $batch


@router.route("POST", "/v1.0/$batch")
async def batch(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """Up to 20 requests; each passes authorization, throttling and faults on its own."""
    requests = call.json().get("requests")
    if not isinstance(requests, list) or not requests:
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")
    if len(requests) > MAX_BATCH:
        raise GraphError(400, "BadRequest", "Number of requests inside batch exceeds the limit.")
    responses = []
    for item in requests:
        url = urlsplit(str(item.get("url", "")))
        path = "/v1.0" + ("" if url.path.startswith("/") else "/") + url.path
        headers = {**{k: str(v) for k, v in (item.get("headers") or {}).items()}}
        inner = Call(
            method=str(item.get("method", "GET")).upper(),
            path=path,
            query=dict(parse_qsl(url.query)),
            headers=headers,
            body=json.dumps(item["body"]).encode() if "body" in item else b"",
            claims=call.claims,
            tenant_id=call.tenant_id,
        )
        reply = await sb.serve("graph", router, inner, inner=True)
        if reply.drop:
            reply = Reply(504, {"error": {"code": "GatewayTimeout", "message": "The request timed out."}})
        entry: dict[str, Any] = {
            "id": str(item.get("id")),
            "status": reply.status,
            "headers": dict(reply.headers),
        }
        entry["headers"].setdefault("Content-Type", "application/json")
        if reply.body is not None:
            entry["body"] = reply.body
        responses.append(entry)
    return Reply(200, {"responses": responses})
