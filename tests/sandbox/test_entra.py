"""Entra: msal gets tokens for both grants; the APIs refuse bad tokens the way Microsoft does."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import msal
import pytest

from sandbox.testing import SandboxHandle
from tests.sandbox.conftest import GRAPH_SCOPE, PC_SCOPE, Api

pytestmark = pytest.mark.scenario("default", access="granted")  # not about access: it is pre-granted


def _msal_app(sb: SandboxHandle, tenant: str) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        sb.client_id,
        client_credential=sb.client_secret,
        authority=f"{sb.authority_host}/{tenant}",
        http_client=sb.http_session(),
        instance_discovery=False,
    )


def _claims(sb: SandboxHandle, token: str, audience: str) -> dict[str, Any]:
    keys = sb.http_session().get(f"{sb.authority_host}/{sb.partner_tenant_id}/discovery/v2.0/keys").json()
    key = jwt.PyJWKSet.from_dict(keys).keys[0].key
    return jwt.decode(token, key, algorithms=["RS256"], audience=audience)


def test_msal_client_credentials_gets_an_app_only_partner_center_token(sandbox):
    result = _msal_app(sandbox, sandbox.partner_tenant_id).acquire_token_for_client(scopes=[PC_SCOPE])

    claims = _claims(sandbox, result["access_token"], "https://api.partnercenter.microsoft.com")
    assert claims["tid"] == sandbox.partner_tenant_id
    assert claims["appid"] == sandbox.client_id
    assert "scp" not in claims
    assert isinstance(claims["roles"], list)
    assert claims["exp"] > claims["iat"]


def test_msal_refresh_token_gets_a_delegated_graph_token_in_the_customer_tenant(sandbox):
    customer = sandbox.customer("contoso")
    result = _msal_app(sandbox, customer).acquire_token_by_refresh_token(
        sandbox.refresh_token, scopes=[GRAPH_SCOPE]
    )

    claims = _claims(sandbox, result["access_token"], "https://graph.microsoft.com")
    assert claims["tid"] == customer
    assert claims["scp"]
    assert result["refresh_token"] != sandbox.refresh_token


def test_rotated_refresh_token_is_accepted_again(sandbox):
    app = _msal_app(sandbox, sandbox.partner_tenant_id)
    rotated = app.acquire_token_by_refresh_token(sandbox.refresh_token, scopes=[PC_SCOPE])["refresh_token"]

    assert "access_token" in app.acquire_token_by_refresh_token(rotated, scopes=[PC_SCOPE])


def test_wrong_client_secret_is_refused_with_an_aadsts_error(sandbox):
    app = msal.ConfidentialClientApplication(
        sandbox.client_id,
        client_credential="wrong",
        authority=f"{sandbox.authority_host}/{sandbox.partner_tenant_id}",
        http_client=sandbox.http_session(),
        instance_discovery=False,
    )
    result = app.acquire_token_for_client(scopes=[PC_SCOPE])

    assert result["error"] == "invalid_client"
    assert 7000215 in result["error_codes"]


@pytest.mark.parametrize("case", ["missing", "expired", "wrong_audience", "wrong_tenant", "wrong_app"])
def test_partner_center_answers_401_to_a_bad_token(sandbox, case):
    tokens = {
        "missing": None,
        "expired": sandbox.mint_token(lifetime_s=-10),
        "wrong_audience": sandbox.mint_token(audience="graph"),
        "wrong_tenant": sandbox.mint_token(tenant_id=sandbox.customer("contoso")),
        "wrong_app": sandbox.mint_token(app_id="11111111-2222-3333-4444-555555555555"),
    }
    headers = {"Authorization": f"Bearer {tokens[case]}"} if tokens[case] else {}

    response = sandbox.http_session().get(f"{sandbox.partner_center_endpoint}/v1/customers", headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert set(response.json()) == {"code", "description", "data", "source"}


def test_graph_answers_401_in_graph_shape_to_an_expired_token(sandbox):
    token = sandbox.mint_token(audience="graph", tenant_id=sandbox.customer("contoso"), lifetime_s=-1)

    response = sandbox.http_session().get(
        f"{sandbox.graph_endpoint}/v1.0/subscribedSkus", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_app_user_only_operation_refuses_an_app_only_token(sandbox, api: Api):
    customer = sandbox.customer("contoso")

    refused = api.pc("GET", f"/v1/customers/{customer}/subscribedskus", app_only=True)
    allowed = api.pc("GET", f"/v1/customers/{customer}/subscribedskus")

    assert refused.status_code == 403
    assert refused.json()["code"] == 1002
    assert allowed.status_code == 200


#: msal asks for form_post; the sandbox answers in the query, which the consent script's listener reads.
query_mode = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")


def _sign_in(sb: SandboxHandle, flow: dict[str, Any]) -> dict[str, str]:
    """What the browser would bring back to the redirect URI after the admin consents."""
    answer = sb.http_session().get(flow["auth_uri"], allow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(flow["redirect_uri"])
    return dict(parse_qsl(urlsplit(location).query))


@query_mode
def test_an_authorization_code_gives_the_admin_a_user_token_and_a_refresh_token_once(sandbox):
    app = _msal_app(sandbox, sandbox.partner_tenant_id)
    user_scope = "https://api.partnercenter.microsoft.com/user_impersonation"
    flow = app.initiate_auth_code_flow([user_scope], redirect_uri="http://localhost:8400/")
    answer = _sign_in(sandbox, flow)

    result = app.acquire_token_by_auth_code_flow(dict(flow), answer)
    again = app.acquire_token_by_auth_code_flow(dict(flow), answer)

    claims = _claims(sandbox, result["access_token"], "https://api.partnercenter.microsoft.com")
    assert claims["scp"] == "user_impersonation"
    assert claims["tid"] == sandbox.partner_tenant_id
    assert result["refresh_token"] != sandbox.refresh_token
    assert again["error"] == "invalid_grant"


@query_mode
def test_an_authorization_code_without_its_pkce_verifier_is_refused(sandbox):
    app = _msal_app(sandbox, sandbox.partner_tenant_id)
    flow = app.initiate_auth_code_flow([PC_SCOPE], redirect_uri="http://127.0.0.1:8400/")
    answer = _sign_in(sandbox, flow)

    result = app.acquire_token_by_auth_code_flow({**flow, "code_verifier": "not-the-one"}, answer)

    assert result["error"] == "invalid_grant"
    assert "code_verifier" in result["error_description"]


@query_mode
def test_authorize_refuses_a_redirect_uri_off_the_machine(sandbox):
    app = _msal_app(sandbox, sandbox.partner_tenant_id)
    flow = app.initiate_auth_code_flow([PC_SCOPE], redirect_uri="https://consent.example.org/")

    answer = sandbox.http_session().get(flow["auth_uri"], allow_redirects=False)

    assert answer.status_code == 400
    assert "Location" not in answer.headers
