"""The azure-core pipeline both service clients share.

Order of the policies, outermost first, and why:

1. :class:`CallContextPolicy` fixes the call's ids and its log template *once*, so every retry of
   a write carries the same ``MS-RequestId`` (Partner Center's idempotency key).
2. :class:`ThrottleRetryPolicy` retries transient failures with jittered exponential backoff and
   sleeps through short ``Retry-After`` waits; a long one is handed back to the caller, who raises
   :class:`~shared.errors.RetryLaterError` so the workflow re-enqueues instead of sleeping. A
   write is re-sent after an ambiguous failure only where the service makes that safe.
3. :class:`CallLoggingPolicy` logs every attempt: method, path template, status, latency, ids.
4. :class:`BearerPolicy` sets the token and re-acquires it once after a 401.
5. :class:`DeadlinePolicy` caps the attempt's connect and read timeouts to the time left.

Every call made inside ``with deadline(seconds):`` ends by then: see :func:`deadline`.
"""

from __future__ import annotations

import email.utils
import logging
import math
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Self, TypedDict, Unpack
from urllib.parse import quote, urlsplit

import requests
from azure.core import PipelineClient
from azure.core.credentials import AccessToken
from azure.core.exceptions import IncompleteReadError, ServiceRequestError, ServiceResponseError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy, SansIOHTTPPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest, HttpResponse
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from . import telemetry
from .errors import CallIds, DeadlineExceededError, OutcomeUnknownError, ServiceError

LOG = logging.getLogger("shared.http")

TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The request may have reached the service and been acted on: only a repeatable call is re-sent.
RESPONSE_ERRORS = (ServiceResponseError, IncompleteReadError)

# Longest Retry-After honoured (a day): anything longer, ``inf`` included, is read as this. Waits
# beyond the queue's 7-day visibility limit come from the timer, never from one answer.
MAX_RETRY_AFTER = 86_400.0
# Shortest wait put on a DeadlineExceededError, so a caller never retries in a tight loop.
MIN_RETRY_LATER = 1.0

# Operation deadlines, per trigger (seconds). Azure ends an HTTP-triggered function's answer at
# 230 s, so a route stops its upstream calls well before; a queue step must finish inside the
# 10-minute functionTimeout with time to record what happened.
HTTP_ROUTE_DEADLINE = 200.0
QUEUE_STEP_DEADLINE = 540.0

_DEADLINE: ContextVar[float | None] = ContextVar("operation_deadline", default=None)
_CALLS: ContextVar[list[int] | None] = ContextVar("calls_made", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every call made inside ends within ``seconds`` (on this thread's context).

    Attempts and retry sleeps that would end past it are not started, read timeouts shrink to the
    time left, token acquisition too; when it runs out the call raises
    :class:`~shared.errors.DeadlineExceededError` (a ``RetryLaterError``: re-enqueue, or answer 503
    with ``Retry-After``). A nested deadline can shorten the outer one, never extend it. Use
    :data:`HTTP_ROUTE_DEADLINE` for a route and :data:`QUEUE_STEP_DEADLINE` for a queue step.
    """
    if not seconds > 0 or math.isinf(seconds):
        raise ValueError(f"a deadline is a positive, finite number of seconds; got {seconds!r}")
    ends = time.monotonic() + seconds
    outer = _DEADLINE.get()
    token = _DEADLINE.set(ends if outer is None else min(outer, ends))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


@contextmanager
def counting_calls() -> Iterator[None]:
    """Count the requests sent to Partner Center and Graph inside the block (retries included)."""
    token = _CALLS.set([0])
    try:
        yield
    finally:
        _CALLS.reset(token)


def take_call_count() -> int:
    """The requests sent since the last take, inside :func:`counting_calls`; 0 outside it."""
    counted = _CALLS.get()
    if counted is None:
        return 0
    taken, counted[0] = counted[0], 0
    return taken


def time_left() -> float | None:
    """Seconds until the current deadline (negative once past), or ``None`` outside any."""
    ends = _DEADLINE.get()
    return None if ends is None else ends - time.monotonic()


def call_timeouts(connect: float, read: float, *, what: str, service: str) -> tuple[float, float]:
    """The connect and read timeouts for one request, capped to the time left before the deadline."""
    left = time_left()
    if left is None:
        return connect, read
    if left <= 0:
        raise deadline_exceeded(
            f"{what}: the operation's deadline ran out before the request", service=service
        )
    return min(connect, left), min(read, left)


def deadline_exceeded(
    message: str, *, service: str, ids: CallIds | None = None, wait: float = 0.0
) -> DeadlineExceededError:
    return DeadlineExceededError(
        message,
        service=service,
        code="deadline_exceeded",
        ids=ids or CallIds(),
        retry_after=max(MIN_RETRY_LATER, min(wait, MAX_RETRY_AFTER)),
    )


# Context keys the policies share; options with these names are lifted off the call's kwargs.
PATH_TEMPLATE = "path_template"
REQUEST_ID = "request_id"
CORRELATION_ID = "correlation_id"
TOKEN_TENANT = "token_tenant"  # noqa: S105 (a context key, not a secret)
TOKEN_FLOW = "token_flow"  # noqa: S105 (a context key, not a secret)
REPEATABLE = "repeatable"  # may be re-sent after an ambiguous failure
SERVICE = "service"
_CALL_OPTIONS = (PATH_TEMPLATE, REQUEST_ID, CORRELATION_ID, TOKEN_TENANT, TOKEN_FLOW, REPEATABLE)


def resolve_verify(verify: bool | str | None) -> bool | str:
    """What to trust: an explicit choice, else ``REQUESTS_CA_BUNDLE``, else the system roots."""
    if verify is not None:
        return verify
    return os.environ.get("REQUESTS_CA_BUNDLE") or True


class _PinnedVerifySession(requests.Session):
    """A session whose trust is fixed at construction.

    ``requests`` lets ``REQUESTS_CA_BUNDLE`` override ``Session.verify`` on every request; msal
    calls through the session without a ``verify`` argument, so without this pin a machine-wide
    bundle would silently replace the one we were given.
    """

    def __init__(self, verify: bool | str) -> None:
        super().__init__()
        self.verify = verify

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None or verify is True:
            settings["verify"] = self.verify
        return settings


def make_session(verify: bool | str | None = None, *, pool_size: int = 16) -> requests.Session:
    """One pooled keep-alive session; urllib3's own retries are off because the pipeline retries."""
    session = _PinnedVerifySession(resolve_verify(verify))
    no_retries = Retry(total=False, redirect=False, raise_on_status=False)
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=no_retries)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds, fractional, or an HTTP date).

    Always finite, from 0 to :data:`MAX_RETRY_AFTER`: ``inf``, a 5,000-digit number or a date
    in year 9999 would otherwise overflow a sleep or a ``round()`` further on.
    """
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
            seconds = moment.timestamp() - now()
        except (TypeError, ValueError, OverflowError, OSError):
            return None
    if math.isnan(seconds):
        return None  # no instruction
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TENANT_SKU = re.compile(r"^[0-9a-fA-F-]{36}_[0-9a-fA-F-]{36}$")
_LONG_TOKEN = re.compile(r"^(?=.*\d)[A-Za-z0-9_\-.=~+]{24,}$")


def path_template(path: str) -> str:
    """A URL path with every id replaced, for logs of calls whose template is unknown.

    Ids are GUIDs, numbers, anything with ``@`` (a UPN) and long opaque tokens; the literal path
    words stay, so the log still says which operation ran.
    """
    segments = []
    for raw in path.split("/"):
        segments.append("{id}" if _is_id(raw) else raw)
    return "/".join(segments)


def _is_id(segment: str) -> bool:
    if GUID.match(segment) or _TENANT_SKU.match(segment) or segment.isdigit():
        return True
    return "@" in segment or "%40" in segment.lower() or bool(_LONG_TOKEN.match(segment))


def expand(template: str, params: Mapping[str, str]) -> str:
    """Fill a path template, escaping each value so an id can never change the path's shape."""
    return template.format_map({name: quote(str(value), safe="") for name, value in params.items()})


class TokenSource(Protocol):
    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken: ...


class CallContextPolicy(SansIOHTTPPolicy[HttpRequest, HttpResponse]):
    """Stamps the call's ids before any retry, so all attempts share them.

    ``request_id_header`` is Partner Center's ``MS-RequestId``: the caller's id for writes
    (persisted by the workflow first), a fresh one for reads. Graph has no idempotency header
    and only gets the correlation header.
    """

    def __init__(self, *, service: str, correlation_header: str, request_id_header: str | None) -> None:
        self._service = service
        self._correlation_header = correlation_header
        self._request_id_header = request_id_header

    def on_request(self, request: PipelineRequest[HttpRequest]) -> None:
        options = request.context.options
        for name in _CALL_OPTIONS:
            if name in options:
                request.context[name] = options.pop(name)
        request.context[SERVICE] = self._service
        headers = request.http_request.headers
        correlation = request.context.get(CORRELATION_ID) or str(uuid.uuid4())
        request.context[CORRELATION_ID] = correlation
        headers[self._correlation_header] = correlation
        if self._request_id_header:
            request_id = request.context.get(REQUEST_ID) or str(uuid.uuid4())
            request.context[REQUEST_ID] = request_id
            headers[self._request_id_header] = request_id
        headers.setdefault("Accept", "application/json")


class ThrottleRetryPolicy(HTTPPolicy[HttpRequest, HttpResponse]):
    """Bounded retries: transient 5xx, connection errors and timeouts, and short 429 waits.

    A write may have been done when its answer is lost (a dropped connection, a read timeout, a
    5xx), so it is re-sent only when the call is marked repeatable: Partner Center writes are,
    because their persisted ``MS-RequestId`` makes a repeat return the first answer. Graph writes
    are not: after a committed ``assignLicense`` a re-sent swap gets 400 (the old SKU is gone),
    so the caller gets :class:`~shared.errors.OutcomeUnknownError` and reads the state instead. A
    connect error (nothing was sent) and a 429 (not processed) are retried for every method.
    When a 429 asks for more than ``max_sleep`` seconds, or the attempts run out, the last
    response is returned for the client to turn into an error. No attempt and no sleep starts
    that would end past the operation's :func:`deadline`.

    The same schedule serves token acquisition (:meth:`retry_wait`), so every call backs off alike.
    """

    def __init__(
        self,
        *,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        max_sleep: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_sleep = max_sleep
        self.sleep = sleep

    def backoff(self, attempt: int) -> float:
        """Half fixed, half random, so clients that failed together do not retry together."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (jitter, not secrecy)

    def fits(self, seconds: float) -> bool:
        """Whether a wait of ``seconds`` ends before the operation's deadline."""
        left = time_left()
        return left is None or seconds < left

    def retry_wait(
        self,
        attempt: int,
        retry_after: float | None,
        *,
        failure: str,
        service: str,
        ids: CallIds | None = None,
    ) -> bool:
        """Sleeps before attempt ``attempt + 1`` and says True; False when the attempts are used up
        or the service asks for longer than ``max_sleep`` (the caller raises its own error).

        Raises :class:`~shared.errors.DeadlineExceededError` naming ``failure`` when the wait
        would end past the deadline.
        """
        if attempt >= self.max_attempts:
            return False
        wait = self.backoff(attempt) if retry_after is None else retry_after
        if wait > self.max_sleep:
            return False
        if not self.fits(wait):
            left = max(0.0, time_left() or 0.0)
            message = f"{failure}; the operation's deadline ({left:.1f} s left) ends before the next attempt"
            raise deadline_exceeded(message, service=service, ids=ids, wait=wait)
        self.sleep(wait)
        return True

    def send(self, request: PipelineRequest[HttpRequest]) -> PipelineResponse[HttpRequest, HttpResponse]:
        http_request = request.http_request
        repeatable = bool(request.context.get(REPEATABLE, http_request.method in SAFE_METHODS))
        service = str(request.context.get(SERVICE, "service"))
        what = f"{http_request.method} {request.context.get(PATH_TEMPLATE) or '?'}"
        attempt = 1
        while True:
            ids = CallIds(request.context.get(REQUEST_ID), request.context.get(CORRELATION_ID))
            left = time_left()
            if left is not None and left <= 0:
                message = f"{what}: the operation's deadline ran out before attempt {attempt}"
                raise deadline_exceeded(message, service=service, ids=ids, wait=self.backoff(attempt))
            retry_after: float | None = None
            response: PipelineResponse[HttpRequest, HttpResponse] | None = None
            failed: Exception | None = None
            try:
                response = self.next.send(request)
            except ServiceRequestError as error:  # nothing reached the service
                failed, outcome = error, type(error).__name__
            except RESPONSE_ERRORS as error:
                if not repeatable:
                    raise
                failed, outcome = error, type(error).__name__
            else:
                status = response.http_response.status_code
                if status == 429:
                    retry_after = parse_retry_after(response.http_response.headers.get("Retry-After"))
                elif status not in TRANSIENT_STATUSES or not repeatable:
                    return response
                outcome = f"HTTP {status}"
            failure = f"{what}: {outcome} on attempt {attempt}"
            if not self.retry_wait(attempt, retry_after, failure=failure, service=service, ids=ids):
                if failed is not None:
                    raise failed
                assert response is not None
                return response
            attempt += 1


class CallLoggingPolicy(HTTPPolicy[HttpRequest, HttpResponse]):
    """One log line per attempt, free of tokens, secrets and personal data.

    The path is the operation's template (ids replaced), never the URL, whose path may hold a
    UPN and whose query may hold a filter on one.
    """

    def __init__(self, *, service: str, response_request_id_header: str) -> None:
        super().__init__()
        self._service = service
        self._response_request_id_header = response_request_id_header

    def send(self, request: PipelineRequest[HttpRequest]) -> PipelineResponse[HttpRequest, HttpResponse]:
        http_request = request.http_request
        template = request.context.get(PATH_TEMPLATE) or path_template(urlsplit(http_request.url).path)
        counted = _CALLS.get()
        if counted is not None:
            counted[0] += 1
        started = time.perf_counter()
        with telemetry.outgoing_call(
            self._service,
            http_request.method,
            template,
            request_id=request.context.get(REQUEST_ID),
            correlation_id=request.context.get(CORRELATION_ID),
        ) as call:
            try:
                response = self.next.send(request)
            except Exception as error:
                call.failed(error)
                LOG.warning(
                    "%s %s %s failed after %.0f ms: %s (request id %s, correlation id %s)",
                    self._service,
                    http_request.method,
                    template,
                    (time.perf_counter() - started) * 1000,
                    type(error).__name__,
                    request.context.get(REQUEST_ID),
                    request.context.get(CORRELATION_ID),
                )
                raise
            status = response.http_response.status_code
            request_id = response.http_response.headers.get(self._response_request_id_header)
            request_id = request_id or request.context.get(REQUEST_ID)
            call.answered(status, request_id)
            LOG.info(
                "%s %s %s -> %d in %.0f ms (request id %s, correlation id %s)",
                self._service,
                http_request.method,
                template,
                status,
                (time.perf_counter() - started) * 1000,
                request_id,
                request.context.get(CORRELATION_ID),
            )
        return response


class BearerPolicy(HTTPPolicy[HttpRequest, HttpResponse]):
    """Sets the bearer token for the call's tenant and flow; after a 401, re-acquires exactly once.

    A second 401 is returned as is: the client turns it into an ``UnauthorizedError`` that says
    the credentials, not the network, need attention.
    """

    def __init__(self, credential: TokenSource, scope: str) -> None:
        super().__init__()
        self._credential = credential
        self._scope = scope

    def send(self, request: PipelineRequest[HttpRequest]) -> PipelineResponse[HttpRequest, HttpResponse]:
        self._authorize(request, force_refresh=False)
        response = self.next.send(request)
        if response.http_response.status_code == 401:
            self._authorize(request, force_refresh=True)
            response = self.next.send(request)
        return response

    def _authorize(self, request: PipelineRequest[HttpRequest], *, force_refresh: bool) -> None:
        options: dict[str, Any] = {"tenant_id": request.context.get(TOKEN_TENANT)}
        if request.context.get(TOKEN_FLOW):
            options["flow"] = request.context[TOKEN_FLOW]
        if force_refresh:
            options["force_refresh"] = True
        token = self._credential.get_token(self._scope, **options)
        request.http_request.headers["Authorization"] = f"Bearer {token.token}"


class DeadlinePolicy(SansIOHTTPPolicy[HttpRequest, HttpResponse]):
    """Innermost: the attempt's timeouts, capped to what the deadline leaves after the token fetch."""

    def __init__(self, *, connect_timeout: float, read_timeout: float) -> None:
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout

    def on_request(self, request: PipelineRequest[HttpRequest]) -> None:
        what = f"{request.http_request.method} {request.context.get(PATH_TEMPLATE) or '?'}"
        connect, read = call_timeouts(
            self._connect_timeout,
            self._read_timeout,
            what=what,
            service=str(request.context.get(SERVICE, "service")),
        )
        request.context.options["connection_timeout"] = connect
        request.context.options["read_timeout"] = read


class ErrorFactory(Protocol):
    def __call__(
        self, status: int, body: bytes, ids: CallIds, *, retry_after: float | None = None
    ) -> ServiceError: ...


@dataclass(frozen=True, slots=True)
class ServiceDialect:
    """What differs between Partner Center and Graph on the wire: scope, id headers, error shape."""

    name: str
    scope: str
    correlation_header: str
    request_id_header: str | None  # sent by the client (Partner Center's idempotency key)
    response_request_id_header: str  # the id the service answers with, to quote to Microsoft
    error_for: ErrorFactory
    error_type: type[ServiceError]


def build_pipeline_client(
    endpoint: str,
    dialect: ServiceDialect,
    credential: TokenSource,
    *,
    session: requests.Session | None = None,
    verify: bool | str | None = None,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
    retry: ThrottleRetryPolicy | None = None,
) -> PipelineClient[HttpRequest, HttpResponse]:
    """A pipeline over one pooled keep-alive session for one service."""
    resolved = resolve_verify(verify)
    transport = RequestsTransport(
        session=session or make_session(resolved),
        session_owner=False,
        connection_timeout=connect_timeout,
        read_timeout=read_timeout,
        connection_verify=resolved,
    )
    policies: list[Any] = [
        CallContextPolicy(
            service=dialect.name,
            correlation_header=dialect.correlation_header,
            request_id_header=dialect.request_id_header,
        ),
        retry or ThrottleRetryPolicy(),
        CallLoggingPolicy(
            service=dialect.name, response_request_id_header=dialect.response_request_id_header
        ),
        BearerPolicy(credential, dialect.scope),
        DeadlinePolicy(connect_timeout=connect_timeout, read_timeout=read_timeout),
    ]
    return PipelineClient(base_url=endpoint.rstrip("/"), policies=policies, transport=transport)


class ApiCaller:
    """Sends one operation through the pipeline and turns every failure into the service's typed error."""

    def __init__(
        self,
        pipeline: PipelineClient[HttpRequest, HttpResponse],
        dialect: ServiceDialect,
        *,
        default_retry_later: float = 30.0,
    ) -> None:
        self.pipeline = pipeline
        self._service = dialect.name
        self._repeatable_writes = dialect.request_id_header is not None
        self._error_for = dialect.error_for
        self._error_type = dialect.error_type
        self._request_id_headers = (dialect.response_request_id_header,)
        self._correlation_header = dialect.correlation_header
        self._default_retry_later = default_retry_later

    def call(
        self,
        method: str,
        template: str,
        params: Mapping[str, str] | None = None,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        url: str | None = None,
        repeatable: bool | None = None,
        **options: Any,
    ) -> HttpResponse:
        """``url`` (a next-page link) replaces the expanded template, which still names the call in logs.

        ``repeatable`` says the call may be re-sent after an ambiguous failure; by default reads
        are, and writes are where the service deduplicates them (Partner Center's ``MS-RequestId``).
        A write that ends ambiguously raises :class:`~shared.errors.OutcomeUnknownError`.
        """
        write = method.upper() not in SAFE_METHODS
        if repeatable is None:
            repeatable = not write or self._repeatable_writes
        target = url or self.pipeline.format_url(expand(template, params or {}))
        request = HttpRequest(
            method, target, params=dict(query or {}), json=body, headers=dict(headers or {})
        )
        try:
            response = self.pipeline.send_request(
                request, path_template=template, repeatable=repeatable, **options
            )
        except ServiceRequestError as error:
            reason = type(error).__name__
            message = f"{method} {template}: could not reach {self._service}, nothing was sent ({reason})"
            raise self._error_type(message, ids=self._ids(request), retryable=True) from error
        except RESPONSE_ERRORS as error:
            if write:
                raise self._outcome_unknown(
                    f"{method} {template}: no answer ({type(error).__name__})", request, None, repeatable
                ) from error
            message = f"{method} {template}: no response after retries ({type(error).__name__})"
            raise self._error_type(message, ids=self._ids(request), retryable=True) from error
        if response.status_code >= 400:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if response.status_code == 429 and retry_after is None:
                retry_after = self._default_retry_later
            ids = self._ids(request, response)
            refusal = self._error_for(response.status_code, response.content, ids, retry_after=retry_after)
            if write and response.status_code >= 500:
                message = f"{method} {template}: {refusal.message}"
                raise self._outcome_unknown(message, request, response, repeatable, code=refusal.code)
            raise refusal
        return response

    def _outcome_unknown(
        self,
        failure: str,
        request: HttpRequest,
        response: HttpResponse | None,
        repeatable: bool,
        *,
        code: str | None = None,
    ) -> OutcomeUnknownError:
        advice = (
            "repeating it with the same request id is safe"
            if repeatable
            else "it was not re-sent; read the current state before trying again"
        )
        return OutcomeUnknownError(
            f"{failure}; the write may have been done: {advice}",
            service=self._service,
            status=response.status_code if response is not None else None,
            code=code,
            ids=self._ids(request, response),
            retryable=repeatable,
        )

    def json(self, method: str, template: str, params: Mapping[str, str] | None = None, **kwargs: Any) -> Any:
        """The response body as parsed JSON, or ``{}`` for an empty body."""
        response = self.call(method, template, params, **kwargs)
        return response.json() if response.content else {}

    def _ids(self, request: HttpRequest, response: HttpResponse | None = None) -> CallIds:
        sent = request.headers
        answered = response.headers if response is not None else {}
        request_id = next(
            (h.get(name) for name in self._request_id_headers for h in (answered, sent) if h.get(name)), None
        )
        correlation = answered.get(self._correlation_header) or sent.get(self._correlation_header)
        return CallIds(request_id=request_id, correlation_id=correlation)


class TransportOptions(TypedDict, total=False):
    """How a client reaches its service: TLS trust, a shared session, timeouts, retry policy."""

    verify: bool | str | None
    session: requests.Session | None
    connect_timeout: float
    read_timeout: float
    retry: ThrottleRetryPolicy | None


class ServiceClient:
    """What every client shares: one pipeline over one pooled session, closed with the client."""

    dialect: ClassVar[ServiceDialect]

    def __init__(self, endpoint: str, credential: TokenSource, **options: Unpack[TransportOptions]) -> None:
        self._endpoint = endpoint.rstrip("/")
        self._retry = options["retry"] = options.get("retry") or ThrottleRetryPolicy()
        pipeline = build_pipeline_client(self._endpoint, self.dialect, credential, **options)
        self._api = ApiCaller(pipeline, self.dialect)

    def close(self) -> None:
        self._api.pipeline.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
