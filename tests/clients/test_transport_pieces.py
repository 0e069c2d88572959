"""The pure parts of the pipeline: Retry-After parsing, log templates, backoff bounds."""

import email.utils

import pytest

from shared.transport import ThrottleRetryPolicy, expand, parse_retry_after, path_template


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
