"""The control API's user knobs: add holders of a SKU (directly or through a group), set a usage location."""

import pytest

from sandbox.scenarios import SKUS
from tests.sandbox.conftest import Api

pytestmark = pytest.mark.scenario("default", access="granted")  # not about access: it is pre-granted

E3 = SKUS["O365_E3"]
SELECT = {"$select": "id,assignedLicenses,licenseAssignmentStates,usageLocation"}


def test_added_users_hold_the_sku_directly_with_their_disabled_plans(sandbox, api: Api):
    tenant = sandbox.customer("contoso")
    plan = "a23b959c-7ce8-4e57-9140-b90eb88a9e97"  # SWAY

    ids = sandbox.add_users(tenant, 3, sku_id=E3, disabled_plans=(plan,))

    listed = api.graph(
        tenant, "GET", "/v1.0/users", params={"$filter": f"assignedLicenses/any(x:x/skuId eq {E3})"}
    )
    assert set(ids) <= {u["id"] for u in listed.json()["value"]}
    body = api.graph(tenant, "GET", f"/v1.0/users/{ids[0]}", params=SELECT).json()
    assert body["assignedLicenses"] == [{"disabledPlans": [plan], "skuId": E3}]
    assert body["usageLocation"] == "US"


def test_added_group_members_inherit_the_group_licence_only(sandbox, api: Api):
    tenant = sandbox.customer("contoso")
    group = sandbox.ids.groups["contoso.e3"]

    (user,) = sandbox.add_users(tenant, 1, group_id=group, usage_location=None)

    body = api.graph(tenant, "GET", f"/v1.0/users/{user}", params=SELECT).json()
    assert [s["assignedByGroup"] for s in body["licenseAssignmentStates"]] == [group]
    assert body["usageLocation"] is None


def test_usage_location_can_be_set_and_cleared(sandbox, api: Api):
    tenant = sandbox.customer("contoso")
    user = sandbox.ids.users["contoso.no_usage_location"]

    sandbox.set_usage_location(tenant, user, "GB")
    assert api.graph(tenant, "GET", f"/v1.0/users/{user}", params=SELECT).json()["usageLocation"] == "GB"
    sandbox.set_usage_location(tenant, user, None)
    assert api.graph(tenant, "GET", f"/v1.0/users/{user}", params=SELECT).json()["usageLocation"] is None
