"""The partner's app registration as an azure-core ``TokenCredential`` over msal.

Partner Center accepts app-only tokens for most operations but insists on app + user (the
"secure application model": the consented partner admin's refresh token) for some; Graph calls
into a customer tenant need a delegated token from *that* tenant's authority, which GDAP then
authorises. One credential serves all three: the flow and the tenant are chosen per call.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from typing import Any

import msal
import requests
from azure.core.credentials import AccessToken

from .errors import TokenAcquisitionError
from .transport import make_session

PARTNER_CENTER_SCOPE = "https://api.partnercenter.microsoft.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"


class Flow(enum.StrEnum):
    """Whose authority a token carries."""

    APP_ONLY = "app_only"  # client credentials: the partner's application itself
    APP_USER = "app_user"  # the partner admin's stored refresh token, on behalf of that user


class PartnerCredential:
    """Tokens for the partner's application, cached in memory per tenant, scopes and flow.

    A token is reused until ``refresh_margin`` seconds before it expires; ``force_refresh``
    (what the bearer policy asks for after a 401) always goes back to Entra. Entra rotates the
    refresh token on every redemption, and the newest one is kept for the next.
    """

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        refresh_token: str | None = None,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        verify: bool | str | None = None,
        session: requests.Session | None = None,
        timeout: float = 30.0,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tenant_id = tenant_id
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._authority_host = authority_host.rstrip("/")
        self._session = session or make_session(verify)
        self._timeout = timeout
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._apps: dict[str, msal.ConfidentialClientApplication] = {}
        self._tokens: dict[tuple[str, tuple[str, ...], Flow], tuple[AccessToken, float]] = {}
        self._lock = threading.Lock()

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        flow: Flow = Flow.APP_USER,
        force_refresh: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """A bearer token for ``scopes`` in ``tenant_id`` (the partner's own tenant by default)."""
        tenant = tenant_id or self.tenant_id
        key = (tenant, tuple(sorted(scopes)), flow)
        with self._lock:
            cached, refresh_on = self._tokens.get(key, (None, 0.0))
            if cached and not force_refresh and refresh_on > self._clock():
                return cached
            token, lifetime = self._acquire(tenant, list(scopes), flow, force_refresh=force_refresh)
            # Renew ahead of expiry, but never sooner than halfway through a short-lived token.
            self._tokens[key] = (token, token.expires_on - min(self._refresh_margin, lifetime / 2))
            return token

    def _acquire(
        self, tenant: str, scopes: list[str], flow: Flow, *, force_refresh: bool
    ) -> tuple[AccessToken, int]:
        app = self._app(tenant)
        if flow is Flow.APP_USER:
            if not self._refresh_token:
                raise TokenAcquisitionError(
                    "no_refresh_token",
                    "the app + user flow needs the partner's stored refresh token (PARTNER_REFRESH_TOKEN)",
                    authority=self._authority(tenant),
                    correlation_id=None,
                )
            result = app.acquire_token_by_refresh_token(self._refresh_token, scopes=scopes)
        else:
            if force_refresh:
                app.remove_tokens_for_client()
            result = app.acquire_token_for_client(scopes=scopes)
        if "access_token" not in result:
            raise TokenAcquisitionError(
                str(result.get("error", "unknown_error")),
                str(result.get("error_description", "")),
                authority=self._authority(tenant),
                correlation_id=result.get("correlation_id"),
            )
        if result.get("refresh_token"):
            self._refresh_token = result["refresh_token"]
        expires_in = int(result.get("expires_in", 3600))
        return AccessToken(result["access_token"], int(self._clock()) + expires_in), expires_in

    def _app(self, tenant: str) -> msal.ConfidentialClientApplication:
        app = self._apps.get(tenant)
        if app is None:
            # instance_discovery=False: msal must not ask the public cloud whether our authority
            # host is genuine; the host comes from AUTHORITY_HOST (a sovereign cloud or the sandbox).
            app = msal.ConfidentialClientApplication(
                self._client_id,
                client_credential=self._client_secret,
                authority=self._authority(tenant),
                http_client=self._session,
                instance_discovery=False,
                timeout=self._timeout,
                token_cache=msal.TokenCache(),
            )
            self._apps[tenant] = app
        return app

    def _authority(self, tenant: str) -> str:
        return f"{self._authority_host}/{tenant}"
