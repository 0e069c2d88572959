"""The plan route with Entra, Graph or Partner Center failing, hanging or throttling: it answers within
its deadline with a problem naming the cause, never a hang and never a bare 500 (the app on Azurite
and the sandbox). Stalled storage is tests/api/test_storage_faults.py's."""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

import pytest

from sandbox.testing import SandboxHandle
from shared import bootstrap
from shared.api.problems import ApiResponse
from shared.api.problems import answer as within_boundary
from shared.store.repository import TransferStore
from tests.api.test_plan_route import start
from tests.fixtures.clients import settle

pytestmark = pytest.mark.scenario("default", access="granted")  # about faults, not about access

DEADLINE = 2.0


def plan_within(store: TransferStore, sandbox: SandboxHandle, seconds: float) -> tuple[ApiResponse, float]:
    transfer_id = start(store, sandbox.customer("contoso"), accepted=True)
    api = bootstrap.services().admin
    started = time.monotonic()
    answer = within_boundary(lambda: api.plan_transfer(transfer_id), seconds=seconds)
    return answer, time.monotonic() - started


def assert_quotes_nothing_of_entra(answer: ApiResponse, sandbox: SandboxHandle) -> None:
    """Neither the authority (whose path is a tenant id) nor Entra's own error text is answered."""
    text = json.dumps(answer.body)
    assert urlsplit(sandbox.authority_host).netloc not in text
    assert sandbox.partner_tenant_id not in text
    assert sandbox.customer("contoso") not in text
    assert "Injected failure" not in text  # the sandbox's error_description


@pytest.mark.slow
def test_entra_hanging_is_a_503_within_the_deadline(connected_app, sandbox):
    sandbox.add_fault("delay", service="entra", delay_s=5.0, times=-1)

    answer, elapsed = plan_within(connected_app, sandbox, DEADLINE)

    assert elapsed < DEADLINE + 0.5
    assert answer.status == 503
    assert answer.content_type == "application/problem+json"
    assert answer.body["service"] == "Entra"
    assert int(answer.headers["Retry-After"]) >= 1
    assert_quotes_nothing_of_entra(answer, sandbox)
    settle(sandbox)


def test_entra_failing_is_a_problem_naming_entra(connected_app, sandbox):
    sandbox.add_fault("status", service="entra", status=503, times=-1)

    answer, elapsed = plan_within(connected_app, sandbox, 10.0)

    assert elapsed < 10.0
    assert answer.status == 502
    assert answer.body["service"] == "Entra"
    assert "503" in answer.body["detail"]
    assert_quotes_nothing_of_entra(answer, sandbox)


def test_entra_throttling_is_a_503_with_its_retry_after(connected_app, sandbox):
    sandbox.add_fault("status", service="entra", path="/token$", status=429, retry_after="120", times=-1)

    answer, _ = plan_within(connected_app, sandbox, DEADLINE)

    assert answer.status == 503
    assert answer.body["service"] == "Entra"
    assert answer.headers["Retry-After"] == "120"
    assert_quotes_nothing_of_entra(answer, sandbox)


def test_entra_retry_after_inf_is_a_503_not_an_overflow(connected_app, sandbox):
    sandbox.add_fault("status", service="entra", path="/token$", status=429, retry_after="inf", times=-1)

    answer, _ = plan_within(connected_app, sandbox, DEADLINE)

    assert answer.status == 503
    assert int(answer.headers["Retry-After"]) > 0


@pytest.mark.parametrize(("service", "named"), [("graph", "Graph"), ("partner_center", "Partner Center")])
def test_graph_or_partner_center_hanging_is_a_503_within_the_deadline(connected_app, sandbox, service, named):
    sandbox.add_fault("delay", service=service, delay_s=5.0, times=-1)

    answer, elapsed = plan_within(connected_app, sandbox, DEADLINE)

    assert elapsed < DEADLINE + 0.5
    assert answer.status == 503
    assert answer.body["service"] == named
    assert int(answer.headers["Retry-After"]) >= 1
    assert "deadline" in answer.body["detail"]
    settle(sandbox)
