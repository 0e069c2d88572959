"""The sandbox's own certificate authority, TLS certificate and webhook signing certificate.

Everything is generated at start so no key ever lives in the repository. The CA's subject carries
``O=Microsoft Corporation`` because Partner Center's documented receiver checks that the signing
certificate's *issuer* names Microsoft; the OU says plainly that it is a local sandbox.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

WEBHOOK_SIGNER_NAME = "pcnotifications-dispatch.microsoft.com"
CA_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Microsoft Corporation"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Local CSP transfer sandbox (not Microsoft)"),
        x509.NameAttribute(NameOID.COMMON_NAME, "CSP Transfer Sandbox Root CA"),
    ]
)
SIGNER_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Microsoft Corporation"),
        x509.NameAttribute(NameOID.COMMON_NAME, WEBHOOK_SIGNER_NAME),
    ]
)

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def issue_certificate(
    subject: x509.Name,
    key: PrivateKey,
    issuer: x509.Name,
    issuer_key: PrivateKey,
    *,
    ca: bool,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    """A certificate valid from an hour ago for 30 days; tests use it to build chains of their own."""
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        ).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass(frozen=True, slots=True)
class WebhookSigner:
    """An RSA key and the certificate a receiver downloads to check the signature."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    def sign(self, body: bytes) -> bytes:
        """RSA PKCS#1 v1.5 with SHA-256 over the raw body, as Partner Center's receiver sample verifies."""
        return self.key.sign(body, padding.PKCS1v15(), hashes.SHA256())

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True, slots=True)
class Pki:
    ca_certificate: x509.Certificate
    server_certificate: x509.Certificate
    server_key: PrivateKey
    signer: WebhookSigner
    untrusted_signer: WebhookSigner
    """Same subject as ``signer`` but self-signed: it must fail a receiver's chain check."""
    forger: rsa.RSAPrivateKey
    """A key unrelated to any served certificate: its signatures must fail verification."""

    @property
    def ca_pem(self) -> bytes:
        return _pem(self.ca_certificate)

    def write(self, directory: Path) -> tuple[Path, Path, Path]:
        """Write the CA bundle and the server chain/key; return (ca, server cert, server key) paths."""
        directory.mkdir(parents=True, exist_ok=True)
        ca = directory / "ca.pem"
        ca.write_bytes(self.ca_pem)
        cert = directory / "server.pem"
        cert.write_bytes(_pem(self.server_certificate) + self.ca_pem)
        key = directory / "server-key.pem"
        key.write_bytes(_key_pem(self.server_key))
        key.chmod(0o600)
        (directory / f"{WEBHOOK_SIGNER_NAME}.cer").write_bytes(self.signer.der)
        return ca, cert, key


def create_pki(hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Pki:
    """A fresh CA (EC P-256, fast TLS) issuing the server certificate and the RSA webhook signer."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = issue_certificate(CA_NAME, ca_key, CA_NAME, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    server_cert = issue_certificate(server_name, server_key, CA_NAME, ca_key, ca=False, sans=sans)
    signer_sans: list[x509.GeneralName] = [x509.DNSName(WEBHOOK_SIGNER_NAME)]
    signer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer_cert = issue_certificate(SIGNER_NAME, signer_key, CA_NAME, ca_key, ca=False, sans=signer_sans)
    rogue_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rogue_cert = issue_certificate(SIGNER_NAME, rogue_key, SIGNER_NAME, rogue_key, ca=False, sans=signer_sans)
    return Pki(
        ca_certificate=ca_cert,
        server_certificate=server_cert,
        server_key=server_key,
        signer=WebhookSigner(signer_key, signer_cert),
        untrusted_signer=WebhookSigner(rogue_key, rogue_cert),
        forger=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )
