"""Delegated access in the sandbox: no token for a customer's tenant until the partner's application is
consented there, no role until an access assignment gives the partner's security group the
relationship's roles, and Partner Center's GDAP events as the customer and the partner act."""

from __future__ import annotations

import json
from typing import Any

import requests

from sandbox.testing import SandboxHandle, WebhookReceiver
from tests.sandbox.conftest import GRAPH_SCOPE, Api

GDAP = "/v1.0/tenantRelationships/delegatedAdminRelationships"
ROLES = {
    "Directory Readers": "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
    "License Administrator": "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
    "Cloud Application Administrator": "158c047a-c907-4556-b7ef-446551a6b5f7",
}
GRANTS = [{"enterpriseApplicationId": "00000003-0000-0000-c000-000000000000", "scope": "Directory.Read.All"}]


def token_answer(sandbox: SandboxHandle, tenant: str, grant: str = "refresh_token") -> requests.Response:
    form = {
        "grant_type": grant,
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "scope": GRAPH_SCOPE,
    }
    if grant == "refresh_token":
        form["refresh_token"] = sandbox.refresh_token
    return sandbox.http_session().post(f"{sandbox.authority_host}/{tenant}/oauth2/v2.0/token", data=form)


def requested(api: Api, sandbox: SandboxHandle, customer: str, roles: list[str] | None = None) -> str:
    """A GDAP request of the partner, locked for the customer's approval: its id."""
    body = {
        "displayName": f"test {customer}",
        "duration": "P730D",
        "customer": {"tenantId": customer},
        "accessDetails": {"unifiedRoles": [{"roleDefinitionId": ROLES[r]} for r in roles or ROLES]},
    }
    created = api.graph(sandbox.partner_tenant_id, "POST", GDAP, json=body).json()
    api.graph(
        sandbox.partner_tenant_id,
        "POST",
        f"{GDAP}/{created['id']}/requests",
        json={"action": "lockForApproval"},
    )
    relationship: str = created["id"]
    return relationship


def assign(
    api: Api, sandbox: SandboxHandle, relationship: str, roles: list[str], group: str | None = None
) -> Any:
    body = {
        "accessContainer": {
            "accessContainerId": group or sandbox.security_group_id,
            "accessContainerType": "securityGroup",
        },
        "accessDetails": {"unifiedRoles": [{"roleDefinitionId": ROLES[r]} for r in roles]},
    }
    return api.graph(sandbox.partner_tenant_id, "POST", f"{GDAP}/{relationship}/accessAssignments", json=body)


def consent(api: Api, customer: str, sandbox: SandboxHandle) -> requests.Response:
    body = {"applicationId": sandbox.client_id, "applicationGrants": GRANTS, "displayName": "csp-transfer"}
    return api.pc("POST", f"/v1/customers/{customer}/applicationconsents", json=body)


def set_up(
    api: Api, sandbox: SandboxHandle, customer: str, roles: list[str] | None = None
) -> tuple[str, str]:
    """Everything the secure application model needs, as the product does it: approved, assigned
    (and read once, so it is active), consented. The relationship's and the assignment's ids."""
    relationship = requested(api, sandbox, customer, roles)
    sandbox.accept_invitation(customer)
    made = assign(api, sandbox, relationship, roles or list(ROLES)).json()
    api.graph(sandbox.partner_tenant_id, "GET", f"{GDAP}/{relationship}/accessAssignments/{made['id']}")
    assert consent(api, customer, sandbox).status_code == 201
    return relationship, made["id"]


def test_a_customer_tenant_refuses_a_token_to_an_app_it_has_not_consented(sandbox: SandboxHandle) -> None:
    customer = sandbox.customer("contoso")  # accepted long ago, GDAP active: still no consent

    delegated = token_answer(sandbox, customer)
    app_only = token_answer(sandbox, customer, "client_credentials")

    assert delegated.status_code == 400
    assert (delegated.json()["error"], delegated.json()["suberror"]) == ("invalid_grant", "consent_required")
    assert delegated.json()["error_description"].startswith(
        "AADSTS65001: The user or administrator has not consented"
    )
    assert (app_only.status_code, app_only.json()["error_codes"]) == (400, [700016])
    assert token_answer(sandbox, sandbox.partner_tenant_id).status_code == 200  # the partner's own tenant


def test_roles_take_effect_only_through_an_active_access_assignment(sandbox: SandboxHandle, api: Api) -> None:
    customer = sandbox.customer("fabrikam")
    relationship = requested(api, sandbox, customer)
    early = assign(api, sandbox, relationship, ["Cloud Application Administrator"])
    sandbox.accept_invitation(customer)
    refused = consent(api, customer, sandbox)  # approved, but no role assigned to anyone yet
    made = assign(api, sandbox, relationship, ["Cloud Application Administrator"])
    pending = consent(api, customer, sandbox)  # the assignment is pending until it is read again
    read = api.graph(
        sandbox.partner_tenant_id, "GET", f"{GDAP}/{relationship}/accessAssignments/{made.json()['id']}"
    )
    consented = consent(api, customer, sandbox)
    again = consent(api, customer, sandbox)

    assert early.status_code == 400  # a relationship not approved yet takes no assignment
    assert (refused.status_code, pending.status_code) == (403, 403)
    assert (made.status_code, made.json()["status"]) == (201, "pending")
    assert read.json()["status"] == "active"
    assert consented.status_code == 201
    assert (again.status_code, again.json()["description"]) == (409, "Permission entry already exists.")
    users = api.graph(customer, "GET", "/v1.0/users")
    assert users.status_code == 403  # consented, but Cloud Application Administrator reads no directory
    assert users.json()["error"]["code"] == "Authorization_RequestDenied"


def test_an_assignment_needs_a_group_of_the_partner_and_roles_of_the_relationship(
    sandbox: SandboxHandle, api: Api
) -> None:
    customer = sandbox.customer("fabrikam")
    relationship = requested(api, sandbox, customer, ["Directory Readers"])
    sandbox.accept_invitation(customer)

    foreign = assign(
        api, sandbox, relationship, ["Directory Readers"], group=sandbox.ids.groups["contoso.e3"]
    )
    too_much = assign(api, sandbox, relationship, ["License Administrator"])
    made = assign(api, sandbox, relationship, ["Directory Readers"])
    twice = assign(api, sandbox, relationship, ["Directory Readers"])

    assert (foreign.status_code, too_much.status_code) == (400, 400)
    assert made.status_code == 201
    assert twice.status_code == 409


def test_set_up_access_reads_and_assigns_licenses_and_terminating_takes_it_away(
    sandbox: SandboxHandle, api: Api
) -> None:
    customer = sandbox.customer("fabrikam")
    relationship, _ = set_up(api, sandbox, customer)
    user = sandbox.ids.users["fabrikam.direct_e1_a"]
    body: dict[str, list[str]] = {"addLicenses": [], "removeLicenses": []}

    assert api.graph(customer, "GET", "/v1.0/subscribedSkus").status_code == 200
    assert api.graph(customer, "POST", f"/v1.0/users/{user}/assignLicense", json=body).status_code == 200
    ended = api.graph(
        sandbox.partner_tenant_id, "POST", f"{GDAP}/{relationship}/requests", json={"action": "terminate"}
    )

    assert ended.status_code == 201
    assert api.graph(customer, "GET", "/v1.0/subscribedSkus").status_code == 403


def test_a_pending_request_can_be_withdrawn(sandbox: SandboxHandle, api: Api) -> None:
    customer = sandbox.customer("fabrikam")
    relationship = requested(api, sandbox, customer)

    ended = api.graph(
        sandbox.partner_tenant_id, "POST", f"{GDAP}/{relationship}/requests", json={"action": "terminate"}
    )
    sandbox.accept_invitation(customer)

    assert ended.status_code == 201
    assert (
        api.graph(sandbox.partner_tenant_id, "GET", f"{GDAP}/{relationship}").json()["status"] == "terminated"
    )


def test_a_request_left_pending_expires_after_90_days(sandbox: SandboxHandle, api: Api) -> None:
    relationship = requested(api, sandbox, sandbox.customer("fabrikam"))

    sandbox.advance_clock(days=91)

    assert api.graph(sandbox.partner_tenant_id, "GET", f"{GDAP}/{relationship}").json()["status"] == "expired"


def test_an_assignment_update_needs_the_etag_it_was_read_with(sandbox: SandboxHandle, api: Api) -> None:
    relationship, assignment = set_up(api, sandbox, sandbox.customer("fabrikam"))
    path = f"{GDAP}/{relationship}/accessAssignments/{assignment}"
    etag = api.graph(sandbox.partner_tenant_id, "GET", path).json()["@odata.etag"]
    reading = {"accessDetails": {"unifiedRoles": [{"roleDefinitionId": ROLES["Directory Readers"]}]}}

    missing = api.graph(sandbox.partner_tenant_id, "PATCH", path, json=reading)
    stale = api.graph(sandbox.partner_tenant_id, "PATCH", path, json=reading, headers={"If-Match": 'W/"old"'})
    done = api.graph(sandbox.partner_tenant_id, "PATCH", path, json=reading, headers={"If-Match": etag})

    assert (missing.status_code, stale.status_code, done.status_code) == (400, 412, 202)
    assert [r["roleDefinitionId"] for r in done.json()["accessDetails"]["unifiedRoles"]] == [
        ROLES["Directory Readers"]
    ]


def test_approval_and_assignment_events_are_delivered_when_registered(
    sandbox: SandboxHandle, api: Api
) -> None:
    customer = sandbox.customer("fabrikam")
    events = [
        "granular-admin-relationship-approved",
        "granular-admin-access-assignment-created",
        "granular-admin-access-assignment-activated",
    ]
    with WebhookReceiver() as receiver:
        api.pc(
            "POST", "/webhooks/v1/registration", json={"webhookUrl": receiver.url, "webhookEvents": events}
        )
        relationship = requested(api, sandbox, customer)
        sandbox.approve_gdap(customer)  # the seeded request and this one
        made = assign(api, sandbox, relationship, ["Directory Readers"]).json()
        api.graph(sandbox.partner_tenant_id, "GET", f"{GDAP}/{relationship}/accessAssignments/{made['id']}")
        delivered = sandbox.wait_webhooks()

    seeded = sandbox.ids.admin_relationships["fabrikam"]
    uri = "https://partner.microsoft.com/granularAdminRelationships/"
    assert [(d["eventName"], json.loads(d["body"])["ResourceUri"]) for d in delivered] == [
        (events[0], uri + seeded),
        (events[0], uri + relationship),
        (events[1], f"{uri}{relationship}/accessAssignments/{made['id']}"),
        (events[2], f"{uri}{relationship}/accessAssignments/{made['id']}"),
    ]
    assert json.loads(delivered[0]["body"])["ResourceName"] == "GranularAdminRelationship"
    assert all(d["delivered"] for d in delivered)


def test_a_request_can_be_made_to_hold_fewer_roles_when_approved(sandbox: SandboxHandle, api: Api) -> None:
    customer = sandbox.customer("fabrikam")
    roles = ["Directory Readers", "Cloud Application Administrator"]
    relationship = requested(api, sandbox, customer)

    sandbox.approve_gdap(customer, roles=roles)

    held = api.graph(sandbox.partner_tenant_id, "GET", f"{GDAP}/{relationship}").json()
    assert held["status"] == "active"
    assert {r["roleDefinitionId"] for r in held["accessDetails"]["unifiedRoles"]} == {ROLES[r] for r in roles}


def test_a_registration_for_another_url_is_kept_and_nothing_is_sent_there(
    sandbox: SandboxHandle, api: Api
) -> None:
    url = "https://cipp.example/api/PublicWebhooks"
    sandbox.set_webhook_registration(url, ["granular-admin-relationship-approved"])

    sent = sandbox.accept_invitation(sandbox.customer("fabrikam"))["webhookDeliveries"]

    assert sent == []
    assert api.pc("GET", "/webhooks/v1/registration").json()["WebhookUrl"] == url
