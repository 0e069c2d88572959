"""The clients against a failing sandbox: Entra failing, hanging and throttling, calls that hang past
the operation's deadline, and writes whose answer is lost after the service acted."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from shared.api.problems import ApiResponse
from shared.api.problems import answer as within_boundary
from shared.clients.auth import GRAPH_SCOPE, PARTNER_CENTER_SCOPE, Flow
from shared.clients.calls import MAX_RETRY_AFTER, deadline
from shared.clients.errors import (
    DeadlineExceededError,
    OutcomeUnknownError,
    RetryLaterError,
    TokenAcquisitionError,
    TokenRetryLaterError,
)
from shared.clients.partner_center import PartnerCenterClient
from shared.clients.pipeline import ThrottleRetryPolicy
from shared.resources.commerce import CartLineItem
from shared.resources.graph import AssignedLicense, BatchRequest
from tests.fixtures.clients import api_calls, make_credential, settle

pytestmark = pytest.mark.scenario("default", access="granted")  # not about access: it is pre-granted

TOKEN = "/oauth2/v2.0/token"


# Entra failing, throttling, dropping and hanging


def test_entra_server_errors_are_retried_then_the_token_comes(sandbox, retry, sleeps):
    sandbox.add_fault("status", service="entra", path=f"{TOKEN}$", status=503, times=2)
    credential = make_credential(sandbox, retry=retry)

    token = credential.get_token(GRAPH_SCOPE, tenant_id=sandbox.customer("contoso"))

    assert token.token
    # Each retry reached Entra: msal's own cache of the failed answer did not replay it.
    assert [r["status"] for r in api_calls(sandbox, "entra", TOKEN)] == [503, 503, 200]
    assert len(sleeps.waits) == 2


def test_entra_failing_for_good_is_a_retryable_token_error_after_bounded_attempts(sandbox, retry):
    sandbox.add_fault("status", service="entra", path=f"{TOKEN}$", status=503, times=-1)
    credential = make_credential(sandbox, retry=retry)

    with pytest.raises(TokenAcquisitionError) as caught:
        credential.get_token(PARTNER_CENTER_SCOPE, flow=Flow.APP_ONLY)

    assert (caught.value.service, caught.value.status, caught.value.retryable) == ("Entra", 503, True)
    assert "503" in str(caught.value)
    assert len(api_calls(sandbox, "entra", TOKEN)) == retry.max_attempts


def test_entra_throttling_for_long_is_retry_later_without_sleeping(sandbox, retry, sleeps):
    sandbox.add_fault("status", service="entra", path=f"{TOKEN}$", status=429, retry_after="120", times=-1)
    credential = make_credential(sandbox, retry=retry)

    with pytest.raises(TokenRetryLaterError) as caught:
        credential.get_token(GRAPH_SCOPE)

    assert isinstance(caught.value, RetryLaterError)
    assert (caught.value.status, caught.value.retry_after) == (429, 120)
    assert sleeps.waits == []
    assert len(api_calls(sandbox, "entra", TOKEN)) == 1


def test_entra_short_throttling_is_slept_through(sandbox, retry, sleeps):
    sandbox.add_fault("status", service="entra", path=f"{TOKEN}$", status=429, retry_after="0.2")

    assert make_credential(sandbox, retry=retry).get_token(GRAPH_SCOPE).token
    assert sleeps.waits == [0.2]


def test_entra_retry_after_inf_is_a_clamped_wait_not_an_overflow(sandbox, retry):
    sandbox.add_fault("status", service="entra", path=f"{TOKEN}$", status=429, retry_after="inf", times=-1)

    with pytest.raises(TokenRetryLaterError) as caught:
        make_credential(sandbox, retry=retry).get_token(GRAPH_SCOPE)

    assert caught.value.retry_after == MAX_RETRY_AFTER


def test_a_dropped_connection_to_entra_is_retried(sandbox, retry):
    sandbox.add_fault("drop", service="entra", path=f"{TOKEN}$")

    assert make_credential(sandbox, retry=retry).get_token(GRAPH_SCOPE).token
    assert [r["status"] for r in api_calls(sandbox, "entra", TOKEN)] == [0, 200]


def test_entra_dropping_every_answer_is_a_token_error_naming_the_connection(sandbox, retry):
    sandbox.add_fault("drop", service="entra", path=f"{TOKEN}$", times=-1)

    with pytest.raises(TokenAcquisitionError) as caught:
        make_credential(sandbox, retry=retry).get_token(GRAPH_SCOPE)

    assert (caught.value.code, caught.value.retryable) == ("connection_failed", True)
    assert "no answer from the token endpoint" in str(caught.value)


def test_unknown_tenant_says_its_discovery_document_could_not_be_fetched(sandbox, retry, sleeps):
    with pytest.raises(TokenAcquisitionError) as caught:
        make_credential(sandbox, retry=retry).get_token(GRAPH_SCOPE, tenant_id=str(uuid.uuid4()))

    assert (caught.value.code, caught.value.status, caught.value.retryable) == (
        "discovery_failed",
        400,
        False,
    )
    assert "discovery document could not be fetched: HTTP 400" in str(caught.value)
    assert "Unable to get authority configuration" not in str(caught.value)
    assert sleeps.waits == []


def test_discovery_failing_with_5xx_is_retried(sandbox, retry):
    sandbox.add_fault("status", service="entra", path="openid-configuration$", status=502)

    assert make_credential(sandbox, retry=retry).get_token(GRAPH_SCOPE).token


@pytest.mark.slow
def test_entra_hanging_ends_within_the_acquisition_bound(sandbox, retry):
    # Discovery and token request each hang: msal's two requests once took twice the delay.
    sandbox.add_fault("delay", service="entra", delay_s=3.0, times=-1)
    credential = make_credential(sandbox, retry=retry, read_timeout=0.3, acquire_timeout=1.0)
    started = time.monotonic()

    with pytest.raises(DeadlineExceededError) as caught:
        credential.get_token(GRAPH_SCOPE)

    assert time.monotonic() - started < 2.9  # bounded: one hung request alone would take 3 s
    assert caught.value.service == "Entra"
    assert "timeout" in str(caught.value)
    assert caught.value.retry_after is not None
    assert caught.value.retry_after >= 1
    settle(sandbox)


@pytest.mark.slow
def test_a_hung_entra_cannot_hold_a_call_past_its_deadline(sandbox, partner_center):
    sandbox.add_fault("delay", service="entra", delay_s=3.0, times=-1)
    started = time.monotonic()

    with deadline(1.0), pytest.raises(DeadlineExceededError) as caught:
        partner_center.get_customer(sandbox.customer("contoso"))

    assert time.monotonic() - started < 2.5  # the hung request alone would take 3 s
    assert caught.value.service == "Entra"
    assert api_calls(sandbox, "partner_center", sandbox.customer("contoso")) == []
    settle(sandbox)


# Partner Center and Graph under a deadline


def test_a_hung_read_ends_at_the_deadline_as_retry_later(sandbox, partner_center):
    contoso = sandbox.customer("contoso")
    partner_center.get_customer(contoso)  # the token first: only the read hangs
    sandbox.add_fault("delay", service="partner_center", path=f"/customers/{contoso}$", delay_s=3.0, times=-1)
    started = time.monotonic()

    with deadline(1.0), pytest.raises(DeadlineExceededError) as caught:
        partner_center.get_customer(contoso)

    assert time.monotonic() - started < 2.5  # the hung read alone would take 3 s
    assert caught.value.service == "Partner Center"
    assert caught.value.retry_after is not None
    assert caught.value.retry_after >= 1
    assert caught.value.correlation_id
    settle(sandbox)


def test_no_retry_sleep_starts_that_would_end_past_the_deadline(sandbox, credential, sleeps):
    contoso = sandbox.customer("contoso")
    sandbox.add_fault("status", service="partner_center", path=f"/customers/{contoso}$", status=503, times=-1)
    slow = ThrottleRetryPolicy(backoff_base=4.0, backoff_max=4.0, max_sleep=10.0, sleep=sleeps)
    with (
        PartnerCenterClient(
            sandbox.partner_center_endpoint, credential, verify=sandbox.ca_bundle, retry=slow
        ) as pc,
        deadline(1.5),
        pytest.raises(DeadlineExceededError) as caught,
    ):
        pc.get_customer(contoso)

    assert sleeps.waits == []
    assert "HTTP 503 on attempt 1" in str(caught.value)
    assert len(api_calls(sandbox, "partner_center", contoso)) == 1


def test_a_last_attempt_cut_short_by_the_deadline_is_a_503_to_retry_not_a_502(sandbox, credential, sleeps):
    # With 60 s reads and four attempts, the fourth one of a hung read ends at a route's 200 s.
    contoso = sandbox.customer("contoso")
    last_attempt = ThrottleRetryPolicy(max_attempts=1, sleep=sleeps)
    with PartnerCenterClient(
        sandbox.partner_center_endpoint, credential, verify=sandbox.ca_bundle, retry=last_attempt
    ) as pc:
        pc.get_customer(contoso)  # the token first: only the read hangs
        sandbox.add_fault("delay", service="partner_center", path=f"/customers/{contoso}$", delay_s=3.0)

        answer = within_boundary(lambda: answered(pc.get_customer, contoso), seconds=1.0)

    assert answer.status == 503, answer.body
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.body["service"] == "Partner Center"
    assert "deadline" in answer.body["detail"]
    settle(sandbox)


def test_a_last_token_request_cut_short_by_the_deadline_is_a_deadline_not_a_refusal(sandbox):
    sandbox.add_fault("delay", service="entra", delay_s=3.0, times=-1)
    credential = make_credential(sandbox, retry=ThrottleRetryPolicy(max_attempts=1))

    with deadline(1.0), pytest.raises(DeadlineExceededError) as caught:
        credential.get_token(GRAPH_SCOPE)

    assert caught.value.service == "Entra"
    settle(sandbox)


def answered(call: Callable[..., object], *args: object) -> ApiResponse:
    """A route that makes one call and answers 200 once it returns."""
    call(*args)
    return ApiResponse(200, {})


# Writes whose answer is lost


def test_license_swap_dropped_after_commit_is_not_resent_and_its_outcome_is_unknown(sandbox, graph):
    contoso = sandbox.customer("contoso")
    group = sandbox.ids.groups["contoso.e3"]
    e3, ems = sandbox.ids.skus["O365_E3"], sandbox.ids.skus["EMS_E3"]
    graph.get_group(contoso, group)  # the token first
    sandbox.add_fault("drop_after_commit", service="graph", method="POST", path="/assignLicense$")

    with pytest.raises(OutcomeUnknownError) as caught:
        graph.assign_group_license(contoso, group, add=[AssignedLicense(ems)], remove=[e3])

    assert (caught.value.service, caught.value.retryable) == ("Graph", False)
    assert "read the current state" in str(caught.value)
    assert len(api_calls(sandbox, "graph", "/assignLicense", "POST")) == 1
    swapped = graph.get_group(contoso, group)  # what the caller reconciles with: it was done
    assert swapped.holds(ems)
    assert not swapped.holds(e3)


def test_license_swap_answered_with_5xx_is_not_resent(sandbox, graph):
    contoso = sandbox.customer("contoso")
    group = sandbox.ids.groups["contoso.e3"]
    sandbox.add_fault("status", service="graph", method="POST", path="/assignLicense$", status=503)

    with pytest.raises(OutcomeUnknownError) as caught:
        graph.assign_group_license(contoso, group, add=[sandbox.ids.skus["EMS_E3"]])

    assert (caught.value.status, caught.value.retryable) == (503, False)
    assert len(api_calls(sandbox, "graph", "/assignLicense", "POST")) == 1


def test_throttled_license_swap_is_retried_because_nothing_was_done(sandbox, graph, sleeps):
    contoso = sandbox.customer("contoso")
    group = sandbox.ids.groups["contoso.e3"]
    sandbox.add_fault(
        "status", service="graph", method="POST", path="/assignLicense$", status=429, retry_after="0.1"
    )

    graph.assign_group_license(contoso, group, add=[sandbox.ids.skus["EMS_E3"]])

    assert [r["status"] for r in api_calls(sandbox, "graph", "/assignLicense", "POST")] == [429, 202]
    assert len(sandbox.license_changes()) == 1


def test_batch_of_writes_dropped_after_commit_is_not_resent(sandbox, graph):
    contoso = sandbox.customer("contoso")
    user = sandbox.ids.users["contoso.direct_e3_a"]
    body = {"addLicenses": [{"skuId": sandbox.ids.skus["EMS_E3"], "disabledPlans": []}], "removeLicenses": []}
    graph.get_user(contoso, user)
    sandbox.add_fault("drop_after_commit", service="graph", method="POST", path=r"/\$batch$")

    with pytest.raises(OutcomeUnknownError):
        graph.batch(contoso, [BatchRequest("1", "POST", f"/users/{user}/assignLicense", body)])

    assert len(api_calls(sandbox, "graph", "/$batch", "POST")) == 1


def test_batch_of_reads_dropped_is_sent_again(sandbox, graph):
    contoso = sandbox.customer("contoso")
    user = sandbox.ids.users["contoso.direct_e3_a"]
    sandbox.add_fault("drop", service="graph", method="POST", path=r"/\$batch$")

    results = graph.batch(contoso, [BatchRequest("1", "GET", f"/users/{user}")])

    assert [r.status for r in results] == [200]
    assert len(api_calls(sandbox, "graph", "/$batch", "POST")) == 2


def test_checkout_whose_answers_are_all_lost_buys_once_and_says_repeating_is_safe(sandbox, partner_center):
    contoso = sandbox.customer("contoso")
    item = sandbox.ids.catalog_items["O365_E3_NO_TEAMS"]  # its SKU enforces attestation
    line = CartLineItem(item, 2, "P1Y", "monthly", attestation_accepted=True)
    cart = partner_center.create_cart(contoso, [line], request_id=str(uuid.uuid4()))
    sandbox.add_fault("drop_after_commit", service="partner_center", method="POST", path="/checkout$")
    sandbox.add_fault("drop", service="partner_center", method="POST", path="/checkout$", times=-1)

    with pytest.raises(OutcomeUnknownError) as caught:
        partner_center.checkout_cart(contoso, cart.id, request_id=str(uuid.uuid4()))

    assert (caught.value.service, caught.value.retryable) == ("Partner Center", True)
    assert "same request id is safe" in str(caught.value)
    assert len(sandbox.purchases()) == 1
    assert len(api_calls(sandbox, "partner_center", "/checkout", "POST")) == 4


def test_a_discovery_answer_without_its_endpoints_is_named_as_such(sandbox, retry):
    sandbox.add_fault("status", service="entra", path="openid-configuration$", status=200, times=-1)

    with pytest.raises(TokenAcquisitionError) as caught:
        make_credential(sandbox, retry=retry).get_token(GRAPH_SCOPE)

    assert caught.value.code == "discovery_failed"
    assert "could not be fetched: HTTP 200 with a body that is not the expected JSON" in str(caught.value)
