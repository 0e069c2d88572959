"""The clock: subscriptions walk Enabled -> Warning -> Suspended -> Deleted at nextLifecycleDateTime."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.sandbox.conftest import Api

pytestmark = pytest.mark.scenario("default", access="granted")  # not about access: it is pre-granted

E3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"


def _direct_e3(sandbox, api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    tenant = sandbox.customer("contoso")
    sub = api.graph(
        tenant, "GET", f"/v1.0/directory/subscriptions/{sandbox.ids.subscriptions['contoso.direct_e3']}"
    )
    pool = api.graph(tenant, "GET", f"/v1.0/subscribedSkus/{tenant}_{E3}")
    return sub.json(), pool.json()


def _when(sub: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(sub["nextLifecycleDateTime"])


def test_an_original_subscription_lapses_through_every_state(sandbox, api: Api):
    enabled, _ = _direct_e3(sandbox, api)

    sandbox.advance_clock(days=21)
    warning, warning_pool = _direct_e3(sandbox, api)
    sandbox.advance_clock(days=30)
    suspended, suspended_pool = _direct_e3(sandbox, api)
    sandbox.advance_clock(days=90)
    deleted, _ = _direct_e3(sandbox, api)

    assert enabled["status"] == "Enabled"
    assert (warning["status"], warning_pool["capabilityStatus"]) == ("Warning", "Warning")
    assert warning_pool["prepaidUnits"] == {"enabled": 0, "lockedOut": 0, "suspended": 0, "warning": 25}
    assert _when(warning) - _when(enabled) == dt.timedelta(days=30)
    assert suspended["status"] == "Suspended"
    assert suspended_pool["prepaidUnits"]["suspended"] == 25
    assert _when(suspended) - _when(warning) == dt.timedelta(days=90)
    assert deleted["status"] == "Deleted"
    assert deleted["nextLifecycleDateTime"] is None


def test_one_big_step_passes_every_intermediate_state(sandbox, api: Api):
    sandbox.advance_clock(days=365)

    sub, _ = _direct_e3(sandbox, api)

    assert sub["status"] == "Deleted"


def test_this_partners_subscription_renews_instead_of_lapsing(sandbox, api: Api):
    tenant = sandbox.customer("contoso")
    sub_id = sandbox.ids.commerce_subscriptions["contoso.partner_exo1"]
    before = api.pc("GET", f"/v1/customers/{tenant}/subscriptions/{sub_id}").json()

    sandbox.advance_clock(days=70)
    after = api.pc("GET", f"/v1/customers/{tenant}/subscriptions/{sub_id}").json()

    assert after["status"] == "active"
    assert dt.datetime.fromisoformat(after["commitmentEndDate"]) > dt.datetime.fromisoformat(
        before["commitmentEndDate"]
    )


def test_an_original_left_on_auto_renew_renews_and_its_lapse_date_jumps_a_term(sandbox, api: Api):
    tenant = sandbox.customer("contoso")
    enabled, _ = _direct_e3(sandbox, api)
    sandbox.change_subscription(tenant, enabled["id"], auto_renew=True)

    sandbox.advance_clock(days=21)
    renewed, _ = _direct_e3(sandbox, api)

    assert renewed["status"] == "Enabled"
    assert _when(renewed) - _when(enabled) == dt.timedelta(days=365)


def test_the_clock_only_moves_forward(sandbox):
    before = sandbox.now()

    after = sandbox.advance_clock(hours=5)

    assert after - before >= dt.timedelta(hours=5)
