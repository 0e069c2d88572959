"""Parsing the documented event at the edge: what it accepts, what it names, what it refuses."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from shared.resources import MalformedResourceError
from shared.resources.webhook_events import RELATIONSHIP_ACCEPTED, PartnerCenterEvent

CUSTOMER = "4b2a6e33-8791-4386-bd2b-0d55baf25039"
DOCUMENTED = {
    "EventName": RELATIONSHIP_ACCEPTED,
    "ResourceUri": f"https://api.partnercenter.microsoft.com/v1/customers/{CUSTOMER}",
    "ResourceName": "Customer",
    "AuditUri": "https://api.partnercenter.microsoft.com/auditactivity/v1/auditrecords/60d5c4bb",
    "ResourceChangeUtcDate": "2023-10-18T00:26:24.0159088+00:00",
}


def parse(document: object) -> PartnerCenterEvent:
    return PartnerCenterEvent.parse(json.dumps(document).encode())


def refusal(body: bytes) -> str:
    """What the parser says is wrong; the verifier answers it as a 400 with this detail."""
    with pytest.raises(MalformedResourceError) as caught:
        PartnerCenterEvent.parse(body)
    return str(caught.value)


def test_the_documented_example_parses():
    event = parse(DOCUMENTED)

    assert event.event_name == RELATIONSHIP_ACCEPTED
    assert event.customer_id == CUSTOMER
    assert event.resource_name == "Customer"
    assert event.audit_uri == DOCUMENTED["AuditUri"]
    assert event.changed_at == dt.datetime(2023, 10, 18, 0, 26, 24, 15908, tzinfo=dt.UTC)


def test_camel_case_fields_read_like_pascal_case_and_give_the_same_delivery_key():
    camel = {key[0].lower() + key[1:]: value for key, value in DOCUMENTED.items()}

    assert parse(camel) == parse(DOCUMENTED)
    assert parse(camel).delivery_key == parse(DOCUMENTED).delivery_key


def test_the_2019_audit_url_spelling_is_read():
    older = {
        **{k: v for k, v in DOCUMENTED.items() if k != "AuditUri"},
        "AuditUrl": "https://audit.invalid/1",
    }

    assert parse(older).audit_uri == "https://audit.invalid/1"


def test_unknown_fields_are_ignored_and_optional_ones_may_be_null():
    event = parse({**DOCUMENTED, "ResourceUri": None, "AuditUri": "", "SomethingNew": [1, 2]})

    assert event.resource_uri is None
    assert event.audit_uri is None
    assert event.customer_id is None


def test_the_same_field_twice_with_different_values_is_refused():
    body = json.dumps({**DOCUMENTED, "eventName": "test-created"}).encode()

    assert "EventName is given twice" in refusal(body)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"EventName": ', "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "too deep"),
        (b'["EventName"]', "not a JSON object"),
        (json.dumps({**DOCUMENTED, "EventName": None}).encode(), "EventName is missing"),
        (json.dumps({**DOCUMENTED, "EventName": "two words"}).encode(), "is not an event name"),
        (json.dumps({**DOCUMENTED, "ResourceUri": 42}).encode(), "ResourceUri is not a string"),
        (json.dumps({**DOCUMENTED, "ResourceUri": "x" * 3000}).encode(), "longer than 2048"),
        (
            json.dumps({k: v for k, v in DOCUMENTED.items() if k != "ResourceChangeUtcDate"}).encode(),
            "missing",
        ),
        (json.dumps({**DOCUMENTED, "ResourceChangeUtcDate": "yesterday"}).encode(), "not an ISO 8601"),
        (json.dumps({**DOCUMENTED, "ResourceChangeUtcDate": "2023-13-01T00:00:00Z"}).encode(), "not a real"),
        (
            json.dumps({**DOCUMENTED, "ResourceChangeUtcDate": "0001-01-01T00:00:00+01:00"}).encode(),
            "not a real",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_malformed_event_is_a_bad_request_naming_what_is_wrong(body, why):
    assert why in refusal(body)


def test_a_refusal_quotes_only_a_short_piece_of_the_input():
    body = json.dumps({**DOCUMENTED, "EventName": "<" * 100_000}).encode()

    detail = refusal(body)

    assert len(detail) < 160


def test_a_change_date_without_an_offset_is_utc():
    event = parse({**DOCUMENTED, "ResourceChangeUtcDate": "2023-10-18T00:26:24"})

    assert event.changed_at == dt.datetime(2023, 10, 18, 0, 26, 24, tzinfo=dt.UTC)


def test_a_change_date_in_another_offset_is_the_same_change_in_utc():
    local = parse({**DOCUMENTED, "ResourceChangeUtcDate": "2023-10-18T02:26:24.0159088+02:00"})

    assert local.changed_at == parse(DOCUMENTED).changed_at
    assert local.delivery_key == parse(DOCUMENTED).delivery_key


@pytest.mark.parametrize(
    ("uri", "customer"),
    [
        (f"https://api.partnercenter.microsoft.com/v1/customers/{CUSTOMER}", CUSTOMER),
        (f"https://pc.invalid/webhooks/v1/customers/{CUSTOMER.upper()}/subscriptions/1", CUSTOMER),
        ("https://api.partnercenter.microsoft.com/v1/customers", None),
        ("https://api.partnercenter.microsoft.com/v1/customers/not-a-guid", None),
        (f"https://partner.microsoft.com/granularAdminRelationships/{CUSTOMER}", None),
        (f"https://pc.invalid/v1/invoices/1?next=/customers/{CUSTOMER}", None),
        (f"https://customers/{CUSTOMER}", None),
    ],
)
def test_customer_id_is_the_tenant_the_resource_uri_names(uri, customer):
    assert parse({**DOCUMENTED, "ResourceUri": uri}).customer_id == customer


def test_another_change_of_the_same_resource_gets_another_delivery_key():
    later = parse({**DOCUMENTED, "ResourceChangeUtcDate": "2023-10-18T00:26:25.0159088+00:00"})
    other_event = parse({**DOCUMENTED, "EventName": "indirect-reseller-relationship-accepted-by-customer"})

    assert len({parse(DOCUMENTED).delivery_key, later.delivery_key, other_event.delivery_key}) == 3
