"""``python -m ops.consent``: the secure application model's one-time consent, refresh token to Key Vault.

A partner admin (an MFA-enabled Admin agent) signs in once with the authorization-code flow
(PKCE): the script prints the sign-in URL (and opens a browser), listens on a loopback redirect
URI for Entra's answer, redeems the code with msal for Partner Center's ``user_impersonation``
(msal adds ``offline_access``, ``openid`` and ``profile`` itself, hence the refresh token) and
stores the refresh token in the Key Vault secret the app reads as ``PARTNER_REFRESH_TOKEN``.
The client secret comes from ``PARTNER_CLIENT_SECRET``; no token or secret is ever printed.
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import warnings
import webbrowser
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import msal
import requests
from azure.core.credentials import TokenCredential

from shared.clients.auth import DEFAULT_AUTHORITY_HOST
from shared.clients.http import make_session

PARTNER_CENTER_USER_SCOPE = "https://api.partnercenter.microsoft.com/user_impersonation"
DEFAULT_PORT = 8400
"""The redirect URI ``http://localhost:8400/`` must be registered on the app (Web platform)."""
SECRET_VARIABLE = "PARTNER_CLIENT_SECRET"  # noqa: S105 - the setting's name, not a secret


class ConsentError(RuntimeError):
    """The admin did not consent, or Entra would not redeem the code; the message says which."""


class _Redirects(HTTPServer):
    answers: queue.Queue[dict[str, str]]


class _RedirectHandler(BaseHTTPRequestHandler):
    server: _Redirects

    def do_GET(self) -> None:
        answer = dict(parse_qsl(urlsplit(self.path).query))
        if "code" not in answer and "error" not in answer:  # a browser's favicon, a stray probe
            self.send_error(404)
            return
        self.server.answers.put(answer)
        page = b"<!doctype html><title>Consent</title><p>Signed in. You can close this window."
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, format: str, *args: Any) -> None:
        """The request line holds the authorization code: never log it."""


@contextmanager
def loopback_redirect(port: int = DEFAULT_PORT) -> Iterator[tuple[str, Callable[[float], dict[str, str]]]]:
    """A one-shot listener for Entra's redirect: its redirect URI, and a wait for the answer's query."""
    server = _Redirects(("127.0.0.1", port), _RedirectHandler)
    server.answers = queue.Queue()
    thread = threading.Thread(target=server.serve_forever, name="consent-redirect", daemon=True)
    thread.start()

    def wait(timeout_s: float) -> dict[str, str]:
        try:
            return server.answers.get(timeout=timeout_s)
        except queue.Empty:
            raise ConsentError(f"no sign-in came back within {timeout_s:.0f} s") from None

    try:
        yield f"http://localhost:{server.server_address[1]}/", wait
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def obtain_refresh_token(
    app: msal.ConfidentialClientApplication,
    *,
    open_uri: Callable[[str], None],
    port: int = DEFAULT_PORT,
    timeout_s: float = 300.0,
) -> str:
    """Run the authorization-code flow for one admin sign-in; the refresh token it yields."""
    with loopback_redirect(port) as (redirect_uri, wait):
        with warnings.catch_warnings():
            # msal recommends form_post against codes leaking through a browser's history and
            # logs; here the code goes to a loopback listener that logs nothing, is bound to this
            # flow's PKCE verifier and is spent at once, and a query is what the listener reads.
            warnings.filterwarnings("ignore", "response_mode='form_post'", UserWarning)
            flow = app.initiate_auth_code_flow([PARTNER_CENTER_USER_SCOPE], redirect_uri=redirect_uri)
        open_uri(flow["auth_uri"])
        answer = wait(timeout_s)
    result = app.acquire_token_by_auth_code_flow(flow, answer)
    if "refresh_token" not in result:
        error = result.get("error") or "no_refresh_token"
        raise ConsentError(f"{error}: {result.get('error_description') or 'Entra gave no refresh token'}")
    return str(result["refresh_token"])


def consent_app(
    tenant: str,
    client_id: str,
    client_secret: str,
    *,
    authority_host: str = DEFAULT_AUTHORITY_HOST,
    session: requests.Session,
) -> msal.ConfidentialClientApplication:
    """The app registration as msal sees it, in the partner tenant (sandbox/README.md's construction)."""
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=client_secret,
        authority=f"{authority_host.rstrip('/')}/{tenant}",
        http_client=session,
        instance_discovery=False,
    )


def parse_secret_uri(secret_uri: str) -> tuple[str, str]:
    """``https://<vault>.vault.azure.net/secrets/<name>[/<version>]`` as the vault URL and the name."""
    parts = urlsplit(secret_uri)
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme != "https" or not parts.netloc or len(segments) not in (2, 3) or segments[0] != "secrets":
        raise ValueError(f"{secret_uri!r} is not a Key Vault secret URI (https://<vault>/secrets/<name>)")
    return f"https://{parts.netloc}", segments[1]


def store_refresh_token(secret_uri: str, refresh_token: str, credential: TokenCredential) -> str:
    """Write the token as a new version of the secret; returns the version's id (no value in it)."""
    from azure.keyvault.secrets import SecretClient

    vault_url, name = parse_secret_uri(secret_uri)
    with SecretClient(vault_url, credential) as client:
        secret = client.set_secret(name, refresh_token, content_type="Partner Center refresh token")
    return str(secret.id)


def browser(session: requests.Session | None = None) -> Callable[[str], None]:
    """How the sign-in URL is opened: printed for the admin and a browser, or followed by ``session``.

    Following with an HTTP client only works where no one has to type a password: a sandbox
    whose ``/authorize`` redirects at once (the tests).
    """
    if session is not None:
        return lambda uri: session.get(uri, timeout=30).raise_for_status()

    def show(uri: str) -> None:
        print(f"Sign in as the partner admin (Admin agent, with MFA) at:\n\n  {uri}\n", flush=True)
        webbrowser.open(uri)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.consent", description=__doc__)
    parser.add_argument("--tenant", default=os.environ.get("PARTNER_TENANT_ID"), help="the partner tenant id")
    parser.add_argument(
        "--client-id", default=os.environ.get("PARTNER_CLIENT_ID"), help="the app registration"
    )
    parser.add_argument("--secret-uri", required=True, help="https://<vault>.vault.azure.net/secrets/<name>")
    parser.add_argument(
        "--authority-host", default=os.environ.get("AUTHORITY_HOST") or DEFAULT_AUTHORITY_HOST
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="the loopback redirect URI's port")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the sign-in")
    parser.add_argument(
        "--follow",
        action="store_true",
        help="follow the sign-in URL with an HTTP client instead of a browser (sandboxes only)",
    )
    args = parser.parse_args(argv)
    secret = os.environ.get(SECRET_VARIABLE)
    if not (args.tenant and args.client_id and secret):
        parser.error(f"--tenant, --client-id and ${SECRET_VARIABLE} are required")
    try:
        parse_secret_uri(args.secret_uri)
    except ValueError as error:
        parser.error(str(error))
    session = make_session()
    app = consent_app(
        args.tenant, args.client_id, secret, authority_host=args.authority_host, session=session
    )
    try:
        refresh_token = obtain_refresh_token(
            app, open_uri=browser(session if args.follow else None), port=args.port, timeout_s=args.timeout
        )
    except (ConsentError, requests.RequestException, ValueError) as error:
        print(f"error: consent failed: {error}", file=sys.stderr)
        return 1
    from azure.identity import DefaultAzureCredential

    with DefaultAzureCredential() as credential:
        version = store_refresh_token(args.secret_uri, refresh_token, credential)
    print(f"Stored the refresh token as {version}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
