"""Identity-based storage: the store asks the managed identity endpoint for a token with the
configured client id and presents it to the table service URI (Azurite cannot do Table OAuth,
so a small HTTPS table endpoint on loopback stands in and records what it receives)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.settings import Settings
from shared.store.repository import TransferStore

CLIENT_ID = "0a1b2c3d-0000-4000-8000-00000000abcd"


class Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]]
    answer: dict[str, Any]

    def do_GET(self) -> None:
        self.seen.append({"path": self.path, "headers": dict(self.headers)})
        body = json.dumps(self.answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json;odata=minimalmetadata")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return


def serve(answer: dict[str, Any], tls: ssl.SSLContext | None = None) -> tuple[ThreadingHTTPServer, list[Any]]:
    seen: list[dict[str, Any]] = []
    handler = type("Handler", (Recorder,), {"seen": seen, "answer": answer})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


@dataclass(frozen=True)
class LoopbackTls:
    context: ssl.SSLContext
    ca_bundle: str


@pytest.fixture
def loopback_tls(tmp_path: Path) -> LoopbackTls:
    """A self-signed certificate for 127.0.0.1, trusted by pointing REQUESTS_CA_BUNDLE at it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return LoopbackTls(context, str(cert_file))


@pytest.fixture
def identity_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    expires = int(dt.datetime.now(dt.UTC).timestamp()) + 3600
    server, seen = serve(
        {
            "access_token": "token-from-the-managed-identity",
            "expires_on": str(expires),
            "resource": "https://storage.azure.com",
            "token_type": "Bearer",
        }
    )
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{server.server_port}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "local-identity-header")
    yield seen
    server.shutdown()


def test_identity_based_store_presents_the_managed_identity_token_for_its_client_id(
    loopback_tls: LoopbackTls, identity_endpoint: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    tables, table_requests = serve({"value": []}, loopback_tls.context)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", loopback_tls.ca_bundle)
    settings = Settings(
        {
            "AzureWebJobsStorage__tableServiceUri": f"https://127.0.0.1:{tables.server_port}/account",
            "AzureWebJobsStorage__queueServiceUri": f"https://127.0.0.1:{tables.server_port}/account",
            "AzureWebJobsStorage__credential": "managedidentity",
            "AzureWebJobsStorage__clientId": CLIENT_ID,
        }
    )

    page = TransferStore.connect(settings.storage).list_transfers(page_size=10)
    tables.shutdown()

    assert page.items == ()
    token_query = parse_qs(urlsplit(identity_endpoint[0]["path"]).query)
    assert token_query["client_id"] == [CLIENT_ID]
    assert token_query["resource"] == ["https://storage.azure.com"]
    assert table_requests[0]["path"].startswith("/account/transfers()")
    assert table_requests[0]["headers"]["Authorization"] == "Bearer token-from-the-managed-identity"
