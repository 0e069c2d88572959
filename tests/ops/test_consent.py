"""``python -m ops.consent`` against the sandbox's Entra: the sign-in followed by an HTTP client."""

from __future__ import annotations

import pytest

from ops.consent import (
    ConsentError,
    browser,
    consent_app,
    loopback_redirect,
    obtain_refresh_token,
    parse_secret_uri,
)
from sandbox.testing import SandboxHandle
from shared.clients.auth import PartnerCredential
from shared.clients.http import make_session
from shared.clients.partner_center import PartnerCenterClient


def test_the_consented_refresh_token_gets_app_user_tokens_for_partner_center(sandbox: SandboxHandle) -> None:
    session = make_session(sandbox.ca_bundle)
    app = consent_app(
        sandbox.partner_tenant_id,
        sandbox.client_id,
        sandbox.client_secret,
        authority_host=sandbox.authority_host,
        session=session,
    )

    refresh_token = obtain_refresh_token(app, open_uri=browser(session), port=0, timeout_s=30)

    assert refresh_token != sandbox.refresh_token
    credential = PartnerCredential(
        tenant_id=sandbox.partner_tenant_id,
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        refresh_token=refresh_token,
        authority_host=sandbox.authority_host,
        session=make_session(sandbox.ca_bundle),
    )
    client = PartnerCenterClient(sandbox.partner_center_endpoint, credential, verify=sandbox.ca_bundle)
    try:
        # An App + User only operation: Partner Center refuses it to app-only tokens.
        assert client.get_relationship_request_url().startswith("https://")
    finally:
        client.close()


def test_a_sign_in_that_never_comes_back_fails_after_the_timeout(sandbox: SandboxHandle) -> None:
    session = make_session(sandbox.ca_bundle)
    app = consent_app(
        sandbox.partner_tenant_id,
        sandbox.client_id,
        sandbox.client_secret,
        authority_host=sandbox.authority_host,
        session=session,
    )
    shown: list[str] = []

    with pytest.raises(ConsentError, match="no sign-in came back"):
        obtain_refresh_token(app, open_uri=shown.append, port=0, timeout_s=0.3)

    assert shown[0].startswith(f"{sandbox.authority_host}/{sandbox.partner_tenant_id}/oauth2/v2.0/authorize?")


def test_the_redirect_listener_ignores_requests_without_an_answer() -> None:
    with loopback_redirect(0) as (redirect_uri, wait):
        session = make_session()
        assert session.get(redirect_uri + "favicon.ico", timeout=5).status_code == 404
        assert session.get(redirect_uri + "?error=access_denied&state=s", timeout=5).ok

        assert wait(5) == {"error": "access_denied", "state": "s"}


def test_a_secret_uri_names_the_vault_and_the_secret() -> None:
    assert parse_secret_uri("https://csp-kv.vault.azure.net/secrets/partner-refresh-token") == (
        "https://csp-kv.vault.azure.net",
        "partner-refresh-token",
    )
    assert parse_secret_uri("https://csp-kv.vault.azure.net/secrets/rt/0123abcd")[1] == "rt"
    for wrong in ("http://csp-kv.vault.azure.net/secrets/rt", "https://csp-kv.vault.azure.net/keys/rt"):
        with pytest.raises(ValueError, match="not a Key Vault secret URI"):
            parse_secret_uri(wrong)
