"""The admin HTTP API's logic: parse the request, call the store, answer JSON or problem+json.

Kept free of ``azure.functions`` so it runs and tests without the host; ``function_app.py``
only turns an :class:`ApiResponse` into an ``HttpResponse``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from .domain import HistoryEntry, Line, Transfer, TransferState, is_transfer_id
from .errors import (
    GdapRoleMissingError,
    NoRelationshipError,
    RetryLaterError,
    ServiceError,
    UnauthorizedError,
)
from .store import InvalidContinuationTokenError, TransferNotFoundError, TransferRecord, TransferStore
from .transport import HTTP_ROUTE_DEADLINE, deadline

if TYPE_CHECKING:
    from .planning import Planner

PROBLEM_JSON = "application/problem+json"
_STATES = ", ".join(s.value for s in TransferState)


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return PROBLEM_JSON if self.status >= 400 else "application/json"

    def encoded(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()


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
    return problem(
        status,
        title,
        str(error),
        service=error.service,
        code=error.code,
        requestId=error.request_id,
        correlationId=error.correlation_id,
    )


class AdminApi:
    def __init__(
        self,
        store: TransferStore,
        planner: Callable[[], Planner],
        *,
        upstream_deadline: float = HTTP_ROUTE_DEADLINE,
    ) -> None:
        self._store = store
        self._planner = planner  # built on first use: listing transfers needs no partner secrets
        self._upstream_deadline = upstream_deadline  # under Azure's 230 s limit on an HTTP answer

    def list_transfers(self, query: Mapping[str, str]) -> ApiResponse:
        state_text = query.get("state")
        try:
            state = TransferState(state_text) if state_text else None
        except ValueError:
            return problem(
                400,
                "Invalid filter",
                f"state must be one of {_STATES}; got {state_text!r}",
                parameter="state",
            )
        size_text = query.get("pageSize", "50")
        if not size_text.isdigit() or not 1 <= int(size_text) <= 1000:
            return problem(
                400,
                "Invalid filter",
                f"pageSize must be a whole number from 1 to 1000; got {size_text!r}",
                parameter="pageSize",
            )
        try:
            page = self._store.list_transfers(
                state=state,
                page_size=int(size_text),
                continuation_token=query.get("continuationToken") or None,
            )
        except InvalidContinuationTokenError as error:
            return problem(400, "Invalid filter", str(error), parameter="continuationToken")
        return ApiResponse(
            200,
            {
                "items": [transfer_json(t) for t in page.transfers],
                "continuationToken": page.continuation_token,
            },
        )

    def get_transfer(self, transfer_id: str) -> ApiResponse:
        found = self._record(transfer_id)
        return found if isinstance(found, ApiResponse) else ApiResponse(200, record_json(found))

    def plan_transfer(self, transfer_id: str) -> ApiResponse:
        """The plan computed now from live data, buying nothing (a dry run)."""
        found = self._record(transfer_id)
        if isinstance(found, ApiResponse):
            return found
        transfer = found.transfer
        if transfer.state is TransferState.AWAITING_ACCEPTANCE:
            return problem(
                409,
                "Invitation not accepted",
                "the plan reads the customer's tenant, which "
                "needs the reseller relationship and GDAP the customer has not granted yet",
            )
        if not transfer.is_active:
            return problem(
                409, "Transfer finished", f"the transfer is {transfer.state}; there is nothing left to plan"
            )
        try:
            with deadline(self._upstream_deadline):
                plan = self._planner().plan(transfer)
        except RetryLaterError as error:
            throttled = upstream_problem(503, "Throttled", error)
            return ApiResponse(
                503, throttled.body, {"Retry-After": str(max(1, round(error.retry_after or 60)))}
            )
        except (NoRelationshipError, GdapRoleMissingError, UnauthorizedError) as error:
            return upstream_problem(409, "Customer access missing", error)
        except ServiceError as error:
            return upstream_problem(502, "Upstream service error", error)
        return ApiResponse(200, {"transferId": transfer.id, **plan.to_json()})

    def _record(self, transfer_id: str) -> TransferRecord | ApiResponse:
        if not is_transfer_id(transfer_id):
            return problem(
                400, "Invalid transfer id", f"a transfer id is 32 lowercase hex digits; got {transfer_id!r}"
            )
        try:
            return self._store.get(transfer_id)
        except TransferNotFoundError:
            return problem(404, "Transfer not found", f"no transfer has the id {transfer_id}")


@cache
def admin_api() -> AdminApi:
    """The process-wide API over the configured storage (the table is created on first use)."""
    from .planning import planner
    from .settings import get_settings

    store = TransferStore.connect(get_settings().storage)
    store.ensure_table()
    return AdminApi(store, planner)


def transfer_json(t: Transfer) -> dict[str, Any]:
    return {
        "id": t.id,
        "customerTenantId": t.customer_tenant_id,
        "customerCountry": t.customer_country,
        "sourceChannel": t.source_channel.value,
        "state": t.state.value,
        "reason": t.reason,
        "resumeState": t.resume_state.value if t.resume_state else None,
        "contactEmail": t.contact_email,
        "invitationUrl": t.invitation_url,
        "options": {"termDuration": t.options.term_duration, "billingCycle": t.options.billing_cycle},
        "createdAt": _iso(t.created_at),
        "updatedAt": _iso(t.updated_at),
    }


def line_json(line: Line) -> dict[str, Any]:
    return {
        "id": line.id,
        "sourceSkuId": line.source_sku_id,
        "sourceSkuPartNumber": line.source_sku_part_number,
        "quantity": line.quantity,
        "state": line.state.value,
        "reason": line.reason,
        "originalExpires": _iso(line.original_expires) if line.original_expires else None,
        "decision": line.decision,
        "catalogItemIds": list(line.catalog_item_ids),
        "replacementSkuIds": list(line.replacement_sku_ids),
        "orderIds": list(line.order_ids),
        "subscriptionIds": list(line.subscription_ids),
        "licenses": {"toMove": line.users_to_move, "moved": line.users_moved, "failed": line.users_failed},
    }


def history_json(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": _iso(entry.at),
        "action": entry.action,
        "actor": entry.actor,
        "message": entry.message,
        "fromState": entry.from_state,
        "toState": entry.to_state,
        "lineId": entry.line_id,
    }


def record_json(record: TransferRecord) -> dict[str, Any]:
    return {
        **transfer_json(record.transfer),
        "lines": [line_json(x) for x in record.lines],
        "history": [history_json(h) for h in record.history],
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
