"""GraphClient on the sandbox over HTTPS: GDAP, license assignment, paging, $batch with throttled items."""

import pytest

from shared.clients.errors import (
    GdapRoleMissingError,
    GraphRetryLaterError,
    GroupInheritedLicenseError,
    TokenAcquisitionError,
    UsageLocationMissingError,
)
from shared.clients.graph import batch_item_error
from shared.resources.graph import AssignedLicense, BatchRequest
from tests.fixtures.clients import api_calls, assign_directly

pytestmark = pytest.mark.scenario("default", access="granted")  # not about access: it is pre-granted


def test_missing_gdap_write_role_is_gdap_role_missing_and_changes_nothing(sandbox, graph):
    tailspin = sandbox.customer("tailspin")  # GDAP grants Directory Readers only
    user = sandbox.ids.users["tailspin.direct_e3"]

    assert list(graph.list_subscribed_skus(tailspin))  # reading is allowed
    with pytest.raises(GdapRoleMissingError) as caught:
        assign_directly(graph, tailspin, user, add=[sandbox.ids.skus["O365_E3"]])

    assert caught.value.status == 403
    assert caught.value.code == "Authorization_RequestDenied"
    assert sandbox.license_changes() == []


def test_a_customer_tenant_that_has_not_consented_the_app_gives_no_token(sandbox, graph):
    with pytest.raises(TokenAcquisitionError) as caught:
        list(graph.list_directory_subscriptions(sandbox.customer("fabrikam")))

    assert caught.value.error == "invalid_grant"
    assert "AADSTS65001" in caught.value.description


def test_tokens_come_from_each_customer_tenant_authority(sandbox, graph):
    for key in ("contoso", "wingtip"):
        list(graph.list_subscribed_skus(sandbox.customer(key)))

    token_paths = {r["path"] for r in api_calls(sandbox, "entra", "/oauth2/v2.0/token")}
    assert token_paths == {f"/{sandbox.customer(k)}/oauth2/v2.0/token" for k in ("contoso", "wingtip")}


def test_directory_subscriptions_page_through_next_links(sandbox, graph):
    contoso = sandbox.customer("contoso")
    sandbox.set_knobs(graph_page_size=2)

    subscriptions = list(graph.list_directory_subscriptions(contoso))

    assert {s.id for s in subscriptions} == {
        v for k, v in sandbox.ids.subscriptions.items() if k.startswith("contoso.")
    }
    assert len(api_calls(sandbox, "graph", "/directory/subscriptions")) == 3


@pytest.mark.scenario("large", customers=0, users=25, access="granted")
def test_users_with_a_sku_are_listed_lazily_over_pages(sandbox, graph):
    bigcorp = sandbox.customer("bigcorp")
    e3 = sandbox.ids.skus["O365_E3"]

    users = graph.list_users_with_sku(bigcorp, e3, page_size=10)
    first = next(users)
    pages_after_first = len(api_calls(sandbox, "graph", "/v1.0/users"))
    everyone = [first, *users]

    assert pages_after_first == 1
    assert len(everyone) == 25
    assert len({u.id for u in everyone}) == 25
    assert all(u.holds(e3) and u.usage_location == "US" for u in everyone)
    assert len(api_calls(sandbox, "graph", "/v1.0/users")) == 3


def test_license_swap_adds_and_removes_in_one_call(sandbox, graph):
    contoso = sandbox.customer("contoso")
    user = sandbox.ids.users["contoso.direct_e3_a"]
    e3, ems = sandbox.ids.skus["O365_E3"], sandbox.ids.skus["EMS_E3"]

    assign_directly(graph, contoso, user, add=[AssignedLicense(ems)], remove=[e3])

    updated = graph.get_user(contoso, user)
    assert updated.holds(ems)
    assert not updated.holds(e3)
    assert [(c["userId"], c["added"], c["removed"]) for c in sandbox.license_changes()] == [
        (user, [ems], [e3])
    ]


def test_user_without_usage_location_is_named(sandbox, graph):
    contoso = sandbox.customer("contoso")

    with pytest.raises(UsageLocationMissingError):
        assign_directly(
            graph, contoso, sandbox.ids.users["contoso.no_usage_location"], add=[sandbox.ids.skus["EMS_E3"]]
        )


def test_group_inherited_license_cannot_be_removed_from_the_user(sandbox, graph):
    contoso = sandbox.customer("contoso")
    member = sandbox.ids.users["contoso.group_e3_a"]

    with pytest.raises(GroupInheritedLicenseError):
        assign_directly(graph, contoso, member, remove=[sandbox.ids.skus["O365_E3"]])

    states = graph.get_user(contoso, member).license_assignment_states
    assert [s.assigned_by_group for s in states] == [sandbox.ids.groups["contoso.e3"]]


def test_group_license_change_reaches_its_members_once_entra_has_processed_it(sandbox, graph):
    contoso = sandbox.customer("contoso")
    group = sandbox.ids.groups["contoso.e3"]
    ems = sandbox.ids.skus["EMS_E3"]

    graph.assign_group_license(contoso, group, add=[ems])  # 202 Accepted
    before = graph.get_user(contoso, sandbox.ids.users["contoso.group_e3_b"])
    sandbox.advance_clock(seconds=sandbox.knobs()["group_license_delay_s"])

    member = graph.get_user(contoso, sandbox.ids.users["contoso.group_e3_b"])
    assert not any(s.sku_id == ems for s in before.license_assignment_states)
    assert any(s.sku_id == ems and s.assigned_by_group == group for s in member.license_assignment_states)


def test_a_groups_members_are_listed_with_their_license_states(sandbox, graph):
    contoso = sandbox.customer("contoso")
    group = sandbox.ids.groups["contoso.e3"]

    members = list(graph.list_group_members(contoso, group, page_size=2))

    assert {m.id for m in members} >= {sandbox.ids.users[f"contoso.group_e3_{n}"] for n in "abc"}
    assert all(
        s.assigned_by_group == group
        for m in members
        for s in m.license_assignment_states
        if s.sku_id == sandbox.ids.skus["O365_E3"] and not s.is_direct
    )
    assert graph.get_organization(contoso).country_letter_code == "US"


def test_batch_resends_only_the_throttled_items(sandbox, graph, sleeps):
    contoso = sandbox.customer("contoso")
    ems = sandbox.ids.skus["EMS_E3"]
    users = [
        sandbox.ids.users[f"contoso.{k}"]
        for k in ("direct_e3_a", "direct_e3_disabled", "unlicensed", "group_e3_a")
    ]
    requests = [
        BatchRequest(
            str(n),
            "POST",
            f"/users/{user}/assignLicense",
            {"addLicenses": [{"skuId": ems, "disabledPlans": []}], "removeLicenses": []},
        )
        for n, user in enumerate(users)
    ]
    # Graph throttles each item of a batch on its own: with room for two, items 3 and 4 get a 429.
    sandbox.set_knobs(rate_limits={"graph": {"limit": 2, "window_s": 1}})

    results = graph.batch(contoso, requests)

    assert [r.status for r in results] == [200, 200, 200, 200]
    assert [batch_item_error(r) for r in results] == [None] * 4
    assert sorted(c["userId"] for c in sandbox.license_changes()) == sorted(users)  # nobody assigned twice
    assert len(api_calls(sandbox, "graph", "/$batch")) == 2
    assert sleeps.waits == [1.0]


def test_batch_leaves_long_throttled_items_for_the_caller(sandbox, graph, sleeps):
    contoso = sandbox.customer("contoso")
    users = [sandbox.ids.users[f"contoso.{k}"] for k in ("direct_e3_a", "unlicensed", "exchange_only")]
    requests = [BatchRequest(str(n), "GET", f"/users/{user}") for n, user in enumerate(users)]
    sandbox.set_knobs(rate_limits={"graph": {"limit": 2, "window_s": 600}})

    results = graph.batch(contoso, requests)

    assert [r.status for r in results] == [200, 200, 429]
    assert results[2].retry_after is not None
    assert results[2].retry_after > 60  # far longer than the client sleeps inside a function
    error = batch_item_error(results[2])
    assert isinstance(error, GraphRetryLaterError)
    assert error.retry_after == results[2].retry_after
    assert sleeps.waits == []


def test_batch_splits_into_groups_of_twenty(sandbox, graph):
    contoso = sandbox.customer("contoso")
    unlicensed = sandbox.ids.users["contoso.unlicensed"]
    requests = [BatchRequest(f"r{n}", "GET", f"/users/{unlicensed}") for n in range(45)]

    results = graph.batch(contoso, requests)

    assert [r.id for r in results] == [f"r{n}" for n in range(45)]
    assert all(r.ok for r in results)
    assert len(api_calls(sandbox, "graph", "/$batch")) == 3


def test_the_organization_gives_the_tenants_own_country(sandbox, graph):
    organization = graph.get_organization(sandbox.customer("northwind"))

    assert organization.id == sandbox.customer("northwind")
    assert organization.country_letter_code == "DE"
    assert len(api_calls(sandbox, "graph", "/organization")) == 1
