"""What the benchmarks rely on: Graph's write quota, the count of 429s, the fleet's size, and a
filtered read of the partner's GDAP relationships."""

from __future__ import annotations

from collections import Counter

import pytest

from sandbox.catalog import BUNDLED_CSV, build_catalog, load_sku_reference
from sandbox.scenarios import FLEET_SKUS, SKUS, build
from tests.sandbox.conftest import Api

pytestmark = pytest.mark.scenario("default", access="granted")  # not about access: it is pre-granted

E3 = SKUS["O365_E3"]


def _assign(user: str) -> dict[str, object]:
    return {
        "id": user,
        "method": "POST",
        "url": f"/users/{user}/assignLicense",
        "body": {"addLicenses": [], "removeLicenses": [E3]},
        "headers": {"Content-Type": "application/json"},
    }


def test_graph_write_quota_throttles_batch_members_but_not_reads(sandbox, api: Api):
    tenant = sandbox.customer("contoso")
    users = [
        sandbox.ids.users[f"contoso.{key}"] for key in ("direct_e3_a", "direct_e3_ems", "business_premium")
    ]
    api.token(tenant, "https://graph.microsoft.com/.default")
    sandbox.set_knobs(rate_limits={"graph_writes": {"limit": 2, "window_s": 600}})

    answer = api.graph(tenant, "POST", "/v1.0/$batch", json={"requests": [_assign(u) for u in users]})
    reads = [api.graph(tenant, "GET", "/v1.0/subscribedSkus").status_code for _ in range(3)]

    statuses = [item["status"] for item in answer.json()["responses"]]
    assert sorted(statuses) == [200, 200, 429]
    assert reads == [200, 200, 200]
    assert sandbox.ledger("purchases")["throttled"] == {"graph_writes": 1}


def test_throttled_count_covers_partner_center_and_is_cleared_with_the_ledger(sandbox, api: Api):
    sandbox.set_knobs(rate_limits={"partner_center": {"limit": 1, "window_s": 600}})
    customer = sandbox.customer("contoso")

    statuses = [api.pc("GET", f"/v1/customers/{customer}").status_code for _ in range(3)]
    counted = sandbox.ledger("purchases")["throttled"]
    sandbox.clear_ledger()

    assert statuses == [200, 429, 429]
    assert counted == {"partner_center": 2}
    assert sandbox.ledger("purchases")["throttled"] == {}


def test_large_scenario_customers_hold_the_skus_and_users_asked_for():
    catalog = build_catalog(load_sku_reference(BUNDLED_CSV))

    world, _ = build("large", catalog, {"customers": 4, "users": 0, "customer_skus": 3, "customer_users": 50})

    tenant = world.tenants[world.keys["customers"]["customer00003"]]
    held = Counter(sku for user in tenant.users.values() for sku in user.direct)
    assert {s.sku_id for s in tenant.subscriptions.values()} == {SKUS[name] for name in FLEET_SKUS}
    assert len(tenant.users) == 50
    assert held == {E3: 17, SKUS["EMS_E3"]: 17, SKUS["EXCHANGE_PLAN_2"]: 16}
    assert all(s.quantity >= held[s.sku_id] for s in tenant.subscriptions.values())


def test_admin_relationships_filtered_by_display_name_are_only_those(sandbox, api: Api):
    partner = sandbox.partner_tenant_id
    api.token(partner, "https://graph.microsoft.com/.default")
    path = "/v1.0/tenantRelationships/delegatedAdminRelationships"

    everything = api.graph(partner, "GET", path).json()["value"]
    named = api.graph(partner, "GET", path, params={"$filter": "displayName eq 'CSP transfer - contoso'"})
    nobody = api.graph(partner, "GET", path, params={"$filter": "displayName eq 'it''s nobody'"})
    other = api.graph(partner, "GET", path, params={"$filter": "status eq 'active'"})

    assert len(everything) > 1
    assert [r["displayName"] for r in named.json()["value"]] == ["CSP transfer - contoso"]
    assert nobody.json()["value"] == []
    assert other.status_code == 400
