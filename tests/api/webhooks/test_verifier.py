"""The verifier against deliveries the sandbox really signs, sends and serves certificates for."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from shared.api.webhooks import WebhookRejectedError, WebhookVerifier
from shared.resources.webhook_events import RELATIONSHIP_ACCEPTED, TEST_CREATED
from tests.api.webhooks.conftest import certificate_fetches

CERT_PATH = "/cert/pcnotifications-dispatch.microsoft.com.cer"


def rejection(verifier: WebhookVerifier, headers: dict[str, str], body: bytes) -> WebhookRejectedError:
    with pytest.raises(WebhookRejectedError) as caught:
        verifier.verify(headers, body)
    return caught.value


def test_a_signed_delivery_verifies_and_names_its_customer(sandbox, verifier, deliver):
    [(headers, body)] = deliver()

    event = verifier.verify(headers, body)

    assert event.event_name == RELATIONSHIP_ACCEPTED
    assert event.customer_id == sandbox.customer("contoso")
    assert event.resource_name == "Customer"
    assert (
        event.resource_uri == f"{sandbox.partner_center_endpoint}/v1/customers/{sandbox.customer('contoso')}"
    )
    assert event.changed_at.utcoffset() is not None


def test_the_test_event_verifies_and_names_no_customer(sandbox, verifier, deliver):
    uri = f"{sandbox.partner_center_endpoint}/webhooks/v1/registration/validationEvents/{uuid.uuid4()}"
    [(headers, body)] = deliver(event_name=TEST_CREATED, customer=None, resource_uri=uri)

    event = verifier.verify(headers, body)

    assert event.event_name == TEST_CREATED
    assert event.customer_id is None


def test_forged_signature_is_refused(verifier, deliver):
    [(headers, body)] = deliver("forged-signature")

    refused = rejection(verifier, headers, body)

    assert refused.status == 401
    assert refused.title == "Webhook signature rejected"


def test_a_body_changed_by_one_byte_is_refused(sandbox, verifier, deliver):
    [(headers, body)] = deliver()
    at = body.index(sandbox.customer("contoso").encode())
    tampered = body[:at] + bytes([body[at] ^ 1]) + body[at + 1 :]  # another customer's id

    refused = rejection(verifier, headers, tampered)

    assert refused.status == 401
    assert "does not match" in refused.detail


def test_certificate_url_on_another_host_is_refused_without_fetching_it(sandbox, verifier, deliver):
    [(headers, body)] = deliver("wrong-cert-url")

    refused = rejection(verifier, headers, body)

    assert refused.status == 401
    assert "not in WEBHOOK_CERT_HOSTS" in refused.detail
    assert certificate_fetches(sandbox) == []


def test_a_self_signed_certificate_with_microsofts_name_is_refused(verifier, deliver):
    [(headers, body)] = deliver("untrusted-cert")

    refused = rejection(verifier, headers, body)

    assert refused.status == 401
    assert "does not chain to WEBHOOK_TRUST_ROOTS" in refused.detail


def test_a_redirecting_certificate_url_is_refused_and_not_followed(sandbox, verifier, deliver):
    [(headers, body)] = deliver("redirecting-cert-url")

    refused = rejection(verifier, headers, body)

    assert refused.status == 401
    assert "redirect" in refused.detail
    assert certificate_fetches(sandbox) == [CERT_PATH.replace("/cert/", "/cert/redirect/")]


@pytest.mark.parametrize(
    ("offset_s", "why"), [(31 * 86400, "expired"), (-2 * 3600, "not yet valid")], ids=["expired", "not-yet"]
)
def test_a_certificate_outside_its_validity_is_refused(settings, deliver, offset_s, why):
    verifier = WebhookVerifier(
        settings.webhook_cert_hosts, settings.webhook_trust_roots, clock=lambda: time.time() + offset_s
    )
    [(headers, body)] = deliver()

    refused = rejection(verifier, headers, body)

    assert refused.status == 401, why
    assert "the signing certificate is valid from" in refused.detail


def test_the_certificate_is_fetched_once_for_many_deliveries(sandbox, verifier, deliver):
    deliveries = deliver() + deliver("duplicate") + deliver(customer="fabrikam")

    events = [verifier.verify(headers, body) for headers, body in deliveries]

    assert len(events) == 4
    assert certificate_fetches(sandbox) == [CERT_PATH]


def test_the_certificate_is_fetched_again_after_the_cache_ttl(sandbox, settings, deliver):
    now = [time.time()]
    verifier = WebhookVerifier(
        settings.webhook_cert_hosts, settings.webhook_trust_roots, cert_cache_ttl=60, clock=lambda: now[0]
    )
    [(headers, body)] = deliver()

    verifier.verify(headers, body)
    now[0] += 59
    verifier.verify(headers, body)
    now[0] += 2
    verifier.verify(headers, body)

    assert certificate_fetches(sandbox) == [CERT_PATH, CERT_PATH]


def test_a_cached_certificate_stops_counting_once_it_expires(sandbox, settings, deliver):
    now = [time.time()]
    verifier = WebhookVerifier(
        settings.webhook_cert_hosts, settings.webhook_trust_roots, clock=lambda: now[0]
    )
    [(headers, body)] = deliver()
    verifier.verify(headers, body)

    now[0] += 31 * 86400
    refused = rejection(verifier, headers, body)

    assert "the signing certificate is valid from" in refused.detail
    assert certificate_fetches(sandbox) == [CERT_PATH, CERT_PATH]


def test_a_failed_certificate_fetch_is_not_cached(sandbox, verifier, deliver):
    sandbox.add_fault("status", service="cert", status=503)
    [(headers, body)] = deliver()

    refused = rejection(verifier, headers, body)
    event = verifier.verify(headers, body)

    assert refused.status == 401
    assert "answered 503" in refused.detail
    assert event.event_name == RELATIONSHIP_ACCEPTED
    assert certificate_fetches(sandbox) == [CERT_PATH, CERT_PATH]


def test_a_certificate_host_that_does_not_answer_in_time_is_refused(sandbox, settings, deliver):
    verifier = WebhookVerifier(
        settings.webhook_cert_hosts, settings.webhook_trust_roots, fetch_timeout=(2.0, 0.3)
    )
    sandbox.add_fault("delay", service="cert", delay_s=1.5)
    [(headers, body)] = deliver()

    started = time.monotonic()
    refused = rejection(verifier, headers, body)

    assert refused.status == 401
    assert "could not be fetched" in refused.detail
    assert time.monotonic() - started < 1.5
    while not certificate_fetches(sandbox):  # the sandbox finishes the slow answer; let it, before reset
        time.sleep(0.05)


def test_the_default_trust_is_the_public_roots_not_the_sandbox_ca(settings, deliver):
    verifier = WebhookVerifier(settings.webhook_cert_hosts, None)
    [(headers, body)] = deliver()

    refused = rejection(verifier, headers, body)

    assert refused.status == 401
    assert "does not chain" in refused.detail


def test_malformed_json_in_a_signed_delivery_is_a_bad_request(verifier, deliver):
    [(headers, body)] = deliver(raw_body='{"EventName": "test-created", ')

    refused = rejection(verifier, headers, body)

    assert refused.status == 400
    assert refused.title == "Malformed webhook event"


def test_a_signed_event_without_its_change_date_is_a_bad_request(verifier, deliver):
    event = {"EventName": RELATIONSHIP_ACCEPTED, "ResourceUri": "https://x.invalid/v1/customers/1"}
    [(headers, body)] = deliver(raw_body=json.dumps(event))

    refused = rejection(verifier, headers, body)

    assert refused.status == 400
    assert "ResourceChangeUtcDate is missing" in refused.detail


def test_an_oversized_body_is_refused_before_anything_is_fetched(sandbox, verifier, deliver):
    padding = "x" * (64 * 1024)
    [(headers, body)] = deliver(raw_body=json.dumps({"EventName": TEST_CREATED, "Padding": padding}))

    refused = rejection(verifier, headers, body)

    assert refused.status == 413
    assert str(len(body)) in refused.detail
    assert certificate_fetches(sandbox) == []


def test_header_names_match_whatever_their_case(verifier, deliver):
    [(headers, body)] = deliver()

    shouted = {name.upper(): value for name, value in headers.items()}

    assert verifier.verify(shouted, body).event_name == RELATIONSHIP_ACCEPTED


def test_the_signature_may_come_in_x_ms_signature(verifier, deliver):
    """Where the registration sets SignatureTokenToMsSignatureHeader, Authorization may carry other things."""
    [(headers, body)] = deliver()
    moved = {**headers, "x-ms-signature": headers["authorization"], "authorization": "Bearer something-else"}

    assert verifier.verify(moved, body).event_name == RELATIONSHIP_ACCEPTED


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"authorization": None}, "no Authorization"),
        ({"authorization": "Bearer abc"}, "scheme"),
        ({"authorization": "Signature not*base64"}, "not base64"),
        ({"x-ms-signature-algorithm": "rsa-sha1"}, "rsa-sha256"),
        ({"x-ms-signature-algorithm": None}, "rsa-sha256"),
        ({"x-ms-certificate-url": None}, "missing"),
        ({"x-ms-certificate-url": "http://{host}/cert/c.cer"}, "must be https"),
        ({"x-ms-certificate-url": "https://user@{host}/cert/c.cer"}, "plain host"),
        ({"x-ms-certificate-url": "https://{host}@evil.invalid/cert/c.cer"}, "plain host"),
        ({"x-ms-certificate-url": "https://evil.invalid#@{host}/cert/c.cer"}, "not in WEBHOOK_CERT_HOSTS"),
        (
            {"x-ms-certificate-url": "https://{hostname}.evil.invalid:{port}/cert/c.cer"},
            "not in WEBHOOK_CERT_HOSTS",
        ),
        ({"x-ms-certificate-url": "https://[::1]/cert/c.cer"}, "plain host"),
        ({"x-ms-certificate-url": "https://2130706433:{port}/cert/c.cer"}, "not in WEBHOOK_CERT_HOSTS"),
        ({"x-ms-certificate-url": "https://0x7f.0.0.1:{port}/cert/c.cer"}, "not in WEBHOOK_CERT_HOSTS"),
        ({"x-ms-certificate-url": "https://127.1:{port}/cert/c.cer"}, "not in WEBHOOK_CERT_HOSTS"),
        ({"x-ms-certificate-url": "https://[::ffff:127.0.0.1]:{port}/cert/c.cer"}, "plain host"),
        ({"x-ms-certificate-url": "https://{host}/cert/\nc.cer"}, "not a plain URL"),
    ],
)
def test_a_delivery_with_a_bad_header_is_refused_without_fetching(sandbox, verifier, deliver, change, why):
    [(headers, body)] = deliver()
    host = sandbox.webhook_cert_hosts
    changed = dict(headers)
    for name, value in change.items():
        if value is None:
            del changed[name]
        else:
            hostname, _, port = host.rpartition(":")
            changed[name] = value.format(host=host, hostname=hostname, port=port)

    refused = rejection(verifier, changed, body)

    assert refused.status == 401
    assert why in refused.detail
    assert certificate_fetches(sandbox) == []


def test_a_certificate_url_the_allowed_host_does_not_serve_is_refused(sandbox, verifier, deliver):
    [(headers, body)] = deliver()
    missing = {**headers, "x-ms-certificate-url": f"https://{sandbox.webhook_cert_hosts}/cert/other.cer"}

    refused = rejection(verifier, missing, body)

    assert refused.status == 401
    assert "answered 404" in refused.detail


def test_a_redelivered_event_keeps_its_delivery_key_and_an_older_change_gets_another(verifier, deliver):
    first, again = (verifier.verify(h, b) for h, b in deliver("duplicate"))
    newer, older = (verifier.verify(h, b) for h, b in deliver("out-of-order"))

    assert first.delivery_key == again.delivery_key
    assert newer.delivery_key != older.delivery_key
    assert newer.changed_at > older.changed_at
