"""The admin HTTP API's logic: parse the request, call the store, answer JSON or problem+json.

Kept free of ``azure.functions`` so it runs and tests without the host; ``function_app.py``
only turns an :class:`ApiResponse` into an ``HttpResponse``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from .domain import HistoryEntry, Line, Transfer, TransferState, is_transfer_id
from .problems import ApiResponse, problem, quote
from .settings import whole_number
from .store import (
    HistoryPage,
    InvalidContinuationTokenError,
    TransferNotFoundError,
    TransferRecord,
    TransferStore,
)

if TYPE_CHECKING:
    from .planning import Planner

_STATES = ", ".join(s.value for s in TransferState)
MAX_PAGE_SIZE = 1000
LIST_PAGE_SIZE = 50
HISTORY_PAGE_SIZE = 100


class AdminApi:
    def __init__(self, store: TransferStore, planner: Callable[[], Planner]) -> None:
        self._store = store
        self._planner = planner  # built on first use: listing transfers needs no partner secrets

    def list_transfers(self, query: Mapping[str, str]) -> ApiResponse:
        state_text = query.get("state")
        try:
            state = TransferState(state_text) if state_text else None
        except ValueError:
            return problem(
                400,
                "Invalid filter",
                f"state must be one of {_STATES}; got {quote(state_text or '')}",
                parameter="state",
            )
        size = _page_size(query, "pageSize", LIST_PAGE_SIZE)
        if isinstance(size, ApiResponse):
            return size
        try:
            page = self._store.list_transfers(
                state=state, page_size=size, continuation_token=query.get("continuationToken") or None
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

    def get_transfer(self, transfer_id: str, query: Mapping[str, str] | None = None) -> ApiResponse:
        """The header and lines, with one page of history (``historyPageSize``,
        ``historyContinuationToken`` page further)."""
        query = query or {}
        size = _page_size(query, "historyPageSize", HISTORY_PAGE_SIZE)
        if isinstance(size, ApiResponse):
            return size
        found = self._record(transfer_id)
        if isinstance(found, ApiResponse):
            return found
        try:
            history = self._store.history(
                transfer_id, page_size=size, continuation_token=query.get("historyContinuationToken") or None
            )
        except InvalidContinuationTokenError as error:
            return problem(400, "Invalid filter", str(error), parameter="historyContinuationToken")
        return ApiResponse(200, record_json(found, history))

    def plan_transfer(self, transfer_id: str) -> ApiResponse:
        """The plan computed now from live data, buying nothing (a dry run).

        Upstream failures (throttling, missing access, a refused token) are raised for the
        boundary in :mod:`shared.problems` to answer.
        """
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
        plan = self._planner().plan(transfer)
        return ApiResponse(200, {"transferId": transfer.id, **plan.to_json()})

    def _record(self, transfer_id: str) -> TransferRecord | ApiResponse:
        if not is_transfer_id(transfer_id):
            return problem(
                400,
                "Invalid transfer id",
                f"a transfer id is 32 lowercase hex digits; got {quote(transfer_id)}",
            )
        try:
            return self._store.get(transfer_id)
        except TransferNotFoundError:
            return problem(404, "Transfer not found", f"no transfer has the id {transfer_id}")


def _page_size(query: Mapping[str, str], parameter: str, default: int) -> int | ApiResponse:
    text = query.get(parameter)
    if text is None:
        return default
    size = whole_number(text, 1, MAX_PAGE_SIZE)
    if size is None:
        return problem(
            400,
            "Invalid filter",
            f"{parameter} must be a whole number from 1 to {MAX_PAGE_SIZE} (ASCII digits); got {quote(text)}",
            parameter=parameter,
        )
    return size


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


def record_json(record: TransferRecord, history: HistoryPage) -> dict[str, Any]:
    return {
        **transfer_json(record.transfer),
        "lines": [line_json(x) for x in record.lines],
        "history": [history_json(h) for h in history.entries],
        "historyContinuationToken": history.continuation_token,
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
