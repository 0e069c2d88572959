"""Certificates the sandbox does not serve: chains through an issuing CA (as Microsoft's is), PEM
bundles, the wrong issuer or name, an EC key, junk and oversized answers. Served over real HTTPS
from a loopback host with a PKI built here."""

from __future__ import annotations

import base64
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from sandbox.pki import SIGNER_NAME, issue_certificate
from shared.api.webhooks import SIGNER_NAME as SIGNER_DNS_NAME
from shared.api.webhooks import WebhookRejectedError, WebhookVerifier
from shared.clients.http import make_session
from shared.resources.webhook_events import TEST_CREATED

BODY = json.dumps(
    {"EventName": TEST_CREATED, "ResourceChangeUtcDate": "2026-01-02T03:04:05.1234567+00:00"}
).encode()


def name(organisation: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class Pki:
    root: x509.Certificate
    microsoft_ca: x509.Certificate
    other_ca: x509.Certificate
    signer_key: rsa.RSAPrivateKey
    signer: x509.Certificate
    """Issued by the Microsoft-named CA, which the root issued: root → issuing CA → signer."""
    signer_from_other_ca: x509.Certificate
    signer_with_other_name: x509.Certificate
    ec_signer: x509.Certificate
    root_file: Path
    tls_cert_file: Path
    tls_key_file: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root_name, microsoft_name, other_name = (
        name("Test Roots", "Test Root"),
        name("Microsoft Corporation", "Test Issuing CA"),
        name("Somebody Else", "Other Issuing CA"),
    )
    root_key, microsoft_key, other_key, tls_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(4))
    root = issue_certificate(root_name, root_key, root_name, root_key, ca=True)
    signer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer_san: list[x509.GeneralName] = [x509.DNSName(SIGNER_DNS_NAME)]

    def signer(issuer: x509.Name, issuer_key: Any, subject: x509.Name = SIGNER_NAME, key: Any = signer_key):
        return issue_certificate(subject, key, issuer, issuer_key, ca=False, sans=signer_san)

    directory = tmp_path_factory.mktemp("pki")
    tls_host: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    tls = issue_certificate(name("Test", "127.0.0.1"), tls_key, root_name, root_key, ca=False, sans=tls_host)
    (directory / "root.pem").write_bytes(pem(root))
    (directory / "tls.pem").write_bytes(pem(tls))
    (directory / "tls-key.pem").write_bytes(
        tls_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Pki(
        root=root,
        microsoft_ca=issue_certificate(microsoft_name, microsoft_key, root_name, root_key, ca=True),
        other_ca=issue_certificate(other_name, other_key, root_name, root_key, ca=True),
        signer_key=signer_key,
        signer=signer(microsoft_name, microsoft_key),
        signer_from_other_ca=signer(other_name, other_key),
        signer_with_other_name=issue_certificate(
            name("Microsoft Corporation", "someone-else.example"),
            signer_key,
            microsoft_name,
            microsoft_key,
            ca=False,
            sans=[x509.DNSName("someone-else.example")],
        ),
        ec_signer=signer(microsoft_name, microsoft_key, key=ec.generate_private_key(ec.SECP256R1())),
        root_file=directory / "root.pem",
        tls_cert_file=directory / "tls.pem",
        tls_key_file=directory / "tls-key.pem",
    )


class CertificateHost:
    """An HTTPS server on loopback answering every GET with ``content``; with ``drip`` set to
    ("headers" or "body", seconds), that part of the answer goes out one byte at a time."""

    def __init__(self, pki: Pki) -> None:
        self.content = b""
        self.drip: tuple[str, float] | None = None
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(host.content)}\r\n\r\n".encode()
                part, every_s = host.drip or ("", 0.0)
                before, slow, after = {
                    "headers": (b"", head, host.content),
                    "body": (head, host.content, b""),
                }.get(part, (head + host.content, b"", b""))
                try:
                    self.wfile.write(before)
                    for byte in slow:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(every_s)
                    self.wfile.write(after)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    return  # the verifier stopped reading: that is the point of some tests

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki.tls_cert_file, pki.tls_key_file)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.netloc = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture
def host(pki: Pki) -> Iterator[CertificateHost]:
    found = CertificateHost(pki)
    yield found
    found.server.shutdown()
    found.server.server_close()


def verify(
    pki: Pki, host: CertificateHost, trusted: list[x509.Certificate], tmp_path: Path, **options: Any
) -> Any:
    bundle = tmp_path / "trust.pem"
    bundle.write_bytes(pem(*trusted))
    verifier = WebhookVerifier([host.netloc], bundle, session=make_session(str(pki.root_file)), **options)
    signature = pki.signer_key.sign(BODY, padding.PKCS1v15(), hashes.SHA256())
    headers = {
        "Authorization": "Signature " + base64.b64encode(signature).decode(),
        "X-MS-Certificate-Url": f"https://{host.netloc}/cert/{SIGNER_DNS_NAME}.cer",
        "X-MS-Signature-Algorithm": "rsa-sha256",
    }
    return verifier.verify(headers, BODY)


def refusal(
    pki: Pki, host: CertificateHost, trusted: list[x509.Certificate], tmp_path: Path, **options: Any
) -> str:
    with pytest.raises(WebhookRejectedError) as caught:
        verify(pki, host, trusted, tmp_path, **options)
    assert caught.value.status == 401
    return caught.value.detail


def test_a_pem_chain_from_the_certificate_url_verifies_against_the_root_alone(pki, host, tmp_path):
    host.content = pem(pki.signer, pki.microsoft_ca)

    assert verify(pki, host, [pki.root], tmp_path).event_name == TEST_CREATED


def test_an_issuing_ca_in_the_trust_bundle_completes_the_chain_of_a_der_certificate(pki, host, tmp_path):
    host.content = der(pki.signer)

    assert verify(pki, host, [pki.root, pki.microsoft_ca], tmp_path).event_name == TEST_CREATED


def test_a_certificate_whose_issuing_ca_is_unknown_is_refused(pki, host, tmp_path):
    host.content = der(pki.signer)

    assert "does not chain" in refusal(pki, host, [pki.root], tmp_path)


def test_a_certificate_issued_by_a_ca_that_is_not_microsofts_is_refused(pki, host, tmp_path):
    host.content = pem(pki.signer_from_other_ca, pki.other_ca)

    assert "issuer is not O=Microsoft Corporation" in refusal(pki, host, [pki.root], tmp_path)


def test_a_microsoft_certificate_issued_to_another_name_is_refused(pki, host, tmp_path):
    host.content = pem(pki.signer_with_other_name, pki.microsoft_ca)

    assert "issued to CN='someone-else.example'" in refusal(pki, host, [pki.root], tmp_path)


def test_a_signing_certificate_without_an_rsa_key_is_refused(pki, host, tmp_path):
    host.content = pem(pki.ec_signer, pki.microsoft_ca)

    assert "not an RSA key" in refusal(pki, host, [pki.root], tmp_path)


def test_a_certificate_answer_larger_than_the_cap_is_refused(pki, host, tmp_path):
    host.content = pem(pki.signer, pki.microsoft_ca) * 64

    assert "larger than 65536 bytes" in refusal(pki, host, [pki.root], tmp_path)


@pytest.mark.parametrize("dripped", ["headers", "body"])
def test_a_host_sending_a_byte_at_a_time_is_cut_off_when_the_whole_download_takes_too_long(
    pki, host, tmp_path, dripped
):
    host.content = der(pki.signer)  # about 800 bytes: 40 s at a byte every 50 ms
    host.drip = (dripped, 0.05)  # each byte far inside the 5 s allowed for one read
    started = time.monotonic()

    detail = refusal(pki, host, [pki.root, pki.microsoft_ca], tmp_path, fetch_deadline=0.5)

    assert "took longer than 0.5 s" in detail
    assert time.monotonic() - started < 1.5


def test_an_answer_that_is_not_a_certificate_is_refused(pki, host, tmp_path):
    host.content = b"<html>Not found</html>"

    assert "did not serve a DER or PEM certificate" in refusal(pki, host, [pki.root], tmp_path)


def test_trust_roots_without_a_self_signed_root_are_a_configuration_error(pki, tmp_path):
    bundle = tmp_path / "intermediate-only.pem"
    bundle.write_bytes(pem(pki.microsoft_ca))

    with pytest.raises(ValueError, match="no self-signed root"):
        WebhookVerifier(["127.0.0.1"], bundle)
