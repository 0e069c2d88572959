"""One hierarchy of errors for Partner Center and Microsoft Graph calls.

Every error carries what the operations team and the workflow need to decide: the HTTP status,
the service's own error code and text, the request and correlation ids to quote to Microsoft,
whether trying again can help, and how long to wait first. Known codes get their own class so
callers branch on types, never on message strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from shared.domain.errors import ErrorKind

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class CallIds:
    """The ids that identify one call in the service's logs."""

    request_id: str | None = None
    correlation_id: str | None = None


class ServiceError(Exception):
    """A call to Partner Center, Graph or Entra failed; the base of every client error.

    ``service`` names who failed; a kind that any service can raise (a deadline, an unknown
    outcome) takes it per instance.
    """

    kind: ClassVar[ErrorKind] = ErrorKind.UPSTREAM

    service: str = "service"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        ids: CallIds = CallIds(),
        retryable: bool | None = None,
        retry_after: float | None = None,
        service: str | None = None,
    ) -> None:
        super().__init__(message)
        if service is not None:
            self.service = service
        self.status = status
        self.code = code
        self.message = message
        self.request_id = ids.request_id
        self.correlation_id = ids.correlation_id
        if retryable is None:  # a retry-later says so whatever the status (a deadline has none)
            retryable = status in RETRYABLE_STATUSES or isinstance(self, RetryLaterError)
        self.retryable = retryable
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [f"{self.service} {self.status or '-'} {self.code or '-'}: {self.message}"]
        if self.request_id:
            parts.append(f"request id {self.request_id}")
        if self.correlation_id:
            parts.append(f"correlation id {self.correlation_id}")
        return "; ".join(parts)


class PartnerCenterError(ServiceError):
    """Partner Center answered with an error (``{code, description}``)."""

    service = "Partner Center"

    @property
    def description(self) -> str:
        return self.message


class GraphError(ServiceError):
    """Microsoft Graph answered with an error (``{"error": {code, message}}``)."""

    service = "Graph"


# Kinds that both services can raise: catch these to handle the situation whichever service said it.


class RetryLaterError(ServiceError):
    """Throttled for longer than is worth sleeping inside a function: re-enqueue after ``retry_after``."""

    kind: ClassVar[ErrorKind] = ErrorKind.THROTTLED


class DeadlineExceededError(RetryLaterError):
    """The operation's deadline (see :func:`shared.transport.deadline`) ran out before the call
    could finish: nothing more was tried. Re-enqueue, or answer 503, after ``retry_after``."""


class OutcomeUnknownError(ServiceError):
    """A write got no answer (dropped, timed out, 5xx): the service may or may not have done it.

    ``retryable`` says whether repeating it as is would be safe (Partner Center with the same
    ``MS-RequestId``); when it is false (Graph), read the current state and reconcile first.
    """


class PagingLoopError(ServiceError):
    """A listing handed back a next-page link or continuation token it had already given."""


class OutOfLicensesError(ServiceError):
    """No seat left to assign (Partner Center 60012, Graph ``CountViolation``/not enough licenses)."""


class UnauthorizedError(ServiceError):
    """The token was refused even after acquiring a fresh one: credentials or consent are wrong."""

    kind: ClassVar[ErrorKind] = ErrorKind.CUSTOMER_ACCESS_MISSING


class PartnerCenterRetryLaterError(PartnerCenterError, RetryLaterError):
    """Partner Center throttled the call (429) for longer than the client sleeps."""

    kind: ClassVar[ErrorKind] = ErrorKind.THROTTLED


class GraphRetryLaterError(GraphError, RetryLaterError):
    """Graph throttled the call (429) for longer than the client sleeps."""

    kind: ClassVar[ErrorKind] = ErrorKind.THROTTLED


class PartnerCenterOutOfLicensesError(PartnerCenterError, OutOfLicensesError):
    """Partner Center 60012: the license quota is used up."""


class GraphOutOfLicensesError(GraphError, OutOfLicensesError):
    """Graph refused an assignment because the SKU has no free seat."""


class PartnerCenterUnauthorizedError(PartnerCenterError, UnauthorizedError):
    """Partner Center refused a freshly acquired token."""

    kind: ClassVar[ErrorKind] = ErrorKind.CUSTOMER_ACCESS_MISSING


class GraphUnauthorizedError(GraphError, UnauthorizedError):
    """Graph refused a freshly acquired token."""

    kind: ClassVar[ErrorKind] = ErrorKind.CUSTOMER_ACCESS_MISSING


# Partner Center's named codes.


class NoRelationshipError(PartnerCenterError):
    """20002: no reseller relationship with the customer (yet, or any more)."""

    kind: ClassVar[ErrorKind] = ErrorKind.CUSTOMER_ACCESS_MISSING


class PartnerNotOnboardedInCountryError(PartnerCenterError):
    """2030: the partner may not sell in the customer's country."""


class OfferNotAvailableInCountryError(PartnerCenterError):
    """800070: the offer cannot be bought in the customer's country."""


class OrderInProgressError(PartnerCenterError):
    """800060: an order is already in progress; wait, then reconcile before buying again."""


class CartBusyError(PartnerCenterError):
    """800064: another request is checking out the same cart."""


class CartAlreadySubmittedError(PartnerCenterError):
    """800065: the cart was already checked out; look for its order instead of buying again."""


class AgreementAlreadyConfirmedError(PartnerCenterError):
    """600061 ``PartnerConfirmedAgreementAlreadyExists``: this acceptance was confirmed before."""


class AppUserRequiredError(PartnerCenterError):
    """403 on an operation that refuses app-only tokens (it needs the app + user flow)."""


# Graph's named errors.


class GdapRoleMissingError(GraphError):
    """403 ``Authorization_RequestDenied``: no active GDAP relationship with a role that permits this."""

    kind: ClassVar[ErrorKind] = ErrorKind.CUSTOMER_ACCESS_MISSING


class UsageLocationMissingError(GraphError):
    """The user has no usage location, so no license can be assigned."""


class MutuallyExclusivePlansError(GraphError):
    """A service plan of the new SKU conflicts with one the user already holds."""


class GroupInheritedLicenseError(GraphError):
    """The license comes from a group; only the group's assignment can change it."""


class TokenAcquisitionError(ServiceError):
    """Entra gave no token: refused (bad secret, revoked refresh token, missing consent), failed
    (5xx, throttled, no answer), or its authority's discovery document could not be fetched.

    ``error`` is Entra's OAuth error code (``invalid_client``...) or ours for a failure without
    one (``http_503``, ``connection_failed``, ``discovery_failed``...).
    """

    kind: ClassVar[ErrorKind] = ErrorKind.ENTRA_REFUSED

    service = "Entra"

    def __init__(
        self,
        error: str,
        description: str,
        *,
        authority: str,
        correlation_id: str | None = None,
        status: int | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            f"token for {authority} not issued: {error}: {description}",
            status=status,
            code=error,
            ids=CallIds(correlation_id=correlation_id),
            retryable=retryable,
            retry_after=retry_after,
        )
        self.error = error
        self.description = description
        self.authority = authority


class TokenRetryLaterError(TokenAcquisitionError, RetryLaterError):
    """Entra throttled token requests for longer than the client sleeps."""

    kind: ClassVar[ErrorKind] = ErrorKind.THROTTLED


_PARTNER_CENTER_CODES: Mapping[str, type[PartnerCenterError]] = {
    "20002": NoRelationshipError,
    "2030": PartnerNotOnboardedInCountryError,
    "800070": OfferNotAvailableInCountryError,
    "800060": OrderInProgressError,
    "800064": CartBusyError,
    "800065": CartAlreadySubmittedError,
    "60012": PartnerCenterOutOfLicensesError,
    "600061": AgreementAlreadyConfirmedError,
}

# Graph error codes are broad ("Request_BadRequest"); the situation is in the message. These
# fragments are the texts Graph answers with ("License assignment cannot be done for user with
# invalid usage location.", "User license is inherited from group membership and cannot be removed
# directly from the user.") plus the licenseAssignmentState error codes (Learn,
# "licenseAssignmentState resource type": CountViolation, MutuallyExclusiveViolation, ...).
_GRAPH_MESSAGES: tuple[tuple[str, type[GraphError]], ...] = (
    ("invalid usage location", UsageLocationMissingError),
    ("usagelocation", UsageLocationMissingError),
    ("prohibitedinusagelocation", UsageLocationMissingError),
    ("inherited from group", GroupInheritedLicenseError),
    ("mutually exclusive", MutuallyExclusivePlansError),
    ("mutuallyexclusiveviolation", MutuallyExclusivePlansError),
    ("countviolation", GraphOutOfLicensesError),
    ("not enough licenses", GraphOutOfLicensesError),
    ("does not have any available licenses", GraphOutOfLicensesError),
)

# Partner Center enforces app + user on some operations (each operation's "Prerequisites" on Learn
# say which; "Partner Center authentication") and says so with a 403 whose text names the
# application credentials.
_APP_ONLY_REFUSED = ("application credentials", "app only", "app-only", "app+user", "app + user")


def parse_json_body(body: bytes) -> Mapping[str, Any]:
    """The body as a JSON object, or an empty mapping when it is empty or not an object."""
    try:
        data = json.loads(body) if body else {}
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def partner_center_error(
    status: int, body: bytes, ids: CallIds, *, retry_after: float | None = None
) -> PartnerCenterError:
    """The typed error for a Partner Center error response."""
    data = parse_json_body(body)
    code = _text(data.get("code"))
    description = _text(data.get("description")) or _text(data.get("message")) or f"HTTP {status}"
    kind: type[PartnerCenterError] = _PARTNER_CENTER_CODES.get(code or "", PartnerCenterError)
    if status == 429:
        kind = PartnerCenterRetryLaterError
    elif status == 401:
        kind = PartnerCenterUnauthorizedError
    elif status == 403 and kind is PartnerCenterError and _mentions(description, _APP_ONLY_REFUSED):
        kind = AppUserRequiredError
    retryable = True if kind in (OrderInProgressError, CartBusyError) else None
    return kind(description, status=status, code=code, ids=ids, retryable=retryable, retry_after=retry_after)


def graph_error(status: int, body: bytes, ids: CallIds, *, retry_after: float | None = None) -> GraphError:
    """The typed error for a Graph error response."""
    return graph_error_from_json(status, parse_json_body(body), ids, retry_after=retry_after)


def graph_error_from_json(
    status: int, data: Mapping[str, Any], ids: CallIds, *, retry_after: float | None = None
) -> GraphError:
    """The typed error for a parsed Graph error body (also one item of a ``$batch``)."""
    error = data.get("error")
    error = error if isinstance(error, dict) else {}
    code = _text(error.get("code"))
    message = _text(error.get("message")) or f"HTTP {status}"
    kind: type[GraphError] = GraphError
    if status == 429:
        kind = GraphRetryLaterError
    elif status == 401:
        kind = GraphUnauthorizedError
    elif status == 403 and code == "Authorization_RequestDenied":
        kind = GdapRoleMissingError
    else:
        details = error.get("details")
        detail_codes = (
            [str(d.get("code", "")) for d in details if isinstance(d, dict)]
            if isinstance(details, list)
            else []
        )
        lowered = " ".join([code or "", message, *detail_codes]).lower()
        kind = next((k for fragment, k in _GRAPH_MESSAGES if fragment in lowered), GraphError)
    return kind(message, status=status, code=code, ids=ids, retry_after=retry_after)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _mentions(text: str, fragments: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(fragment in lowered for fragment in fragments)


def brief(error: BaseException, limit: int = 400) -> str:
    """An error's text for a record or a problem, cut to a bounded length."""
    text = str(error) or type(error).__name__
    return text if len(text) <= limit else text[:limit] + "…"


def said(error: BaseException, limit: int = 400) -> str:
    """What an error says, without the call's ids: a history entry keeps those apart, in its
    details (:func:`call_details`), so its sentence reads without them."""
    if not isinstance(error, ServiceError):
        return brief(error, limit)
    text = f"{error.service} {error.status or '-'} {error.code or '-'}: {error.message}"
    return text if len(text) <= limit else text[:limit] + "…"


def call_details(error: BaseException) -> tuple[tuple[str, str], ...]:
    """The ids of the failed call (to quote to Microsoft), for a history entry's details."""
    if not isinstance(error, ServiceError):
        return ()
    ids = (("requestId", error.request_id), ("correlationId", error.correlation_id))
    return tuple((name, value) for name, value in ids if value)
