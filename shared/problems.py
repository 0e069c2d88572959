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

from azure.core.exceptions import AzureError

from .catalog.reference import SkuReferenceError
from .errors import (
    GdapRoleMissingError,
    NoRelationshipError,
    RetryLaterError,
    ServiceError,
    TokenAcquisitionError,
    UnauthorizedError,
)
from .settings import SettingError
from .store import (
    ConcurrencyError,
    InvalidContinuationTokenError,
    StorageLimitError,
    TransferNotFoundError,
)
from .transport import HTTP_ROUTE_DEADLINE, deadline

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
MAX_QUOTED_CHARS = 100
DEFAULT_RETRY_AFTER = 60
MAX_RETRY_AFTER = 3600


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return PROBLEM_JSON if self.status >= 400 else "application/json"

    def encoded(self) -> bytes:
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


def problem_for(error: BaseException) -> ApiResponse:
    """The problem an escaped exception stands for; unknown kinds are logged and answered 500."""
    if isinstance(error, RetryLaterError):
        return retry_later("Throttled", str(error), error.retry_after, **_call_ids(error))
    if isinstance(error, TokenAcquisitionError):  # Entra's description is left out: it may echo ids
        answered = f", HTTP {error.status}" if error.status else ""
        cause = (
            "Entra is failing or unreachable; try again later"
            if error.retryable
            else "check the partner app's credentials and consent"
        )
        return problem(
            502,
            "Upstream service error",
            f"Entra did not issue a token ({error.error}{answered}); {cause}",
            service="Entra",
            code=error.error,
            correlationId=error.correlation_id,
        )
    if isinstance(error, NoRelationshipError | GdapRoleMissingError | UnauthorizedError):
        return upstream_problem(409, "Customer access missing", error)
    if isinstance(error, ServiceError):
        return upstream_problem(502, "Upstream service error", error)
    if isinstance(error, SettingError):
        log.error("configuration error: %s", error)
        return problem(
            503,
            "Configuration error",
            f"the app setting {error.setting} is missing or malformed; an operator must fix it",
            setting=error.setting,
        )
    if isinstance(error, SkuReferenceError):
        log.error("SKU reference unavailable: %s", error)
        return retry_later(
            "SKU reference unavailable",
            "Microsoft's SKU reference table could not be loaded; matching needs it",
            DEFAULT_RETRY_AFTER,
        )
    if isinstance(error, InvalidContinuationTokenError):
        return problem(400, "Invalid filter", str(error), parameter="continuationToken")
    if isinstance(error, TransferNotFoundError):
        return problem(404, "Transfer not found", f"no transfer has the id {quote(error.transfer_id)}")
    if isinstance(error, StorageLimitError):
        if error.from_input:
            return problem(400, "Invalid input", str(error))
        log.error("storage limit: %s", error)
        return problem(500, "Storage limit exceeded", "the change is larger than Table Storage accepts")
    if isinstance(error, ConcurrencyError):
        return retry_later("Busy", "the transfer kept changing while it was being updated; try again", 1)
    if isinstance(error, AzureError):
        log.warning("Table Storage failed: %s", type(error).__name__)
        return retry_later(
            "Storage unavailable", "Table Storage did not answer; try again later", DEFAULT_RETRY_AFTER
        )
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
