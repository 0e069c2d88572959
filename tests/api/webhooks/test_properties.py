"""Properties: the parser refuses with MalformedResourceError alone (a 400 at the route), the
verifier with WebhookRejectedError alone, and neither accepts a body or a signature the signer did
not produce."""

from __future__ import annotations

import base64
import datetime as dt
import json
import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shared.api.webhooks import WebhookRejectedError
from shared.resources import MalformedResourceError
from shared.resources.webhook_events import PartnerCenterEvent

FIELDS = ("EventName", "ResourceUri", "ResourceName", "AuditUri", "ResourceChangeUtcDate")
BOUNDED = settings(max_examples=150, deadline=None)
AGAINST_THE_SANDBOX = settings(max_examples=60, deadline=None)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
field_names = st.sampled_from(FIELDS).flatmap(
    lambda name: st.sampled_from([name, name[0].lower() + name[1:], name.upper(), name.lower()])
)
event_names = st.from_regex(r"\A[a-z][a-z0-9-]{0,40}\Z")
change_dates = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)
guids = st.uuids().map(str)


def pc_date(moment: dt.datetime) -> str:
    """Partner Center's form, 7-digit fraction and all."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0+00:00"


def parse_or_bad_request(body: bytes) -> None:
    refused: MalformedResourceError | None = None
    try:
        PartnerCenterEvent.parse(body)
    except MalformedResourceError as error:
        refused = error
    assert refused is None or len(str(refused)) < 300


@BOUNDED
@given(st.binary(max_size=512))
def test_any_bytes_parse_or_are_a_bad_request(body):
    parse_or_bad_request(body)


@BOUNDED
@given(st.dictionaries(field_names | st.text(max_size=12), json_values, max_size=7))
def test_any_json_object_parses_or_is_a_bad_request(document):
    parse_or_bad_request(json.dumps(document).encode())


@BOUNDED
@given(
    name=event_names,
    customer=guids,
    moment=change_dates,
    casing=st.sampled_from([str, lambda key: key[0].lower() + key[1:], str.lower]),
    indent=st.sampled_from([None, 2]),
    reverse=st.booleans(),
)
def test_a_documented_event_parses_with_a_key_that_ignores_its_spelling(
    name, customer, moment, casing, indent, reverse
):
    document = {
        "EventName": name,
        "ResourceUri": f"https://api.partnercenter.microsoft.com/v1/customers/{customer}",
        "ResourceName": "Customer",
        "ResourceChangeUtcDate": pc_date(moment),
    }
    items = list(document.items())[:: -1 if reverse else 1]
    spelled = json.dumps({casing(key): value for key, value in items}, indent=indent).encode()

    event = PartnerCenterEvent.parse(spelled)

    assert (event.event_name, event.customer_id, event.changed_at) == (name, customer, moment)
    assert event.delivery_key == PartnerCenterEvent.parse(json.dumps(document).encode()).delivery_key


@BOUNDED
@given(moment=change_dates, later_by=st.integers(min_value=1, max_value=10**12))
def test_changes_at_different_times_get_different_delivery_keys(moment, later_by):
    later = moment + dt.timedelta(microseconds=later_by)
    assume(later.year < 9999)

    first, second = (
        PartnerCenterEvent.parse(json.dumps({"EventName": "x", "ResourceChangeUtcDate": pc_date(m)}).encode())
        for m in (moment, later)
    )

    assert first.delivery_key != second.delivery_key


def test_no_tampered_body_is_accepted(verifier, deliver):
    [(headers, body)] = deliver()
    verifier.verify(headers, body)  # the certificate is now cached: the examples below cost no fetch

    @AGAINST_THE_SANDBOX
    @given(
        st.one_of(
            st.binary(max_size=2048),
            st.tuples(st.integers(0, len(body) - 1), st.integers(1, 255)).map(
                lambda flip: body[: flip[0]] + bytes([body[flip[0]] ^ flip[1]]) + body[flip[0] + 1 :]
            ),
        )
    )
    def check(tampered):
        assume(tampered != body)
        with pytest.raises(WebhookRejectedError) as refused:
            verifier.verify(headers, tampered)
        assert refused.value.status == 401

    check()


def test_no_other_signature_is_accepted(verifier, deliver):
    [(headers, body)] = deliver()
    verifier.verify(headers, body)
    genuine = base64.b64decode(headers["authorization"].split(" ", 1)[1])

    @AGAINST_THE_SANDBOX
    @given(
        st.one_of(
            st.binary(max_size=300),
            st.tuples(st.integers(0, len(genuine) - 1), st.integers(1, 255)).map(
                lambda flip: genuine[: flip[0]] + bytes([genuine[flip[0]] ^ flip[1]]) + genuine[flip[0] + 1 :]
            ),
        )
    )
    def check(signature):
        assume(signature != genuine)
        forged = {**headers, "authorization": "Signature " + base64.b64encode(signature).decode()}
        with pytest.raises(WebhookRejectedError) as refused:
            verifier.verify(forged, body)
        assert refused.value.status == 401

    check()


def test_any_headers_are_refused_with_a_rejection_only(sandbox, verifier, deliver):
    [(headers, body)] = deliver()
    allowed = f"https://{sandbox.webhook_cert_hosts}/"
    header_text = st.text(max_size=60)
    certificate_urls = st.one_of(
        header_text,
        st.text(alphabet=string.printable, max_size=40).map(lambda path: allowed + path),
        st.just(headers["x-ms-certificate-url"]),
    )

    @AGAINST_THE_SANDBOX
    @given(
        authorization=st.one_of(header_text, header_text.map(lambda text: "Signature " + text)),
        algorithm=st.one_of(header_text, st.just("rsa-sha256")),
        certificate_url=certificate_urls,
        extra=st.dictionaries(header_text, header_text, max_size=3),
    )
    def check(authorization, algorithm, certificate_url, extra):
        sent = {
            **extra,
            "Authorization": authorization,
            "X-MS-Signature-Algorithm": algorithm,
            "X-MS-Certificate-Url": certificate_url,
        }
        with pytest.raises(WebhookRejectedError) as refused:
            verifier.verify(sent, body)
        assert refused.value.status == 401
        assert len(refused.value.detail) < 300

    check()
