"""Entra ID v2 endpoints at the root (msal reads the tenant from the authority's first path segment)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, unquote, urlencode

from .routing import Call, Reply, Router
from .scenarios import CLIENT_ID, CLIENT_SECRET
from .state import AuthorizationCode, Sandbox
from .tokens import PARTNER_CENTER_AUDIENCE, audience_for_scope
from .webhooks import is_loopback
from .world import partner_admin_id, stable_id

router: Router[Sandbox] = Router()
ANY_TENANT = frozenset({"common", "organizations"})
APP_ROLES = {
    PARTNER_CENTER_AUDIENCE: ("user_impersonation",),
}
GRAPH_APP_ROLES = (
    "Directory.Read.All",
    "LicenseAssignment.ReadWrite.All",
    "Organization.Read.All",
    "CrossTenantInformation.ReadBasic.All",
)
#: What the partner's app was consented for, delegated, in Graph: the admin's own directory rights and
#: the cross-tenant lookup of a customer's public name (not part of Directory.AccessAsUser.All).
GRAPH_DELEGATED_SCOPES = "Directory.AccessAsUser.All CrossTenantInformation.ReadBasic.All"


def admin_user_id(sb: Sandbox) -> str:
    """The partner tenant's admin: every sign-in and every app + user token is this user."""
    return partner_admin_id(sb.world.partner_tenant_id)


def _aad_error(status: int, error: str, code: int, description: str, suberror: str | None = None) -> Reply:
    body: dict[str, object] = {
        "error": error,
        "error_description": f"AADSTS{code}: {description}",
        "error_codes": [code],
        "timestamp": "",
        "trace_id": stable_id("trace", description),
        "correlation_id": stable_id("correlation", description),
    }
    if suberror:
        body["suberror"] = suberror
    return Reply(status, body)


def _unconsented(sb: Sandbox, tenant: str, client_id: str, grant: str | None) -> Reply | None:
    """A customer tenant gives the partner's application no token until it is consented there.

    Entra's answers: a delegated grant (refresh token, code) gets ``invalid_grant`` AADSTS65001
    "has not consented to use the application" with ``suberror: consent_required``; the
    application's own grant gets AADSTS700016, its service principal "not found in the directory".
    The consent is made through Partner Center's ``applicationconsents`` (Learn: "Acquire customer
    consent as a Control Panel Vendor", and "Granular delegated admin privileges (GDAP) and the
    secure application model": "Explicit app + user consent is required for every customer tenant").
    """
    customer = sb.world.tenants[tenant]
    if tenant == sb.world.partner_tenant_id or sb.world.has_consent(customer, client_id):
        return None
    if grant == "client_credentials":
        return _aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{customer.domain}'.",
        )
    return _aad_error(
        400,
        "invalid_grant",
        65001,
        f"The user or administrator has not consented to use the application with ID '{client_id}' "
        "named 'csp-transfer'. Send an interactive authorization request for this user and resource.",
        suberror="consent_required",
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


@router.route("GET", "/{tenant}/oauth2/v2.0/authorize")
def authorize(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """The admin signs in and consents at once: a redirect back with a code (PKCE S256 required).

    Only loopback redirect URIs are registered, as for a native or consent-script client.
    """
    tenant, query = p["tenant"].lower(), call.query
    if not _known(sb, tenant):
        return _aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
    if query.get("client_id") != CLIENT_ID:
        return _aad_error(400, "unauthorized_client", 700016, "Application was not found in the directory.")
    redirect_uri = query.get("redirect_uri", "")
    if not redirect_uri.startswith("http") or not is_loopback(redirect_uri):
        return _aad_error(
            400, "invalid_request", 50011, "The redirect URI does not match the application's redirect URIs."
        )
    if query.get("response_type") != "code":
        return _aad_error(400, "unsupported_response_type", 700054, "Only response_type=code is supported.")
    if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
        return _aad_error(400, "invalid_request", 501491, "A PKCE S256 code_challenge is required.")
    code = "0.sandbox-authorization-code." + secrets.token_urlsafe(24)
    sb.authorization_codes[code] = AuthorizationCode(tenant, redirect_uri, query["code_challenge"])
    answer = {"code": code, "state": query.get("state", ""), "session_state": stable_id("session", code)}
    separator = "&" if "?" in redirect_uri else "?"
    return Reply(302, headers={"Location": redirect_uri + separator + urlencode(answer)})


def _redeem(sb: Sandbox, tenant: str, form: dict[str, str]) -> Reply | None:
    """Spend the code (once, whatever the outcome); an error reply if it does not match."""
    grant = sb.authorization_codes.pop(form.get("code", ""), None)
    verifier = form.get("code_verifier", "").encode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
    if grant is None or grant.tenant != tenant or grant.redirect_uri != form.get("redirect_uri"):
        return _aad_error(400, "invalid_grant", 70000, "The provided authorization code is invalid or used.")
    if challenge != grant.code_challenge:
        return _aad_error(400, "invalid_grant", 501481, "The code_verifier does not match the challenge.")
    return None


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
    if grant in ("client_credentials", "refresh_token", "authorization_code"):
        refused = _redeem(sb, tenant, form) if grant == "authorization_code" else None
        if grant == "refresh_token" and form.get("refresh_token") not in sb.refresh_tokens:
            refused = _aad_error(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
        if refused is None and audience != PARTNER_CENTER_AUDIENCE:
            refused = _unconsented(sb, tenant, client_id, grant)
        if refused is not None:
            return refused
    if grant == "client_credentials":
        roles = APP_ROLES.get(audience, GRAPH_APP_ROLES)
        body["access_token"] = sb.tokens.issue(
            tenant_id=tenant, audience=audience, app_id=client_id, lifetime_s=lifetime, roles=roles
        )
    elif grant in ("refresh_token", "authorization_code"):
        scp = "user_impersonation" if audience == PARTNER_CENTER_AUDIENCE else GRAPH_DELEGATED_SCOPES
        body["access_token"] = sb.tokens.issue(
            tenant_id=tenant,
            audience=audience,
            app_id=client_id,
            lifetime_s=lifetime,
            scp=scp,
            user_id=admin_user_id(sb),
        )
        if grant == "refresh_token" or "offline_access" in scopes:  # Entra's rule for a code
            rotated = "0.sandbox-refresh-token." + secrets.token_urlsafe(24)
            sb.refresh_tokens.add(rotated)
            body["refresh_token"] = rotated
        body["scope"] = " ".join(f"{audience}/{name}" for name in scp.split())
    else:
        return _aad_error(400, "unsupported_grant_type", 70003, f"The grant type '{grant}' is not supported.")
    body.setdefault("scope", f"{audience}/.default")
    return Reply(200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})
