"""Many customers at once: tokens are acquired per tenant, once per key, with the refresh token
redeemed one request at a time in each tenant (threads against the sandbox's Entra)."""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.clients.auth import GRAPH_SCOPE, PARTNER_CENTER_SCOPE, Flow
from tests.fixtures.clients import api_calls, make_credential

pytestmark = pytest.mark.scenario("default", access="granted")  # not about access: it is pre-granted

TOKEN = "/oauth2/v2.0/token"


def token_requests(sandbox: Any, tenant: str) -> list[tuple[float, float]]:
    """(start, end) of each token request the sandbox served for ``tenant``."""
    spans = []
    for r in api_calls(sandbox, "entra", f"/{tenant}{TOKEN}"):
        spans.append((r["at"] - r["latencyMs"] / 1000, r["at"]))
    return sorted(spans)


def test_a_slow_token_for_one_tenant_does_not_stall_another_tenant(sandbox, retry):
    contoso, wingtip = sandbox.customer("contoso"), sandbox.customer("wingtip")
    credential = make_credential(sandbox, retry=retry)
    sandbox.add_fault("delay", service="entra", path=f"/{contoso}{TOKEN}$", delay_s=2.0)
    slow = threading.Thread(target=credential.get_token, args=(GRAPH_SCOPE,), kwargs={"tenant_id": contoso})
    slow.start()
    time.sleep(0.3)  # contoso's token request is now hanging in Entra

    started = time.monotonic()
    credential.get_token(GRAPH_SCOPE, tenant_id=wingtip)
    elapsed = time.monotonic() - started

    assert slow.is_alive()
    assert elapsed < 1.7  # contoso's token takes 2 s
    slow.join()


def test_concurrent_requests_for_one_token_redeem_once_and_share_it(sandbox, retry):
    contoso = sandbox.customer("contoso")
    credential = make_credential(sandbox, retry=retry)
    sandbox.set_knobs(latency_ms=300)

    with ThreadPoolExecutor(8) as pool:
        tokens = list(
            pool.map(lambda _: credential.get_token(GRAPH_SCOPE, tenant_id=contoso).token, range(8))
        )

    assert len(set(tokens)) == 1
    assert len(token_requests(sandbox, contoso)) == 1


def test_a_tenant_redeems_its_refresh_token_one_request_at_a_time(sandbox, retry):
    partner = sandbox.partner_tenant_id
    credential = make_credential(sandbox, retry=retry)
    sandbox.set_knobs(latency_ms=200)
    scopes = [PARTNER_CENTER_SCOPE, GRAPH_SCOPE, "https://graph.microsoft.com/User.Read"]

    with ThreadPoolExecutor(len(scopes)) as pool:
        list(pool.map(lambda scope: credential.get_token(scope, flow=Flow.APP_USER), scopes))

    spans = token_requests(sandbox, partner)
    assert len(spans) == len(scopes)
    assert all(earlier[1] <= later[0] + 0.01 for earlier, later in itertools.pairwise(spans))


def test_tenants_redeem_in_parallel(sandbox, retry):
    tenants = [sandbox.customer(k) for k in ("contoso", "wingtip", "tailspin")]
    credential = make_credential(sandbox, retry=retry)
    sandbox.set_knobs(latency_ms=400)
    started = time.monotonic()

    with ThreadPoolExecutor(len(tenants)) as pool:
        list(pool.map(lambda tenant: credential.get_token(GRAPH_SCOPE, tenant_id=tenant), tenants))

    # Serially: 3 tenants x (discovery + token) x 0.4 s = 2.4 s.
    assert time.monotonic() - started < 2.2


def test_a_failure_is_shared_with_the_callers_that_waited_for_it(sandbox, retry):
    contoso = sandbox.customer("contoso")
    credential = make_credential(sandbox, retry=retry)
    sandbox.set_knobs(latency_ms=200)
    sandbox.add_fault("status", service="entra", path=f"/{contoso}{TOKEN}$", status=503, times=-1)

    def attempt(_: int) -> str:
        try:
            credential.get_token(GRAPH_SCOPE, tenant_id=contoso)
        except Exception as error:
            return type(error).__name__
        return "token"

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(attempt, range(4)))

    assert outcomes == ["TokenAcquisitionError"] * 4
    assert len(token_requests(sandbox, contoso)) == retry.max_attempts  # one caller's retries, not four
