"""The azure-core pipeline policies both service clients share.

Order of the policies, outermost first, and why:

1. :class:`CallContextPolicy` fixes the call's ids and its log template *once*, so every retry of
   a write carries the same ``MS-RequestId`` (Partner Center's idempotency key).
2. :class:`ThrottleRetryPolicy` retries transient failures with jittered exponential backoff and
   sleeps through short ``Retry-After`` waits; a long one is handed back to the caller, who raises
   :class:`~shared.clients.errors.RetryLaterError` so the workflow re-enqueues instead of sleeping.
   A write is re-sent after an ambiguous failure only where the service makes that safe.
3. :class:`CallLoggingPolicy` logs every attempt: method, path template, status, latency, ids.
4. :class:`BearerPolicy` sets the token and re-acquires it once after a 401.
5. :class:`DeadlinePolicy` caps the attempt's connect and read timeouts to the time left
   (:mod:`shared.clients.calls`).

A client whose service has a quota shared by every host (Partner Center's) also has a
:class:`PacingPolicy` right after the retries: each attempt first takes its turn in the quota.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken
from azure.core.exceptions import IncompleteReadError, ServiceRequestError, ServiceResponseError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy, SansIOHTTPPolicy
from azure.core.rest import HttpRequest, HttpResponse

from shared import telemetry
from shared.clients.calls import CALLS_MADE, MIN_RETRY_LATER, call_timeouts, deadline_exceeded, time_left
from shared.clients.errors import CallIds, RetryLaterError
from shared.clients.http import LOG, parse_retry_after, path_template

TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# The request may have reached the service and been acted on: only a repeatable call is re-sent.
RESPONSE_ERRORS = (ServiceResponseError, IncompleteReadError)


# Context keys the policies share; options with these names are lifted off the call's kwargs.
PATH_TEMPLATE = "path_template"


REQUEST_ID = "request_id"


CORRELATION_ID = "correlation_id"


TOKEN_TENANT = "token_tenant"  # noqa: S105 (a context key, not a secret)


TOKEN_FLOW = "token_flow"  # noqa: S105 (a context key, not a secret)


REPEATABLE = "repeatable"  # may be re-sent after an ambiguous failure


SERVICE = "service"


_CALL_OPTIONS = (PATH_TEMPLATE, REQUEST_ID, CORRELATION_ID, TOKEN_TENANT, TOKEN_FLOW, REPEATABLE)


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
    and only gets the correlation header. ``fixed_headers`` go on every call (Partner Center's
    ``MS-Contract-Version``).
    """

    def __init__(
        self,
        *,
        service: str,
        correlation_header: str,
        request_id_header: str | None,
        fixed_headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self._service = service
        self._correlation_header = correlation_header
        self._request_id_header = request_id_header
        self._fixed_headers = fixed_headers

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
        for name, value in self._fixed_headers:
            headers[name] = value
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
        would end past the deadline, and when the deadline has run out with the last attempt: its
        timeouts were cut to what was left, so it is the deadline that ended it, a retry-later.
        """
        if attempt >= self.max_attempts:
            if not self.fits(0.0):
                message = f"{failure}; the operation's deadline ran out with the last attempt"
                raise deadline_exceeded(message, service=service, ids=ids, wait=self.backoff(attempt))
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


class CallPacer(Protocol):
    def take(self, count: int = 1) -> tuple[float, bool]:
        """(seconds, granted): wait that long, then call; or nothing was taken, come back then."""
        ...


class PacingPolicy(HTTPPolicy[HttpRequest, HttpResponse]):
    """Every attempt takes its turn in a quota shared by the hosts (:mod:`shared.store.quota`): a
    short wait is slept (bounded like a short ``Retry-After``), a longer one raises
    :class:`~shared.clients.errors.RetryLaterError`, so a queue step comes back later instead of
    meeting the service's 429."""

    def __init__(self, pacer: CallPacer, retry: ThrottleRetryPolicy) -> None:
        super().__init__()
        self._pacer = pacer
        self._retry = retry

    def send(self, request: PipelineRequest[HttpRequest]) -> PipelineResponse[HttpRequest, HttpResponse]:
        wait, granted = self._pacer.take()
        if not granted or not self._retry.fits(wait):
            service = str(request.context.get(SERVICE, "service"))
            what = f"{request.http_request.method} {request.context.get(PATH_TEMPLATE) or '?'}"
            raise RetryLaterError(
                f"{what}: {service}'s quota is spent for the next {wait:.1f} s; not sent",
                service=service,
                code="quota_paced",
                ids=CallIds(request.context.get(REQUEST_ID), request.context.get(CORRELATION_ID)),
                retry_after=max(MIN_RETRY_LATER, wait),
            )
        if wait > 0:
            self._retry.sleep(wait)
        return self.next.send(request)


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
        counted = CALLS_MADE.get()
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
