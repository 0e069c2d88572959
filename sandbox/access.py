"""Delegated access into a customer's tenant: GDAP access assignments, the application's consent,
and the customer approving the partner's GDAP request.

Microsoft's secure application model needs three things per customer tenant before the partner's
application may act there (Learn: "Granular delegated admin privileges (GDAP) and the secure
application model"): an active GDAP relationship, an access assignment that gives a security group
of the partner's tenant the relationship's roles ("After the GDAP relationship is active, assign
the security group... with the appropriate Azure AD roles"), and explicit consent of the application
in the customer's tenant. The sandbox enforces all three, on by default:

- Graph, partner tenant only (Learn: "Create accessAssignments", "Get", "List", "Update"):
  ``POST|GET …/delegatedAdminRelationships/{id}/accessAssignments`` and ``GET|PATCH|DELETE
  …/accessAssignments/{assignmentId}``. An assignment needs an active relationship, a security
  group of the partner's tenant as ``accessContainer`` and roles the relationship holds; a second
  one for the same group is a 409. It is ``pending`` when created and ``active`` once
  ``access_assignment_activation_s`` (knob, sandbox clock) has passed; an update needs the
  assignment's ETag in ``If-Match`` (412 when it changed, 400 without).
- Partner Center (Learn: "Acquire customer consent as a Control Panel Vendor"):
  ``POST /v1/customers/{id}/applicationconsents {applicationId, applicationGrants, displayName}``,
  App+User, by a partner user holding a role in the customer's tenant that may consent
  (:data:`~sandbox.world.CONSENT_ROLES`); a second consent of the same application is 409
  "Permission entry already exists.", as CIPP and the Partner Center PowerShell samples meet it.
- Entra (:mod:`sandbox.entra`) issues no token for the customer's tenant until the consent exists
  (AADSTS65001), and Graph answers 403 ``Authorization_RequestDenied`` until a role is effective:
  an active assignment to a group the partner's admin belongs to.
- Webhooks (Learn: "Partner Center webhook events"): ``granular-admin-relationship-approved``
  when the customer approves, ``-terminated`` and ``-expired``, and
  ``granular-admin-access-assignment-created`` / ``-activated``, each only when registered.

Control API: ``POST /customers/{id}/gdap/approve {"roles"}`` (the customer approves its pending
GDAP requests; ``roles`` keeps only those role names, as a request changed before it was locked)
and ``PUT /webhooks/registration {"webhookUrl", "webhookEvents"}`` (another tool's registration,
for any URL; nothing is delivered off this machine).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from .graph import GDAP, admin_relationship, odata_context, paged
from .partner_center import customer_of
from .routing import Call, Reply, Router, lookup
from .state import Sandbox
from .webhooks import change_date
from .world import (
    CONSENT_ROLES,
    ROLE_DEFINITIONS,
    AccessAssignment,
    AdminRelationship,
    GraphError,
    PartnerCenterError,
    iso,
)

graph_router: Router[Sandbox] = Router()
"""Graph's access assignments of a GDAP relationship."""
partner_center_router: Router[Sandbox] = Router()
"""Partner Center's application consent in a customer's tenant."""
control_router: Router[Sandbox] = Router()
"""What the customer (and another tool) does: approve GDAP, hold the webhook registration."""

ASSIGNMENTS = GDAP + "/{id}/accessAssignments"
ALREADY_CONSENTED = "Permission entry already exists."


def assignment_json(assignment: AccessAssignment) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.delegatedAdminAccessAssignment",
        "@odata.etag": _etag(assignment),
        "id": assignment.id,
        "status": assignment.status,
        "createdDateTime": iso(assignment.created),
        "lastModifiedDateTime": iso(assignment.created),
        "accessContainer": {"accessContainerId": assignment.group_id, "accessContainerType": "securityGroup"},
        "accessDetails": {"unifiedRoles": [{"roleDefinitionId": r} for r in sorted(assignment.roles)]},
    }


def _etag(assignment: AccessAssignment) -> str:
    return f'W/"{assignment.id}-{assignment.etag}"'


def _settled(sb: Sandbox, relationship: AdminRelationship) -> list[AccessAssignment]:
    """The relationship's assignments, each activated once its time has come (and announced)."""
    now = sb.world.clock.now()
    for assignment in relationship.assignments.values():
        if assignment.settle(now):
            sb.webhooks.announce_gdap(
                "granular-admin-access-assignment-activated", relationship.id, assignment.id
            )
    return [a for a in relationship.assignments.values() if a.status != "deleted"]


def _assignment(sb: Sandbox, call: Call, p: dict[str, str]) -> tuple[AdminRelationship, AccessAssignment]:
    relationship = admin_relationship(sb, call, p["id"])
    found = {a.id: a for a in _settled(sb, relationship)}.get(p["assignment_id"].lower())
    if found is None:
        raise GraphError(404, "Request_ResourceNotFound", f"Resource '{p['assignment_id']}' does not exist.")
    return relationship, found


def _roles(relationship: AdminRelationship, body: dict[str, Any]) -> frozenset[str]:
    details = body.get("accessDetails")
    details = details if isinstance(details, dict) else {}
    roles = frozenset(
        str(r.get("roleDefinitionId", "")).lower()
        for r in details.get("unifiedRoles") or []
        if isinstance(r, dict)
    )
    if not roles or not roles <= relationship.roles:
        raise GraphError(
            400, "Request_BadRequest", "accessDetails.unifiedRoles must be roles of the relationship."
        )
    return roles


@graph_router.route("GET", ASSIGNMENTS)
def list_access_assignments(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    relationship = admin_relationship(sb, call, p["id"])
    items = [assignment_json(a) for a in _settled(sb, relationship)]
    return paged(sb, call, items, "accessAssignments", ASSIGNMENTS.replace("{id}", relationship.id))


@graph_router.route("POST", ASSIGNMENTS)
def create_access_assignment(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    relationship = admin_relationship(sb, call, p["id"])
    if relationship.status != "active":
        raise GraphError(
            400,
            "Request_BadRequest",
            f"An access assignment needs an active relationship; it is {relationship.status}.",
        )
    body = call.json()
    container = body.get("accessContainer") if isinstance(body.get("accessContainer"), dict) else {}
    group = str(container.get("accessContainerId", "")).lower()
    if container.get("accessContainerType") != "securityGroup" or group not in sb.world.partner_groups:
        raise GraphError(
            400,
            "Request_BadRequest",
            "accessContainer must be a securityGroup of the partner's tenant.",
        )
    roles = _roles(relationship, body)
    if any(a.group_id == group for a in _settled(sb, relationship)):
        raise GraphError(409, "Conflict", "An access assignment for this access container already exists.")
    now = sb.world.clock.now()
    lag = dt.timedelta(seconds=float(sb.knobs["access_assignment_activation_s"]))
    assignment = AccessAssignment(str(uuid.uuid4()).replace("-", ""), group, roles, now, now + lag)
    relationship.assignments[assignment.id] = assignment
    sb.webhooks.announce_gdap("granular-admin-access-assignment-created", relationship.id, assignment.id)
    body_out = {
        "@odata.context": odata_context(sb, "tenantRelationships/delegatedAdminRelationships/$entity"),
        **assignment_json(assignment),
    }
    return Reply(201, body_out, {"ETag": _etag(assignment)})


@graph_router.route("GET", ASSIGNMENTS + "/{assignment_id}")
def get_access_assignment(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    _, assignment = _assignment(sb, call, p)
    return Reply(200, assignment_json(assignment), {"ETag": _etag(assignment)})


@graph_router.route("PATCH", ASSIGNMENTS + "/{assignment_id}")
def update_access_assignment(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """Only the roles change; the ETag read last must come in ``If-Match`` (Learn: "Required")."""
    relationship, assignment = _assignment(sb, call, p)
    match = call.headers.get("If-Match")
    if not match:
        raise GraphError(400, "Request_BadRequest", "The If-Match header is required.")
    if match != _etag(assignment):
        raise GraphError(412, "PreconditionFailed", "The access assignment has changed since it was read.")
    if assignment.status != "active":
        raise GraphError(400, "Request_BadRequest", f"The access assignment is {assignment.status}.")
    assignment.roles = _roles(relationship, call.json())
    assignment.etag += 1
    sb.webhooks.announce_gdap("granular-admin-access-assignment-updated", relationship.id, assignment.id)
    return Reply(202, assignment_json(assignment), {"ETag": _etag(assignment)})


@graph_router.route("DELETE", ASSIGNMENTS + "/{assignment_id}")
def delete_access_assignment(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    relationship, assignment = _assignment(sb, call, p)
    assignment.status = "deleted"
    sb.webhooks.announce_gdap("granular-admin-access-assignment-deleted", relationship.id, assignment.id)
    return Reply(204)


# ---------------------------------------------------------------------- application consent


@partner_center_router.route("POST", "/v1/customers/{customer_id}/applicationconsents", app_user_only=True)
def create_application_consent(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = customer_of(sb, p["customer_id"])
    body = call.json()
    app_id = str(lookup(body, "applicationId", "")).lower()
    grants = lookup(body, "applicationGrants")
    if not app_id or not isinstance(grants, list) or not grants:
        raise PartnerCenterError(400, 3000, "applicationId and applicationGrants are required.")
    for grant in grants:
        named = isinstance(grant, dict) and lookup(grant, "enterpriseApplicationId")
        if not named or not lookup(grant, "scope"):
            raise PartnerCenterError(400, 3000, "Each grant needs an enterpriseApplicationId and a scope.")
    if not sb.world.effective_roles(tenant) & CONSENT_ROLES:
        raise PartnerCenterError(
            403,
            403,
            "The caller has no granular admin role in the customer's tenant that allows consenting "
            "applications (Cloud Application Administrator, Application Administrator, Privileged Role "
            "Administrator or Global Administrator).",
        )
    if app_id in tenant.consented_apps:
        raise PartnerCenterError(409, 409, ALREADY_CONSENTED)
    tenant.consented_apps.add(app_id)
    return Reply(
        201,
        {
            "applicationId": app_id,
            "applicationGrants": grants,
            "displayName": lookup(body, "displayName"),
            "attributes": {"objectType": "ApplicationConsent"},
        },
    )


# ---------------------------------------------------------------------- control: the customer's admin


@control_router.route("POST", "/customers/{customer_id}/gdap/approve")
def approve_gdap(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """The customer's Global Administrator approves the partner's pending GDAP requests."""
    tenant = sb.world.tenants.get(p["customer_id"].lower())
    if tenant is None:
        return Reply(404, {"error": f"no tenant {p['customer_id']}"})
    names = call.json().get("roles")
    unknown = sorted(set(names or ()) - set(ROLE_DEFINITIONS.values()))
    if names is not None and (not isinstance(names, list) or unknown):
        return Reply(400, {"error": f"roles must be a list of role names; unknown: {unknown}"})
    approved = sb.world.approve_relationships(tenant, frozenset(names) if names is not None else None)
    deliveries = [
        d for r in approved for d in sb.webhooks.announce_gdap("granular-admin-relationship-approved", r.id)
    ]
    return Reply(200, {"approved": [r.id for r in approved], "webhookDeliveries": deliveries})


@control_router.route("POST", "/customers/{customer_id}/gdap/remove")
def remove_gdap(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """The customer's Global Administrator removes the partner's active GDAP relationships (the
    admin center's "Partner relationships" page): their roles go at once."""
    tenant = sb.world.tenants.get(p["customer_id"].lower())
    if tenant is None:
        return Reply(404, {"error": f"no tenant {p['customer_id']}"})
    removed = sb.world.approved_relationships(tenant.id)
    for relationship in removed:
        sb.world.terminate_relationship(relationship)
    deliveries = [
        d for r in removed for d in sb.webhooks.announce_gdap("granular-admin-relationship-terminated", r.id)
    ]
    return Reply(200, {"removed": [r.id for r in removed], "webhookDeliveries": deliveries})


@control_router.route("PUT", "/webhooks/registration")
def set_registration(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """A registration made by another tool, for any URL: the partner's one registration."""
    body = call.json()
    url, events = body.get("webhookUrl"), body.get("webhookEvents")
    if not isinstance(url, str) or not url.startswith("https://") or not isinstance(events, list):
        return Reply(400, {"error": "webhookUrl (https) and webhookEvents (a list) are required"})
    sb.webhooks.registration = {
        "SubscriberId": sb.world.partner_tenant_id,
        "WebhookUrl": url,
        "WebhookEvents": [str(e) for e in events],
        "SignatureTokenToMsSignatureHeader": False,
        "Properties": {},
        "LastModifiedTimestamp": change_date(sb.world.clock.now()),
    }
    return Reply(200, sb.webhooks.registration_json())
