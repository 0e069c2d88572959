"""The admin HTTP API's logic: parse the request at the edge, call one use case, answer JSON.

Kept free of ``azure.functions`` so it runs and tests without the host; ``function_app.py`` only
turns an :class:`~shared.api.problems.ApiResponse` into an ``HttpResponse``. Errors are not caught
here: the boundary answers each by its kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shared.api.openapi import openapi_document
from shared.api.parsing import json_object, parse_decisions, parse_retry, parse_start_request
from shared.api.problems import ApiResponse, problem, quote
from shared.api.views import record_json, transfer_json
from shared.domain import TransferState, is_transfer_id
from shared.settings import whole_number
from shared.store.records import TransferRecord
from shared.workflow import admin
from shared.workflow.rules.access import access_ready

if TYPE_CHECKING:
    from shared.api.webhooks import WebhookVerifier
    from shared.store.repository import TransferStore
    from shared.workflow.context import StepContext
    from shared.workflow.intake import Intake


_STATES = ", ".join(s.value for s in TransferState)
MAX_PAGE_SIZE = 1000
LIST_PAGE_SIZE = 50
HISTORY_PAGE_SIZE = 100


class AdminApi:
    """The admin routes' logic over the store; the rest is built on first use (listing needs no
    secrets, and a webhook needs only the store and the queue). Refusals a route cannot explain
    itself are raised for the boundary (:func:`~shared.api.problems.problem_for`) to answer."""

    def __init__(
        self,
        store: TransferStore,
        *,
        context: Callable[[], StepContext],
        intake: Callable[[], Intake],
        webhooks: Callable[[], WebhookVerifier],
    ) -> None:
        self._store = store
        self._context = context
        self._intake = intake
        self._webhooks = webhooks

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
        token = query.get("continuationToken") or None
        page = self._store.list_transfers(state=state, page_size=size, continuation_token=token)
        body = {
            "items": [transfer_json(t) for t in page.transfers],
            "continuationToken": page.continuation_token,
        }
        return ApiResponse(200, body)

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
        token = query.get("historyContinuationToken") or None
        history = self._store.history(transfer_id, page_size=size, continuation_token=token)
        return ApiResponse(200, record_json(found, history))

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
        if not access_ready(transfer):
            status = transfer.gdap.status if transfer.gdap else "not requested"
            return problem(
                409,
                "Delegated access not ready",
                f"the plan reads the customer's tenant, which needs the product's delegated access there; "
                f"it is not set up and verified yet (GDAP request: {status})",
            )
        plan = self._context().planner.plan(transfer)
        return ApiResponse(200, {"transferId": transfer.id, **plan.to_json()})

    def openapi(self) -> ApiResponse:
        return ApiResponse(200, dict(openapi_document()))

    # -- what changes a transfer ------------------------------------------------------------------

    def start_transfer(self, body: bytes) -> ApiResponse:
        """Validate, check the region, store, and answer what the customer's admin must do."""
        parsed = parse_start_request(body)
        if isinstance(parsed, ApiResponse):
            return parsed
        record = admin.start_transfer(self._context(), parsed)
        return ApiResponse(201, self._json(record), {"Location": f"/api/transfers/{record.transfer.id}"})

    def approve(self, transfer_id: str, body: bytes) -> ApiResponse:
        decisions = parse_decisions(body)
        if isinstance(decisions, ApiResponse):
            return decisions
        approve, decline, choose = decisions
        return self._change(
            transfer_id, lambda: admin.approve(self._context(), transfer_id, approve, decline, choose)
        )

    def retry(self, transfer_id: str, body: bytes = b"") -> ApiResponse:
        """``{"customerContact": {...}}`` gives what a transfer blocked on the customer's agreement needs."""
        contact = parse_retry(body)
        if isinstance(contact, ApiResponse):
            return contact
        return self._change(
            transfer_id, lambda: admin.retry(self._context(), transfer_id, contact), status=202
        )

    def cancel(self, transfer_id: str, body: bytes = b"") -> ApiResponse:
        """``{"partnerTransferOnly": true}`` cancels only the pending partner transfer request;
        ``{"refundPurchases": true}`` cancels the new subscriptions too, inside their window."""
        data = json_object(body or b"{}")
        if isinstance(data, ApiResponse):
            return data
        only, refund = data.get("partnerTransferOnly", False), data.get("refundPurchases", False)
        if set(data) - {"partnerTransferOnly", "refundPurchases"} or not isinstance(only, bool):
            return _cancel_body()
        if not isinstance(refund, bool) or (only and refund):
            return _cancel_body()
        return self._change(
            transfer_id,
            lambda: admin.cancel(
                self._context(), transfer_id, partner_transfer_only=only, refund_purchases=refund
            ),
        )

    def receive_webhook(self, headers: Mapping[str, str], body: bytes) -> ApiResponse:
        """Verify the delivery, then queue it: 200 only once the event is safely on the queue."""
        event = self._webhooks().verify(headers, body)
        return ApiResponse(200, {"status": self._intake().take_webhook(event)})

    def _change(
        self, transfer_id: str, act: Callable[[], TransferRecord], *, status: int = 200
    ) -> ApiResponse:
        if not is_transfer_id(transfer_id):
            return _bad_id(transfer_id)
        return ApiResponse(status, self._json(act()))

    def _json(self, record: TransferRecord) -> dict[str, Any]:
        """The record as ``GET /api/transfers/{id}`` shows it, with the first page of its history."""
        return record_json(record, self._store.history(record.transfer.id, page_size=HISTORY_PAGE_SIZE))

    def _record(self, transfer_id: str) -> TransferRecord | ApiResponse:
        if not is_transfer_id(transfer_id):
            return _bad_id(transfer_id)
        return self._store.get(transfer_id)


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


def _cancel_body() -> ApiResponse:
    return problem(
        400,
        "Invalid request",
        "the body may hold partnerTransferOnly or refundPurchases (true or false, not both), nothing else",
    )


def _bad_id(transfer_id: str) -> ApiResponse:
    return problem(
        400, "Invalid transfer id", f"a transfer id is 32 lowercase hex digits; got {transfer_id[:40]!r}"
    )
