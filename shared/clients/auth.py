"""The partner's app registration as an azure-core ``TokenCredential`` over msal.

Partner Center accepts app-only tokens for most operations but insists on app + user (the
"secure application model": the consented partner admin's refresh token) for some; Graph calls
into a customer tenant need a delegated token from *that* tenant's authority, which GDAP then
authorises. One credential serves all three: the flow and the tenant are chosen per call.

Every failure is a :class:`~shared.errors.TokenAcquisitionError` (a ``ServiceError`` of service
"Entra"), never one of msal's or requests' own exceptions; msal's requests go out with connect
and read timeouts, and one acquisition (discovery, token, retries) is bounded as a whole.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import msal
import requests
from azure.core.credentials import AccessToken

from shared.clients.calls import call_timeouts, deadline, deadline_exceeded, time_left
from shared.clients.errors import (
    RETRYABLE_STATUSES,
    DeadlineExceededError,
    TokenAcquisitionError,
    TokenRetryLaterError,
)
from shared.clients.http import make_session, parse_retry_after
from shared.clients.pipeline import ThrottleRetryPolicy

PARTNER_CENTER_SCOPE = "https://api.partnercenter.microsoft.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
ENTRA = "Entra"


class Flow(enum.StrEnum):
    """Whose authority a token carries."""

    APP_ONLY = "app_only"  # client credentials: the partner's application itself
    APP_USER = "app_user"  # the partner admin's stored refresh token, on behalf of that user


@dataclass(slots=True)
class _Exchange:
    """What msal's last request in this acquisition was and got, so a failure can say what happened."""

    url: str = ""
    discovery: bool = False
    status: int | None = None
    retry_after: float | None = None


_EXCHANGE: ContextVar[_Exchange | None] = ContextVar("entra_exchange", default=None)


class _EntraHttp:
    """The ``http_client`` msal gets: our pooled session, with timeouts on every request.

    msal ignores its own ``timeout`` when given a client, so without this each of its requests
    (the authority's discovery document, then the token) could wait forever; a 15 s delay
    with a "2 s timeout" took 30 s. Timeouts shrink to the operation's deadline.
    """

    def __init__(self, session: requests.Session, *, connect_timeout: float, read_timeout: float) -> None:
        self._session = session
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self._send("GET", url, kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self._send("POST", url, kwargs)

    def close(self) -> None:
        """The session is the credential owner's to close."""

    def _send(self, method: str, url: str, kwargs: dict[str, Any]) -> requests.Response:
        exchange = _EXCHANGE.get() or _Exchange()
        exchange.url, exchange.discovery = url, method == "GET"
        exchange.status = exchange.retry_after = None
        what = "discovery" if exchange.discovery else "token request"
        kwargs["timeout"] = call_timeouts(
            self._connect_timeout, self._read_timeout, what=f"Entra {what}", service=ENTRA
        )
        response = self._session.request(method, url, **kwargs)
        exchange.status = response.status_code
        exchange.retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return response


class _NoHttpCache(dict[str, Any]):
    """msal replays a throttled or failed token answer from its HTTP cache for a while, so a retry
    would never reach Entra; the retry policy decides instead, so nothing is kept."""

    def __setitem__(self, key: str, value: Any) -> None:
        return


@dataclass(frozen=True, slots=True)
class _Cached:
    token: AccessToken
    refresh_on: float  # wall clock: renew from then on
    stored: float  # monotonic: when it was acquired


_Key = tuple[str, tuple[str, ...], Flow]


class PartnerCredential:
    """Tokens for the partner's application, cached in memory per tenant, scopes and flow.

    A token is reused until ``refresh_margin`` seconds before it expires; ``force_refresh``
    (what the bearer policy asks for after a 401) goes back to Entra unless another thread got a
    fresh one meanwhile. Acquisitions are per tenant: a slow or failing Entra answer for one
    tenant never holds up another tenant's, while callers for the same tenant wait for the one
    in flight and reuse its token (or its failure) instead of asking again. Transient failures
    are retried on ``retry``'s schedule; one acquisition takes at most ``acquire_timeout``.

    Entra rotates the refresh token on every redemption. Each tenant keeps the newest one it was
    given and redeems it one request at a time, so a rotated refresh token is never redeemed
    twice at once; a tenant's first redemption starts from the stored ``refresh_token``.

    ``on_refresh_token`` gets each new refresh token of the partner's own tenant (the one the
    stored token belongs to) once it is in memory, after the tenant's turn is over, and only
    while it is still the newest: a slower caller never hands on a token a later one replaced.
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
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        acquire_timeout: float = 60.0,
        retry: ThrottleRetryPolicy | None = None,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.time,
        on_refresh_token: Callable[[str], None] | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self._client_id = client_id
        self._client_secret = client_secret
        self._seed_refresh_token = refresh_token
        self._authority_host = authority_host.rstrip("/")
        self._http = _EntraHttp(
            session or make_session(verify), connect_timeout=connect_timeout, read_timeout=read_timeout
        )
        self._acquire_timeout = acquire_timeout
        self._retry = retry or ThrottleRetryPolicy()
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._on_refresh_token = on_refresh_token
        self._lock = threading.Lock()  # guards the maps below; never held while calling Entra
        self._tenant_locks: dict[str, threading.Lock] = {}
        self._apps: dict[str, msal.ConfidentialClientApplication] = {}
        self._refresh_tokens: dict[str, str] = {}
        self._tokens: dict[_Key, _Cached] = {}
        self._failures: dict[_Key, tuple[Exception, float]] = {}

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
        tenant = (tenant_id or self.tenant_id).lower()
        key: _Key = (tenant, tuple(sorted(scopes)), flow)
        asked = time.monotonic()
        cached = self._cached(key, force_refresh=force_refresh, since=asked)
        if cached is not None:
            return cached
        with deadline(self._acquire_timeout), self._tenant_turn(tenant):
            cached = self._cached(key, force_refresh=force_refresh, since=asked)
            if cached is not None:
                return cached
            self._raise_failure_seen_while_waiting(key, since=asked)
            try:
                token, lifetime, rotated = self._acquire_with_retries(
                    tenant, list(scopes), flow, force_refresh
                )
            except (TokenAcquisitionError, DeadlineExceededError) as error:
                with self._lock:
                    self._failures[key] = (error, time.monotonic())
                raise
            # Renew ahead of expiry, but never sooner than halfway through a short-lived token.
            refresh_on = token.expires_on - min(self._refresh_margin, lifetime / 2)
            with self._lock:
                self._tokens[key] = _Cached(token, refresh_on, time.monotonic())
                self._failures.pop(key, None)
        if rotated is not None and tenant == self.tenant_id.lower():
            self._hand_on(tenant, rotated)
        return token

    def _hand_on(self, tenant: str, rotated: str) -> None:
        with self._lock:
            newest = self._refresh_tokens.get(tenant) == rotated
        if newest and self._on_refresh_token is not None:
            self._on_refresh_token(rotated)

    def _cached(self, key: _Key, *, force_refresh: bool, since: float) -> AccessToken | None:
        with self._lock:
            entry = self._tokens.get(key)
        if entry is None:
            return None
        if force_refresh:  # only a token acquired after the caller saw its old one refused
            return entry.token if entry.stored > since else None
        return entry.token if entry.refresh_on > self._clock() else None

    def _raise_failure_seen_while_waiting(self, key: _Key, *, since: float) -> None:
        """The acquisition this caller waited for failed: share its error rather than repeat it,
        unless it only ran out of its own caller's deadline."""
        with self._lock:
            failure = self._failures.get(key)
        if failure is not None and failure[1] > since and not isinstance(failure[0], DeadlineExceededError):
            raise failure[0]

    @contextmanager
    def _tenant_turn(self, tenant: str) -> Iterator[None]:
        with self._lock:
            lock = self._tenant_locks.setdefault(tenant, threading.Lock())
        left = time_left()
        if not lock.acquire(timeout=-1 if left is None else max(0.0, left)):
            message = "Entra: still waiting for another request's token for the same tenant"
            raise deadline_exceeded(message, service=ENTRA)
        try:
            yield
        finally:
            lock.release()

    def _acquire_with_retries(
        self, tenant: str, scopes: list[str], flow: Flow, force_refresh: bool
    ) -> tuple[AccessToken, int, str | None]:
        attempt = 1
        while True:
            try:
                return self._acquire(tenant, scopes, flow, force_refresh=force_refresh)
            except TokenAcquisitionError as error:
                if not error.retryable:
                    raise
                # Entra's description and the authority (a tenant's URL) stay out: this may be answered.
                failure = f"Entra token request: {error.error}"
                if not self._retry.retry_wait(attempt, error.retry_after, failure=failure, service=ENTRA):
                    if error.status == 429:
                        raise _throttled(error) from error
                    raise
            attempt += 1

    def _acquire(
        self, tenant: str, scopes: list[str], flow: Flow, *, force_refresh: bool
    ) -> tuple[AccessToken, int, str | None]:
        """The token, its lifetime in seconds, and the rotated refresh token if Entra sent one."""
        authority = self._authority(tenant)
        exchange = _Exchange()
        reset = _EXCHANGE.set(exchange)
        try:
            app = self._app(tenant)
            if flow is Flow.APP_USER:
                refresh_token = self._refresh_tokens.get(tenant) or self._seed_refresh_token
                if not refresh_token:
                    raise TokenAcquisitionError(
                        "no_refresh_token",
                        "the app + user flow needs the partner's refresh token (PARTNER_REFRESH_TOKEN)",
                        authority=authority,
                        retryable=False,
                    )
                result = app.acquire_token_by_refresh_token(refresh_token, scopes=scopes)
            else:
                if force_refresh:
                    app.remove_tokens_for_client()
                result = app.acquire_token_for_client(scopes=scopes)
        except requests.RequestException as error:
            raise _unanswered(exchange, authority, error) from error
        except (msal.exceptions.MsalServiceError, ValueError, KeyError) as error:
            if not exchange.url:  # msal refused its configuration before asking anything
                raise TokenAcquisitionError(
                    "invalid_configuration", str(error), authority=authority, retryable=False
                ) from error
            # msal raises on a 5xx, a ValueError ("Unable to get authority configuration", or a body
            # that is not JSON) whatever the actual cause, and a KeyError for a document without
            # its endpoints: say what really happened.
            raise _failed_exchange(exchange, authority) from error
        finally:
            _EXCHANGE.reset(reset)
        if "access_token" not in result:
            status = exchange.status
            raise TokenAcquisitionError(
                str(result.get("error") or f"http_{status}"),
                str(result.get("error_description") or f"Entra answered HTTP {status} without a token"),
                authority=authority,
                correlation_id=result.get("correlation_id"),
                status=status,
                retry_after=exchange.retry_after,
            )
        rotated = result.get("refresh_token") or None
        if rotated is not None:
            with self._lock:
                self._refresh_tokens[tenant] = rotated
        expires_in = int(result.get("expires_in", 3600))
        return AccessToken(result["access_token"], int(self._clock()) + expires_in), expires_in, rotated

    def _app(self, tenant: str) -> msal.ConfidentialClientApplication:
        """The tenant's msal app; building it fetches the authority's discovery document."""
        app = self._apps.get(tenant)
        if app is None:
            # instance_discovery=False: msal must not ask the public cloud whether our authority
            # host is genuine; the host comes from AUTHORITY_HOST (a sovereign cloud or the sandbox).
            app = msal.ConfidentialClientApplication(
                self._client_id,
                client_credential=self._client_secret,
                authority=self._authority(tenant),
                http_client=self._http,
                http_cache=_NoHttpCache(),
                instance_discovery=False,
                token_cache=msal.TokenCache(),
            )
            with self._lock:
                self._apps[tenant] = app
        return app

    def _authority(self, tenant: str) -> str:
        return f"{self._authority_host}/{tenant}"


def _unanswered(
    exchange: _Exchange, authority: str, error: requests.RequestException
) -> TokenAcquisitionError:
    """No answer from Entra: a connection refused or dropped, or a timeout. Always worth retrying."""
    what = "the authority's discovery document" if exchange.discovery else "the token endpoint"
    timed_out = isinstance(error, requests.Timeout)
    return TokenAcquisitionError(
        "timeout" if timed_out else "connection_failed",
        f"no answer from {what} ({type(error).__name__})",
        authority=authority,
        retryable=True,
    )


def _failed_exchange(exchange: _Exchange, authority: str) -> TokenAcquisitionError:
    status = exchange.status
    if status is None:
        answer = "no answer was read"
    elif status >= 400:
        answer = f"HTTP {status}"
    else:
        answer = f"HTTP {status} with a body that is not the expected JSON"
    if exchange.discovery:
        error, description = (
            "discovery_failed",
            f"the authority's discovery document could not be fetched: {answer}",
        )
    else:
        error, description = f"http_{status}", f"the token endpoint answered {answer}"
    return TokenAcquisitionError(
        error,
        description,
        authority=authority,
        status=status,
        retryable=status in RETRYABLE_STATUSES,
        retry_after=exchange.retry_after,
    )


def _throttled(error: TokenAcquisitionError) -> TokenRetryLaterError:
    return TokenRetryLaterError(
        error.error,
        error.description,
        authority=error.authority,
        correlation_id=error.correlation_id,
        status=error.status,
        retryable=True,
        retry_after=error.retry_after or 30.0,
    )
