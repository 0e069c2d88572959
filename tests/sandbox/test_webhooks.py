"""Webhooks: signed as Partner Center signs them, redelivered on failure, and deliberately misbehaving."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from sandbox.testing import WebhookReceiver
from tests.sandbox.conftest import Api

ACCEPTED = "reseller-relationship-accepted-by-customer"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as found:
        yield found


def _register(api: Api, url: str, events: list[str]) -> Any:
    return api.pc("POST", "/webhooks/v1/registration", json={"WebhookUrl": url, "WebhookEvents": events})


def _verify(api: Api, headers: dict[str, str], body: bytes, ca_bundle: str) -> x509.Certificate:
    """What a receiver does: fetch the certificate, check its chain and issuer, check the signature."""
    assert headers["x-ms-signature-algorithm"] == "rsa-sha256"
    scheme, signature = headers["authorization"].split(" ", 1)
    assert scheme == "Signature"
    certificate = x509.load_der_x509_certificate(api.http.get(headers["x-ms-certificate-url"]).content)
    roots = x509.load_pem_x509_certificates(Path(ca_bundle).read_bytes())
    verifier = (
        PolicyBuilder()
        .store(Store(roots))
        .build_server_verifier(x509.DNSName("pcnotifications-dispatch.microsoft.com"))
    )
    verifier.verify(certificate, [])
    key = certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(base64.b64decode(signature), body, padding.PKCS1v15(), hashes.SHA256())
    return certificate


def test_acceptance_sends_a_signed_event_that_verifies_against_the_served_certificate(
    sandbox, api: Api, receiver
):
    customer = sandbox.customer("fabrikam")
    assert _register(api, receiver.url, [ACCEPTED]).status_code == 201

    [delivery_id] = sandbox.accept_invitation(customer)["webhookDeliveries"]
    sandbox.wait_webhooks([delivery_id])

    [(headers, body)] = receiver.received
    certificate = _verify(api, headers, body, sandbox.webhook_trust_roots)
    organisation = NameOID.ORGANIZATION_NAME
    assert certificate.issuer.get_attributes_for_oid(organisation)[0].value == "Microsoft Corporation"
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "pcnotifications-dispatch.microsoft.com"
    )
    assert headers["x-ms-certificate-url"].split("/")[2] == sandbox.webhook_cert_hosts
    event = json.loads(body)
    assert event["EventName"] == ACCEPTED
    assert event["ResourceName"] == "Customer"
    assert event["ResourceUri"] == f"{sandbox.partner_center_endpoint}/v1/customers/{customer}"
    assert set(event) == {"EventName", "ResourceUri", "ResourceName", "AuditUri", "ResourceChangeUtcDate"}


def test_a_failing_receiver_gets_the_event_again_until_it_answers_2xx(sandbox, receiver):
    sandbox.set_knobs(webhook={"backoff_s": 0.01})
    receiver.statuses = [500, 503]

    [delivery] = sandbox.send_webhook(customer_id=sandbox.customer("contoso"), url=receiver.url)

    assert [a["status"] for a in delivery["attempts"]] == [500, 503, 200]
    assert delivery["delivered"] is True
    assert len({body for _, body in receiver.received}) == 1


def test_redelivery_stops_after_the_last_attempt(sandbox, receiver):
    sandbox.set_knobs(webhook={"backoff_s": 0.001})
    receiver.statuses = [500] * 20

    [delivery] = sandbox.send_webhook(customer_id=sandbox.customer("contoso"), url=receiver.url)

    assert len(delivery["attempts"]) == len(receiver.received) == 10
    assert delivery["delivered"] is False


def test_duplicate_mode_sends_the_same_bytes_twice(sandbox, receiver):
    sandbox.send_webhook(customer_id=sandbox.customer("contoso"), url=receiver.url, mode="duplicate")

    first, second = receiver.received

    assert first == second


def test_out_of_order_mode_sends_the_newer_change_first(sandbox, receiver):
    sandbox.send_webhook(
        "subscription-updated", customer_id=sandbox.customer("contoso"), url=receiver.url, mode="out-of-order"
    )

    dates = [json.loads(body)["ResourceChangeUtcDate"] for _, body in receiver.received]

    assert len(dates) == 2
    assert dates[0] > dates[1]


@pytest.mark.parametrize(
    ("mode", "failure"),
    [
        ("forged-signature", InvalidSignature),
        ("untrusted-cert", VerificationError),
    ],
)
def test_misbehaving_modes_fail_verification(sandbox, api: Api, receiver, mode, failure):
    sandbox.send_webhook(customer_id=sandbox.customer("contoso"), url=receiver.url, mode=mode)

    [(headers, body)] = receiver.received

    with pytest.raises(failure):
        _verify(api, headers, body, sandbox.webhook_trust_roots)


def test_wrong_cert_url_mode_points_outside_the_allowed_hosts(sandbox, receiver):
    sandbox.send_webhook(customer_id=sandbox.customer("contoso"), url=receiver.url, mode="wrong-cert-url")

    [(headers, _)] = receiver.received

    assert headers["x-ms-certificate-url"].split("/")[2] != sandbox.webhook_cert_hosts


def test_registration_is_created_once_then_updated(sandbox, api: Api, receiver):
    first = _register(api, receiver.url, [ACCEPTED])
    again = _register(api, receiver.url, [ACCEPTED])
    updated = api.pc(
        "PUT",
        "/webhooks/v1/registration",
        json={"WebhookUrl": receiver.url, "WebhookEvents": [ACCEPTED, "test-created"]},
    )

    assert first.status_code == 201
    assert again.status_code == 409
    assert updated.json()["WebhookEvents"] == [ACCEPTED, "test-created"]
    assert api.pc("GET", "/webhooks/v1/registration").json() == updated.json()


def test_validation_event_is_delivered_reported_and_throttled(sandbox, api: Api, receiver):
    _register(api, receiver.url, ["test-created"])

    correlation_id = api.pc("POST", "/webhooks/v1/registration/validationEvents").json()["correlationId"]
    sandbox.wait_webhooks()
    status = api.pc("GET", f"/webhooks/v1/registration/validationEvents/{correlation_id}").json()
    statuses = [api.pc("POST", "/webhooks/v1/registration/validationEvents").status_code for _ in range(2)]

    assert json.loads(receiver.received[0][1])["EventName"] == "test-created"
    assert status["status"] == "completed"
    assert status["results"][0]["responseCode"] == "OK"
    assert statuses == [200, 429]


def test_webhooks_only_go_to_loopback(sandbox, api: Api):
    response = _register(api, "https://example.invalid/hook", [ACCEPTED])

    assert response.status_code == 400


def test_redirecting_cert_url_mode_answers_a_redirect_to_the_genuine_certificate(sandbox, api: Api, receiver):
    sandbox.send_webhook(
        customer_id=sandbox.customer("contoso"), url=receiver.url, mode="redirecting-cert-url"
    )

    [(headers, body)] = receiver.received
    first = api.http.get(headers["x-ms-certificate-url"], allow_redirects=False)

    assert first.status_code == 302
    assert first.headers["Location"] == sandbox.certificate_url
    redirected = {**headers, "x-ms-certificate-url": first.headers["Location"]}
    _verify(api, redirected, body, sandbox.webhook_trust_roots)


def test_a_raw_body_is_sent_and_signed_verbatim(sandbox, api: Api, receiver):
    sandbox.send_webhook(url=receiver.url, raw_body='{"EventName": ')

    [(headers, body)] = receiver.received

    assert body == b'{"EventName": '
    _verify(api, headers, body, sandbox.webhook_trust_roots)


def test_certificate_fetches_are_in_the_ledger_and_can_be_faulted(sandbox, api: Api):
    sandbox.add_fault("status", service="cert", status=503)

    statuses = [api.http.get(sandbox.certificate_url).status_code for _ in range(2)]

    fetches = [r for r in sandbox.requests() if r["service"] == "cert"]
    assert statuses == [503, 200]
    assert [r["status"] for r in fetches] == [503, 200]
