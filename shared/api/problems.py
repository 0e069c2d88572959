"""The one error boundary: every exception a handler can raise becomes an RFC 9457 problem.

Handlers answer the refusals they can explain themselves; whatever escapes them (a throttled
upstream, a missing setting, storage being down, a bug) goes through :func:`problem_for`, so no
route answers a bare 500 and a route added later is covered without knowing about it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.clients.calls import HTTP_ROUTE_DEADLINE, deadline
from shared.clients.errors import ServiceError, TokenAcquisitionError
from shared.domain.errors import ErrorKind

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
MAX_QUOTED_CHARS = 100
DEFAULT_RETRY_AFTER = 60
ENTRA = TokenAcquisitionError.service
MAX_RETRY_AFTER = 3600


#: Every answer of the API, JSON or problem: never sniffed as another type, never stored by a cache
#: (it shows a transfer's state now, and the next request may change it).
API_HEADERS: Mapping[str, str] = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


@dataclass(frozen=True)
class ApiResponse:
    """An answer: JSON (a problem when the status is 4xx or 5xx), or bytes of ``media_type``."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    media_type: str | None = None

    @property
    def content_type(self) -> str:
        if self.media_type is not None:
            return self.media_type
        return PROBLEM_JSON if self.status >= 400 else "application/json"

    @property
    def sent_headers(self) -> dict[str, str]:
        """The answer's own headers over :data:`API_HEADERS`, as the route sends them."""
        return {**API_HEADERS, **self.headers}

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        # backslashreplace keeps a lone surrogate as a JSON \u escape instead of failing to encode
        text = json.dumps(self.body, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8", "backslashreplace")


def problem(status: int, title: str, detail: str, **extra: Any) -> ApiResponse:
    """An RFC 9457 problem: ``type`` names the kind, ``detail`` says what to fix."""
    kind = title.lower().replace(" ", "-")
    return ApiResponse(
        status,
        {
            "type": f"urn:csp-transfer:problem:{kind}",
            "title": title,
            "status": status,
            "detail": detail,
            **extra,
        },
    )


def route_not_found(path: str) -> ApiResponse:
    """No route has this path (the OpenAPI document at ``/api/openapi.json`` lists them)."""
    return problem(404, "Not found", f"no route has the path {quote(path)}; /api/openapi.json lists them")


def method_not_allowed(method: str, allowed: tuple[str, ...]) -> ApiResponse:
    """The route does not take this method; ``Allow`` says which it takes."""
    answer = problem(
        405, "Method not allowed", f"the route takes {' or '.join(allowed)}, not {quote(method)}"
    )
    return ApiResponse(405, answer.body, {"Allow": ", ".join(allowed)})


def upstream_problem(status: int, title: str, error: ServiceError) -> ApiResponse:
    """A problem quoting the service's own code and ids, so an admin can take it to Microsoft."""
    return problem(status, title, str(error), **_call_ids(error))


def quote(text: str) -> str:
    """Input as an error body may show it: repr'd (so control characters stay visible), bounded."""
    if len(text) <= MAX_QUOTED_CHARS:
        return repr(text)
    return repr(text[:MAX_QUOTED_CHARS]) + "…"


def retry_after_seconds(seconds: float | None) -> int:
    """A ``Retry-After`` value a client can obey: whole seconds from 1 to an hour, never inf or NaN."""
    if seconds is None or math.isnan(seconds):
        return DEFAULT_RETRY_AFTER
    if seconds >= MAX_RETRY_AFTER:  # also inf, which int() and ceil() cannot take
        return MAX_RETRY_AFTER
    if seconds <= 1:  # also -inf
        return 1
    return math.ceil(seconds)


def retry_later(title: str, detail: str, seconds: float | None, **extra: Any) -> ApiResponse:
    """A 503 that says when to come back."""
    answer = problem(503, title, detail, **extra)
    return ApiResponse(503, answer.body, {"Retry-After": str(retry_after_seconds(seconds))})


def _throttled(error: BaseException) -> ApiResponse:
    seconds = getattr(error, "retry_after", None)
    if isinstance(error, ServiceError) and error.service == ENTRA:
        detail = f"Entra did not issue a token in time ({_entra_failure(error)}); try again later"
        return retry_later("Throttled", detail, seconds, **_entra_ids(error))
    ids = _call_ids(error) if isinstance(error, ServiceError) else {}
    return retry_later("Throttled", str(error), seconds, **ids)


def _token(error: BaseException) -> ApiResponse:
    assert isinstance(error, TokenAcquisitionError)
    cause = (
        "Entra is failing or unreachable; try again later"
        if error.retryable
        else "check the partner app's credentials and consent"
    )
    return problem(
        502,
        "Upstream service error",
        f"Entra did not issue a token ({_entra_failure(error)}); {cause}",
        **_entra_ids(error),
    )


def _entra_failure(error: ServiceError) -> str:
    """Entra's error code and HTTP status, e.g. ``invalid_client, HTTP 401``."""
    return f"{error.code}, HTTP {error.status}" if error.status else str(error.code)


def _entra_ids(error: ServiceError) -> dict[str, Any]:
    """What an answer may quote of Entra's failure: its code and correlation id. Entra's description
    and the authority's URL are left out: they echo tenant and app ids."""
    return {"service": ENTRA, "code": error.code, "correlationId": error.correlation_id}


def _upstream(status: int, title: str) -> Answer:
    def answer(error: BaseException) -> ApiResponse:
        assert isinstance(error, ServiceError)
        return upstream_problem(status, title, error)

    return answer


def _configuration(error: BaseException) -> ApiResponse:
    setting = getattr(error, "setting", None)
    log.error("configuration error: %s", error)
    return problem(
        503,
        "Configuration error",
        f"the app setting {setting} is missing or malformed; an operator must fix it",
        setting=setting,
    )


def _reference_unavailable(error: BaseException) -> ApiResponse:
    log.error("SKU reference unavailable: %s", error)
    return retry_later(
        "SKU reference unavailable",
        "Microsoft's SKU reference table (SKU_REFERENCE_URL) could not be loaded; matching needs it",
        DEFAULT_RETRY_AFTER,
    )


def _invalid_input(error: BaseException) -> ApiResponse:
    """A 400 naming the parameter when the error knows it (``parameter``), titled as it says."""
    parameter = getattr(error, "parameter", None)
    title = getattr(error, "title", "Invalid input")
    return problem(400, title, str(error), **({"parameter": parameter} if parameter else {}))


def _storage_limit(error: BaseException) -> ApiResponse:
    if getattr(error, "from_input", False):
        return problem(400, "Invalid input", str(error))
    log.error("storage limit: %s", error)
    return problem(500, "Storage limit exceeded", "the change is larger than Table Storage accepts")


def _not_found(error: BaseException) -> ApiResponse:
    transfer_id = str(getattr(error, "transfer_id", ""))
    return problem(404, "Transfer not found", f"no transfer has the id {quote(transfer_id)}")


def _already_active(error: BaseException) -> ApiResponse:
    customer, transfer_id = getattr(error, "customer_tenant_id", ""), getattr(error, "transfer_id", "")
    detail = f"customer {customer} already has the active transfer {transfer_id}"
    return problem(409, "Transfer already active", detail, transferId=transfer_id)


def _webhook_rejected(error: BaseException) -> ApiResponse:
    return problem(
        getattr(error, "status", 401),
        getattr(error, "title", "Webhook rejected"),
        str(getattr(error, "detail", error)),
    )


def _storage_unavailable(error: BaseException) -> ApiResponse:
    service = getattr(error, "service", "Storage")
    log.warning("%s", error)
    return retry_later(
        "Storage unavailable",
        f"{service} did not answer; try again later",
        DEFAULT_RETRY_AFTER,
        service=service,
    )


Answer = Callable[[BaseException], ApiResponse]

#: How the API answers each kind of error: the one table (:class:`~shared.domain.errors.ErrorKind`).
ANSWERS: Mapping[ErrorKind, Answer] = {
    ErrorKind.INVALID_INPUT: _invalid_input,
    ErrorKind.NOT_FOUND: _not_found,
    ErrorKind.NOT_ALLOWED_NOW: lambda error: problem(409, "Not allowed now", str(error)),
    ErrorKind.ALREADY_ACTIVE: _already_active,
    ErrorKind.REGION_MISMATCH: lambda error: problem(
        422, "Region mismatch", str(error), parameter="customerCountry"
    ),
    ErrorKind.THROTTLED: _throttled,
    ErrorKind.CUSTOMER_ACCESS_MISSING: _upstream(409, "Customer access missing"),
    ErrorKind.UPSTREAM: _upstream(502, "Upstream service error"),
    ErrorKind.ENTRA_REFUSED: _token,
    ErrorKind.CONFIGURATION: _configuration,
    ErrorKind.REFERENCE_UNAVAILABLE: _reference_unavailable,
    ErrorKind.STORAGE_LIMIT: _storage_limit,
    ErrorKind.STORAGE_UNAVAILABLE: _storage_unavailable,
    ErrorKind.BUSY: lambda error: retry_later(
        "Busy", "the transfer kept changing while it was being updated; try again", 1
    ),
    ErrorKind.WEBHOOK_REJECTED: _webhook_rejected,
}


def problem_for(error: BaseException) -> ApiResponse:
    """The problem an escaped exception stands for, by its kind; anything else is logged and
    answered 500 (the storage clients turn the Azure SDK's failures into errors of theirs)."""
    kind = getattr(type(error), "kind", None)
    if isinstance(kind, ErrorKind):
        return ANSWERS[kind](error)
    log.error("unhandled error in a handler", exc_info=error)
    return problem(500, "Internal error", "the request failed unexpectedly; the error was logged")


def answer(handler: Callable[[], ApiResponse], *, seconds: float = HTTP_ROUTE_DEADLINE) -> ApiResponse:
    """Run a handler inside the boundary: its response, or the problem for what it raised.

    Every call to Microsoft inside it ends before Azure's 230-second limit on an HTTP answer.
    """
    try:
        with deadline(seconds):
            return handler()
    except Exception as error:
        return problem_for(error)


def _call_ids(error: ServiceError) -> dict[str, Any]:
    return {
        "service": error.service,
        "code": error.code,
        "requestId": error.request_id,
        "correlationId": error.correlation_id,
    }
