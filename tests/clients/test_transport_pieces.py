"""The pure parts of the pipeline: Retry-After parsing, log templates, backoff bounds, deadlines."""

import email.utils
import time

import pytest

from shared.clients.calls import MAX_RETRY_AFTER, call_timeouts, deadline, time_left
from shared.clients.errors import DeadlineExceededError, RetryLaterError
from shared.clients.http import expand, parse_retry_after, path_template
from shared.clients.pipeline import ThrottleRetryPolicy


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("57", 57.0), ("2.128", 2.128), (" 0 ", 0.0), ("-3", 0.0), (None, None), ("", None), ("soon", None)],
)
def test_retry_after_seconds(header, seconds):
    assert parse_retry_after(header) == seconds


def test_retry_after_http_date_counts_from_now():
    now = 1_800_000_000.0
    header = email.utils.formatdate(now + 120, usegmt=True)

    assert parse_retry_after(header, now=lambda: now) == pytest.approx(120.0)


def test_retry_after_date_in_the_past_means_now():
    now = 1_800_000_000.0

    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=lambda: now) == 0.0


@pytest.mark.parametrize(
    ("path", "template"),
    [
        (
            "/partnercenter/v1/customers/4b2a6e33-8791-4386-bd2b-0d55baf25039/orders",
            "/partnercenter/v1/customers/{id}/orders",
        ),
        ("/graph/v1.0/users/adele.vance@contoso.com/assignLicense", "/graph/v1.0/users/{id}/assignLicense"),
        ("/graph/v1.0/users/adele.vance%40contoso.com", "/graph/v1.0/users/{id}"),
        ("/v1/customers/relationshiprequests", "/v1/customers/relationshiprequests"),
        (
            "/webhooks/v1/registration/validationEvents/12345",
            "/webhooks/v1/registration/validationEvents/{id}",
        ),
        ("/v1/customers/x/carts/Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA", "/v1/customers/x/carts/{id}"),
        (
            "/v1.0/subscribedSkus/48a80680-7326-48cd-9935-b556b81d3a4e_c7df2760-2c81-4ef7-b578-5b5392b571df",
            "/v1.0/subscribedSkus/{id}",
        ),
    ],
)
def test_path_template_hides_ids_and_keeps_operation_words(path, template):
    assert path_template(path) == template


def test_expand_escapes_values_so_an_id_cannot_change_the_path():
    path = expand(
        "/v1/customers/{customer_id}/orders/{order_id}", {"customer_id": "a/../b", "order_id": "o 1"}
    )

    assert path == "/v1/customers/a%2F..%2Fb/orders/o%201"


def test_backoff_grows_with_jitter_and_stays_bounded():
    policy = ThrottleRetryPolicy(backoff_base=1.0, backoff_max=4.0)

    first = [policy.backoff(1) for _ in range(200)]
    late = [policy.backoff(10) for _ in range(200)]

    assert all(0.5 <= b <= 1.0 for b in first)
    assert all(2.0 <= b <= 4.0 for b in late)
    assert len(set(late)) > 1


@pytest.mark.parametrize(
    "header", ["inf", "Infinity", "-inf", "1e400", "9" * 5000, "Fri, 31 Dec 9999 23:59:59 GMT"]
)
def test_retry_after_is_always_a_finite_wait_no_longer_than_a_day(header):
    seconds = parse_retry_after(header)

    assert seconds is not None
    assert 0.0 <= seconds <= MAX_RETRY_AFTER
    round(seconds)  # what a 503's Retry-After header does with it: must not overflow


def test_retry_after_nan_is_no_instruction():
    assert parse_retry_after("nan") is None


def test_nested_deadline_can_shorten_but_never_extend_the_outer_one():
    with deadline(1.0):
        with deadline(100.0):
            inner = time_left()
        with deadline(0.1):
            shorter = time_left()
        outer = time_left()

    assert inner is not None
    assert inner <= 1.0
    assert shorter is not None
    assert shorter <= 0.1
    assert outer is not None
    assert 0.1 < outer <= 1.0
    assert time_left() is None


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf")])
def test_deadline_refuses_a_meaningless_length(seconds):
    with pytest.raises(ValueError, match="positive, finite"), deadline(seconds):
        pass


def test_timeouts_shrink_to_the_time_left_and_fail_once_it_is_gone():
    assert call_timeouts(5.0, 60.0, what="GET /x", service="Graph") == (5.0, 60.0)
    with deadline(2.0):
        connect, read = call_timeouts(5.0, 60.0, what="GET /x", service="Graph")
    assert 0 < connect <= 2.0
    assert 0 < read <= 2.0

    with deadline(0.01):
        time.sleep(0.02)
        with pytest.raises(DeadlineExceededError) as caught:
            call_timeouts(5.0, 60.0, what="GET /x", service="Graph")
    assert caught.value.service == "Graph"
    assert isinstance(caught.value, RetryLaterError)
    assert caught.value.retry_after is not None
    assert caught.value.retry_after >= 1


def test_retry_sleep_that_would_end_past_the_deadline_is_not_started():
    sleeps: list[float] = []
    policy = ThrottleRetryPolicy(max_sleep=30.0, sleep=sleeps.append)

    with deadline(1.0), pytest.raises(DeadlineExceededError) as caught:
        policy.retry_wait(1, 5.0, failure="GET /x: HTTP 503 on attempt 1", service="Partner Center")

    assert sleeps == []
    assert "HTTP 503" in str(caught.value)
    assert caught.value.retry_after == 5.0


def test_retry_wait_hands_long_or_last_waits_back_to_the_caller():
    sleeps: list[float] = []
    policy = ThrottleRetryPolicy(max_attempts=3, max_sleep=5.0, sleep=sleeps.append)

    assert policy.retry_wait(1, 0.2, failure="f", service="Graph")
    assert not policy.retry_wait(1, 6.0, failure="f", service="Graph")
    assert not policy.retry_wait(3, 0.2, failure="f", service="Graph")
    assert sleeps == [0.2]
