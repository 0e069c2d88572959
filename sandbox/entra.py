"""Entra ID v2 endpoints at the root (msal reads the tenant from the authority's first path segment)."""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote

from .routing import Call, Reply, Router
from .scenarios import CLIENT_ID, CLIENT_SECRET
from .tokens import PARTNER_CENTER_AUDIENCE, audience_for_scope
from .world import stable_id

if TYPE_CHECKING:
    from .app import Sandbox

router = Router()
ANY_TENANT = frozenset({"common", "organizations"})
APP_ROLES = {
    PARTNER_CENTER_AUDIENCE: ("user_impersonation",),
}
GRAPH_APP_ROLES = ("Directory.Read.All", "LicenseAssignment.ReadWrite.All", "Organization.Read.All")


def _aad_error(status: int, error: str, code: int, description: str) -> Reply:
    return Reply(
        status,
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}",
            "error_codes": [code],
            "timestamp": "",
            "trace_id": stable_id("trace", description),
            "correlation_id": stable_id("correlation", description),
        },
    )


def _known(sb: Sandbox, tenant: str) -> bool:
    return tenant.lower() in sb.world.tenants


@router.route("GET", "/{tenant}/v2.0/.well-known/openid-configuration")
def openid_configuration(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = p["tenant"]
    if not _known(sb, tenant) and tenant.lower() not in ANY_TENANT:
        return _aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
    base = f"{sb.endpoints.base_url}/{tenant}"
    return Reply(
        200,
        {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": sb.tokens.issuer(tenant),
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
        },
    )


@router.route("GET", "/{tenant}/discovery/v2.0/keys")
def keys(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return Reply(200, sb.tokens.jwks())


def _client(call: Call, form: dict[str, str]) -> tuple[str, str]:
    auth = call.headers.get("Authorization", "")
    if auth.lower().startswith("basic "):
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        return unquote(user), unquote(password)
    return form.get("client_id", ""), form.get("client_secret", "")


@router.route("POST", "/{tenant}/oauth2/v2.0/token")
def token(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = p["tenant"].lower()
    form = {k: v[0] for k, v in parse_qs(call.body.decode()).items()}
    if not _known(sb, tenant):
        return _aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
    client_id, secret = _client(call, form)
    if client_id != CLIENT_ID:
        return _aad_error(
            400, "unauthorized_client", 700016, f"Application with identifier '{client_id}' was not found."
        )
    if secret != CLIENT_SECRET:
        return _aad_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
    scopes = form.get("scope", "").split()
    audience = next((a for a in map(audience_for_scope, scopes) if a), None)
    if audience is None:
        return _aad_error(
            400, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid."
        )
    lifetime = int(sb.knobs["token_lifetime_s"])
    grant = form.get("grant_type")
    body: dict[str, object] = {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime}
    if grant == "client_credentials":
        roles = APP_ROLES.get(audience, GRAPH_APP_ROLES)
        body["access_token"] = sb.tokens.issue(
            tenant_id=tenant, audience=audience, app_id=client_id, lifetime_s=lifetime, roles=roles
        )
    elif grant == "refresh_token":
        if form.get("refresh_token") not in sb.refresh_tokens:
            return _aad_error(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
        scp = "user_impersonation" if audience == PARTNER_CENTER_AUDIENCE else "Directory.AccessAsUser.All"
        body["access_token"] = sb.tokens.issue(
            tenant_id=tenant,
            audience=audience,
            app_id=client_id,
            lifetime_s=lifetime,
            scp=scp,
            user_id=stable_id("partner-admin", sb.world.partner_tenant_id),
        )
        rotated = "0.sandbox-refresh-token." + secrets.token_urlsafe(24)
        sb.refresh_tokens.add(rotated)
        body["refresh_token"] = rotated
        body["scope"] = f"{audience}/{scp}"
    else:
        return _aad_error(400, "unsupported_grant_type", 70003, f"The grant type '{grant}' is not supported.")
    body.setdefault("scope", f"{audience}/.default")
    return Reply(200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})
