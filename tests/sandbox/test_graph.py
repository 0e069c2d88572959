"""Graph: documented licensing shapes, assignLicense with Graph's errors, GDAP, paging and $batch."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.conftest import Api

pytestmark = pytest.mark.scenario("default", access="granted")  # not about access: it is pre-granted

E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"
E3_NO_TEAMS = "46c3a859-c90d-40b3-9551-6178a48d5c18"
TEAMS = "7e31c0d9-9551-471d-836f-32ee72be4a01"


def _assign(api: Api, tenant: str, user: str, add: list[str], remove: list[str]):
    body = {"addLicenses": [{"skuId": s, "disabledPlans": []} for s in add], "removeLicenses": remove}
    return api.graph(tenant, "POST", f"/v1.0/users/{user}/assignLicense", json=body)


def test_subscribed_sku_has_the_documented_fields(sandbox, api: Api):
    tenant = sandbox.customer("contoso")

    value = api.graph(tenant, "GET", "/v1.0/subscribedSkus").json()["value"]

    [e3] = [v for v in value if v["skuId"] == E3]
    assert set(e3) == {
        "accountName",
        "accountId",
        "appliesTo",
        "capabilityStatus",
        "consumedUnits",
        "id",
        "prepaidUnits",
        "servicePlans",
        "skuId",
        "skuPartNumber",
        "subscriptionIds",
    }
    assert e3["id"] == f"{tenant}_{E3}"
    assert e3["skuPartNumber"] == "ENTERPRISEPACK"
    assert e3["prepaidUnits"] == {"enabled": 25, "lockedOut": 0, "suspended": 0, "warning": 0}
    assert e3["consumedUnits"] == 7
    assert e3["servicePlans"][0].keys() == {
        "servicePlanId",
        "servicePlanName",
        "provisioningStatus",
        "appliesTo",
    }
    assert e3["subscriptionIds"] == [sandbox.ids.subscriptions["contoso.direct_e3"]]


def test_company_subscriptions_tell_the_channels_apart(sandbox, api: Api):
    value = api.graph(sandbox.customer("contoso"), "GET", "/v1.0/directory/subscriptions").json()["value"]
    by_id = {v["id"]: v for v in value}
    key = sandbox.ids.subscriptions

    assert by_id[key["contoso.direct_e3"]]["ownerTenantId"] is None
    assert by_id[key["contoso.other_partner_bp"]]["ownerTenantId"] == sandbox.ids.other_partner_tenant_id
    assert by_id[key["contoso.partner_exo1"]]["ownerTenantId"] == sandbox.partner_tenant_id
    assert by_id[key["contoso.trial_m365_e5"]]["isTrial"] is True
    direct = by_id[key["contoso.direct_e3"]]
    assert direct["status"] == "Enabled"
    assert direct["totalLicenses"] == 25
    assert direct["nextLifecycleDateTime"].endswith("Z")
    assert {
        "commerceSubscriptionId",
        "createdDateTime",
        "serviceStatus",
        "skuPartNumber",
        "ownerId",
        "ownerType",
    } <= set(direct)


def test_users_filter_by_sku_select_and_page_with_next_link(sandbox, api: Api):
    tenant = sandbox.customer("contoso")
    query = {
        "$filter": f"assignedLicenses/any(x:x/skuId eq {E3})",
        "$select": "id,usageLocation",
        "$top": "3",
    }

    pages = [api.graph(tenant, "GET", "/v1.0/users", params=query).json()]
    while "@odata.nextLink" in pages[-1]:
        pages.append(
            api.http.get(
                pages[-1]["@odata.nextLink"],
                headers={
                    "Authorization": f"Bearer {api.token(tenant, 'https://graph.microsoft.com/.default')}"
                },
            ).json()
        )

    users = [u for page in pages for u in page["value"]]
    assert [len(p["value"]) for p in pages] == [3, 3, 1]
    assert all(set(u) == {"id", "usageLocation"} for u in users)
    assert len({u["id"] for u in users}) == 7


def test_license_assignment_states_tell_direct_from_group(sandbox, api: Api):
    tenant = sandbox.customer("contoso")
    user = sandbox.ids.users["contoso.group_and_direct_e3"]

    body = api.graph(
        tenant,
        "GET",
        f"/v1.0/users/{user}",
        params={"$select": "assignedLicenses,licenseAssignmentStates,usageLocation"},
    ).json()

    states = {s["assignedByGroup"]: s for s in body["licenseAssignmentStates"]}
    assert set(states) == {None, sandbox.ids.groups["contoso.e3"]}
    assert all(s["skuId"] == E3 and s["state"] == "Active" for s in states.values())
    assert body["assignedLicenses"] == [{"disabledPlans": [], "skuId": E3}]


def test_assign_license_swaps_in_one_call(sandbox, api: Api):
    tenant = sandbox.customer("contoso")
    api.buy(tenant, sandbox.ids.catalog_items["O365_E3_NO_TEAMS"], 5)
    api.buy(tenant, sandbox.ids.catalog_items["TEAMS_ENTERPRISE"], 5)
    user = sandbox.ids.users["contoso.direct_e3_a"]

    response = _assign(api, tenant, user, [E3_NO_TEAMS, TEAMS], [E3])

    assert response.status_code == 200
    held = api.graph(tenant, "GET", f"/v1.0/users/{user}", params={"$select": "assignedLicenses"}).json()
    assert {a["skuId"] for a in held["assignedLicenses"]} == {E3_NO_TEAMS, TEAMS}
    [change] = sandbox.license_changes()
    assert change["userId"] == user
    assert change["removed"] == [E3]


@pytest.mark.parametrize(
    ("user", "add", "remove", "message"),
    [
        (
            "contoso.no_usage_location",
            [E3],
            [],
            "License assignment cannot be done for user with invalid usage location.",
        ),
        (
            "contoso.group_e3_a",
            [],
            [E3],
            "User license is inherited from group membership and cannot be removed directly from the user.",
        ),
        ("contoso.direct_e3_a", ["cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46"], [], "mutually exclusive"),
        ("contoso.direct_e3_a", [TEAMS], [E3], "does not correspond to a valid company License"),
    ],
)
def test_assign_license_errors_leave_the_user_unchanged(sandbox, api: Api, user, add, remove, message):
    tenant = sandbox.customer("contoso")
    user_id = sandbox.ids.users[user]
    before = api.graph(tenant, "GET", f"/v1.0/users/{user_id}", params={"$select": "assignedLicenses"}).json()

    response = _assign(api, tenant, user_id, add, remove)

    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    after = api.graph(tenant, "GET", f"/v1.0/users/{user_id}", params={"$select": "assignedLicenses"}).json()
    assert after == before


def test_assigning_past_the_seat_count_is_a_count_violation(sandbox, api: Api):
    tenant = sandbox.customer("wingtip")

    response = _assign(
        api, tenant, sandbox.ids.users["wingtip.spare"], ["efccb6f7-5641-4e0e-bd10-b4976e1bf68e"], []
    )

    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["code"] == "CountViolation"


def _states(api: Api, tenant: str, user: str) -> list[dict[str, Any]]:
    answer = api.graph(
        tenant, "GET", f"/v1.0/users/{user}", params={"$select": "assignedLicenses,licenseAssignmentStates"}
    )
    states: list[dict[str, Any]] = answer.json()["licenseAssignmentStates"]
    return states


def test_group_license_records_count_violations_on_members(sandbox, api: Api):
    tenant = sandbox.customer("wingtip")
    ems = "efccb6f7-5641-4e0e-bd10-b4976e1bf68e"
    body = {"addLicenses": [{"skuId": ems, "disabledPlans": []}], "removeLicenses": []}

    response = api.graph(
        tenant, "POST", f"/v1.0/groups/{sandbox.ids.groups['wingtip.unlicensed']}/assignLicense", json=body
    )

    assert response.status_code == 202
    sandbox.advance_clock(seconds=sandbox.knobs()["group_license_delay_s"])
    for key in ("wingtip.spare", "wingtip.spare_2"):
        user = api.graph(
            tenant,
            "GET",
            f"/v1.0/users/{sandbox.ids.users[key]}",
            params={"$select": "assignedLicenses,licenseAssignmentStates"},
        ).json()
        assert user["assignedLicenses"] == []
        [state] = user["licenseAssignmentStates"]
        assert (state["skuId"], state["state"], state["error"]) == (ems, "Error", "CountViolation")
    pool = api.graph(tenant, "GET", f"/v1.0/subscribedSkus/{tenant}_{ems}").json()
    assert pool["consumedUnits"] == 1


def test_gdap_without_a_license_role_cannot_assign(sandbox, api: Api):
    tenant = sandbox.customer("tailspin")
    user = sandbox.ids.users["tailspin.direct_e3"]

    read = api.graph(tenant, "GET", f"/v1.0/users/{user}")
    write = _assign(api, tenant, user, [], [E3])

    assert read.status_code == 200
    assert write.status_code == 403
    assert write.json()["error"]["code"] == "Authorization_RequestDenied"


def test_batch_refuses_more_than_20_requests(sandbox, api: Api):
    requests_ = [{"id": str(n), "method": "GET", "url": "/subscribedSkus"} for n in range(21)]

    response = api.graph(sandbox.customer("contoso"), "POST", "/v1.0/$batch", json={"requests": requests_})

    assert response.status_code == 400


def test_batch_members_are_throttled_one_by_one(sandbox, api: Api):
    tenant = sandbox.customer("contoso")
    api.token(tenant, "https://graph.microsoft.com/.default")
    sandbox.set_knobs(rate_limits={"graph": {"limit": 4, "window_s": 60}})
    user = sandbox.ids.users["contoso.unlicensed"]
    requests_ = [
        {
            "id": str(n),
            "method": "POST",
            "url": f"/users/{user}/assignLicense",
            "headers": {"Content-Type": "application/json"},
            "body": {"addLicenses": [], "removeLicenses": []},
        }
        for n in range(5)
    ]

    response = api.graph(tenant, "POST", "/v1.0/$batch", json={"requests": requests_})

    assert response.status_code == 200
    statuses = [r["status"] for r in response.json()["responses"]]
    assert statuses == [200, 200, 200, 200, 429]
    assert int(response.json()["responses"][-1]["headers"]["Retry-After"]) >= 1


GDAP = "/v1.0/tenantRelationships/delegatedAdminRelationships"


def test_gdap_relationships_are_managed_from_the_partner_tenant_only(sandbox, api: Api):
    response = api.graph(sandbox.customer("contoso"), "GET", GDAP)

    assert response.status_code == 403


def test_a_group_change_is_accepted_and_reaches_its_members_only_after_processing(sandbox, api: Api):
    tenant = sandbox.customer("contoso")
    group, member = sandbox.ids.groups["contoso.e3"], sandbox.ids.users["contoso.group_e3_a"]
    sandbox.add_subscription(tenant, E3_NO_TEAMS, 10)
    body = {"addLicenses": [{"skuId": E3_NO_TEAMS, "disabledPlans": []}], "removeLicenses": [E3]}

    response = api.graph(tenant, "POST", f"/v1.0/groups/{group}/assignLicense", json=body)

    assert response.status_code == 202
    assert [a["skuId"] for a in response.json()["assignedLicenses"]] == [E3_NO_TEAMS]  # the group: at once
    assert [(s["skuId"], s["assignedByGroup"]) for s in _states(api, tenant, member)] == [(E3, group)]
    sandbox.advance_clock(seconds=sandbox.knobs()["group_license_delay_s"])
    assert [(s["skuId"], s["state"]) for s in _states(api, tenant, member)] == [(E3_NO_TEAMS, "Active")]


def test_group_members_are_listed_as_users_with_their_license_states(sandbox, api: Api):
    tenant = sandbox.customer("contoso")
    group = sandbox.ids.groups["contoso.e3"]

    page = api.graph(
        tenant,
        "GET",
        f"/v1.0/groups/{group}/members/microsoft.graph.user",
        params={"$select": "id,licenseAssignmentStates", "$top": "2"},
    ).json()

    assert len(page["value"]) == 2
    assert "@odata.nextLink" in page
    assert set(page["value"][0]) == {"@odata.type", "id", "licenseAssignmentStates"}
    plain = api.graph(tenant, "GET", f"/v1.0/groups/{group}/members").json()["value"]
    assert {m["id"] for m in plain} >= {sandbox.ids.users["contoso.group_e3_a"]}


def test_a_usage_location_is_set_by_updating_the_user(sandbox, api: Api):
    tenant = sandbox.customer("contoso")
    user = sandbox.ids.users["contoso.no_usage_location"]

    assert api.graph(tenant, "PATCH", f"/v1.0/users/{user}", json={"usageLocation": "us"}).status_code == 400
    assert api.graph(tenant, "PATCH", f"/v1.0/users/{user}", json={"usageLocation": "US"}).status_code == 204

    found = api.graph(tenant, "GET", f"/v1.0/users/{user}", params={"$select": "usageLocation"}).json()
    assert found["usageLocation"] == "US"


def test_every_assign_license_received_is_in_the_ledger_refused_ones_too(sandbox, api: Api):
    tenant = sandbox.customer("contoso")
    user = sandbox.ids.users["contoso.unlicensed"]

    assert _assign(api, tenant, user, [], [E3]).status_code == 400

    [write] = sandbox.license_writes()
    assert (write["userId"], write["removed"]) == (user, [E3])
    assert sandbox.license_changes() == []


def test_tenant_information_is_found_by_domain_or_id_from_the_partner_tenant(sandbox, api: Api):
    contoso = sandbox.customer("contoso")
    by_id = api.graph(
        sandbox.partner_tenant_id,
        "GET",
        f"/v1.0/tenantRelationships/findTenantInformationByTenantId(tenantId='{contoso}')",
    )
    domain = by_id.json()["defaultDomainName"]

    by_domain = api.graph(
        sandbox.partner_tenant_id,
        "GET",
        f"/v1.0/tenantRelationships/findTenantInformationByDomainName(domainName='{domain.upper()}')",
    )

    assert by_id.status_code == by_domain.status_code == 200
    assert by_domain.json() == by_id.json()
    assert set(by_id.json()) == {
        "@odata.context",
        "tenantId",
        "federationBrandName",
        "displayName",
        "defaultDomainName",
    }
    assert (by_id.json()["tenantId"], by_id.json()["displayName"]) == (contoso, "Contoso Sandbox Ltd")


def test_tenant_information_needs_no_relationship_but_answers_404_for_an_unknown_tenant(sandbox, api: Api):
    pending = sandbox.customer("fabrikam")  # no relationship, no GDAP yet
    found = api.graph(
        sandbox.partner_tenant_id,
        "GET",
        f"/v1.0/tenantRelationships/findTenantInformationByTenantId(tenantId='{pending}')",
    )
    unknown = api.graph(
        sandbox.partner_tenant_id,
        "GET",
        "/v1.0/tenantRelationships/findTenantInformationByDomainName(domainName='nobody.example')",
    )

    assert found.status_code == 200
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "Request_ResourceNotFound"


def test_tenant_information_needs_the_cross_tenant_read_permission(sandbox, api: Api):
    token = sandbox.mint_token(audience="graph")  # delegated, but consented for nothing in Graph
    answer = api.http.get(
        f"{sandbox.graph_endpoint}/v1.0/tenantRelationships/findTenantInformationByTenantId(tenantId='{sandbox.customer('contoso')}')",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "Authorization_RequestDenied"
