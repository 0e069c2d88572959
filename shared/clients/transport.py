"""The base of both service clients: one pipeline (:mod:`shared.clients.pipeline`), one way to send
a call, and one way to turn a refused answer into the service's error (its dialect)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Self, TypedDict, Unpack

import requests
from azure.core import PipelineClient
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest, HttpResponse

from shared.clients.errors import CallIds, OutcomeUnknownError, ServiceError
from shared.clients.http import expand, make_session, parse_retry_after, resolve_verify
from shared.clients.pipeline import (
    RESPONSE_ERRORS,
    SAFE_METHODS,
    BearerPolicy,
    CallContextPolicy,
    CallLoggingPolicy,
    CallPacer,
    DeadlinePolicy,
    PacingPolicy,
    ThrottleRetryPolicy,
    TokenSource,
)


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
    fixed_headers: tuple[tuple[str, str], ...] = ()  # sent on every call


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
    pacer: CallPacer | None = None,
) -> PipelineClient[HttpRequest, HttpResponse]:
    """A pipeline over one pooled keep-alive session for one service; each attempt paced by
    ``pacer`` when given (a quota shared by the hosts)."""
    resolved = resolve_verify(verify)
    transport = RequestsTransport(
        session=session or make_session(resolved),
        session_owner=False,
        connection_timeout=connect_timeout,
        read_timeout=read_timeout,
        connection_verify=resolved,
    )
    retry = retry or ThrottleRetryPolicy()
    policies: list[Any] = [
        CallContextPolicy(
            service=dialect.name,
            correlation_header=dialect.correlation_header,
            request_id_header=dialect.request_id_header,
            fixed_headers=dialect.fixed_headers,
        ),
        retry,
        *([PacingPolicy(pacer, retry)] if pacer is not None else []),
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
    pacer: CallPacer | None


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
