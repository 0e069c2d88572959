"""The SKU reference download over real sockets: https only, redirects included."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sandbox.pki import create_pki
from shared.catalog.reference import SkuReferenceError
from shared.workflow.sources import read_location

TABLE = b"Product_Display_Name,String_Id,GUID,Service_Plan_Name,Service_Plan_Id\n"


class Server:
    """One loopback server answering every path from ``routes`` (status, Location or body)."""

    def __init__(self, context: ssl.SSLContext | None) -> None:
        self.routes: dict[str, tuple[int, str]] = {}
        self.hits: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits.append(self.path)
                status, value = owner.routes.get(self.path, (404, ""))
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = value.encode()
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if context is not None:
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if context else "http"
        self.base = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Server, Server]]:
    ca, cert, key = create_pki().write(tmp_path / "pki")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    secure, plain = Server(context), Server(None)
    yield secure, plain
    secure.close()
    plain.close()


def test_download_follows_an_https_redirect(servers: tuple[Server, Server]) -> None:
    secure, _ = servers
    secure.routes = {"/old.csv": (302, "/new.csv"), "/new.csv": (200, TABLE.decode())}

    assert read_location(f"{secure.base}/old.csv", timeout=5) == TABLE


def test_download_refuses_a_redirect_to_plain_http_without_calling_it(servers: tuple[Server, Server]) -> None:
    secure, plain = servers
    plain.routes = {"/sku.csv": (200, TABLE.decode())}
    secure.routes = {"/sku.csv": (301, f"{plain.base}/sku.csv")}

    with pytest.raises(SkuReferenceError, match="redirected away from https"):
        read_location(f"{secure.base}/sku.csv", timeout=5)
    assert plain.hits == []


def test_download_stops_after_too_many_redirects(servers: tuple[Server, Server]) -> None:
    secure, _ = servers
    secure.routes = {"/loop.csv": (302, "/loop.csv")}

    with pytest.raises(SkuReferenceError, match="redirected more than 5 times"):
        read_location(f"{secure.base}/loop.csv", timeout=5)
    assert len(secure.hits) == 6
