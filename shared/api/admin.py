"""The admin HTTP API's logic: parse the request at the edge, call one use case, answer JSON.

Kept free of ``azure.functions`` so it runs and tests without the host; ``function_app.py`` only
turns an :class:`~shared.api.problems.ApiResponse` into an ``HttpResponse``. Errors are not caught
here: the boundary answers each by its kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.api.failures import failures_json
from shared.api.listing import (
    MAX_EXPORT_ROWS,
    ListRequest,
    listing_csv,
    listing_json,
    page_size,
    parse_list_query,
)
from shared.api.openapi import openapi_document
from shared.api.parsing import (
    json_object,
    parse_decisions,
    parse_retry,
    parse_start_request,
    parse_tenant_query,
)
from shared.api.problems import ApiResponse, problem, quote
from shared.api.views import record_json
from shared.domain import TransferState, is_transfer_id
from shared.domain.summary import Listing
from shared.store.records import TransferRecord
from shared.workflow import admin
from shared.workflow.customers import UnknownCustomerError, find_customer
from shared.workflow.rules.access import access_ready

if TYPE_CHECKING:
    from shared.api.webhooks import WebhookVerifier
    from shared.store.repository import TransferStore
    from shared.workflow.context import StepContext
    from shared.workflow.intake import Intake


HISTORY_PAGE_SIZE = 100


class AdminApi:
    """The admin routes' logic over the store; the rest is built on first use (listing needs no
    secrets, and a webhook needs only the store and the queue). Refusals a route cannot explain
    itself are raised for the boundary (:func:`~shared.api.problems.problem_for`) to answer.

    ``attention_lead`` is the cutover's lead: an original lapsing within it needs attention."""

    def __init__(
        self,
        store: TransferStore,
        *,
        context: Callable[[], StepContext],
        intake: Callable[[], Intake],
        webhooks: Callable[[], WebhookVerifier],
        attention_lead: timedelta = timedelta(days=7),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._context = context
        self._intake = intake
        self._webhooks = webhooks
        self._lead = attention_lead
        self._clock = clock

    def list_transfers(self, query: Mapping[str, str]) -> ApiResponse:
        """One page of list rows with the counts per stage, or (``format=csv``) the whole filtered list."""
        now = self._clock()
        parsed = parse_list_query(query, now, self._lead)
        if isinstance(parsed, ApiResponse):
            return parsed
        if parsed.csv:
            return self._export(parsed, now)
        page = self._store.list_transfers(
            parsed.query, page_size=parsed.page_size, continuation_token=parsed.continuation_token
        )
        body = {
            "items": [listing_json(x, now, self._lead) for x in page.items],
            "continuationToken": page.continuation_token,
            "counts": self._store.counts(now + self._lead),
        }
        return ApiResponse(200, body)

    def _export(self, request: ListRequest, now: datetime) -> ApiResponse:
        """Every page of the filtered list, a thousand rows a read, up to :data:`MAX_EXPORT_ROWS`;
        ``X-Rows-Omitted: true`` says the list went on beyond them."""
        rows: list[Listing] = []
        token = request.continuation_token
        while len(rows) < MAX_EXPORT_ROWS:
            page = self._store.list_transfers(request.query, page_size=1000, continuation_token=token)
            rows.extend(page.items)
            token = page.continuation_token
            if token is None:
                break
        headers = {"Content-Disposition": 'attachment; filename="transfers.csv"'}
        if token is not None or len(rows) > MAX_EXPORT_ROWS:
            headers["X-Rows-Omitted"] = "true"
        body = listing_csv(rows[:MAX_EXPORT_ROWS], now, self._lead)
        return ApiResponse(200, body, headers, media_type="text/csv; charset=utf-8")

    def get_transfer(self, transfer_id: str, query: Mapping[str, str] | None = None) -> ApiResponse:
        """The header and lines, with one page of history (``historyPageSize``,
        ``historyContinuationToken`` page further)."""
        query = query or {}
        size = page_size(query, "historyPageSize", HISTORY_PAGE_SIZE)
        if isinstance(size, ApiResponse):
            return size
        found = self._record(transfer_id)
        if isinstance(found, ApiResponse):
            return found
        token = query.get("historyContinuationToken") or None
        history = self._store.history(transfer_id, page_size=size, continuation_token=token)
        return ApiResponse(200, record_json(found, history, self._clock(), self._lead))

    def line_failures(self, transfer_id: str, line_id: str) -> ApiResponse:
        """A line's failed users, named through Graph now (never stored), with what to do for each; a
        tenant Graph will not read (no relationship or GDAP role) is the boundary's 409."""
        found = self._record(transfer_id)
        if isinstance(found, ApiResponse):
            return found
        line = next((x for x in found.lines if x.id == line_id.lower()), None)
        if line is None:
            return problem(404, "Line not found", f"the transfer has no line {quote(line_id)}")
        if not line.user_failures:
            return ApiResponse(200, {"items": []})
        ids = [f.user_id for f in line.user_failures]
        names = self._context().graph.user_names(found.transfer.customer_tenant_id, ids)
        return ApiResponse(200, failures_json(line.user_failures, names))

    def tenant(self, query: Mapping[str, str]) -> ApiResponse:
        """A customer's tenant by one of its domains or by its id, with its name: no relationship
        needed, so the start form can show whom it is about to invite."""
        asked = parse_tenant_query(query)
        if isinstance(asked, ApiResponse):
            return asked
        domain, tenant_id = asked
        try:
            found = find_customer(self._context(), tenant_id=tenant_id, domain=domain)
        except UnknownCustomerError as unknown:
            return problem(
                404, "Unknown customer", str(unknown), parameter="domain" if domain else "tenantId"
            )
        body = {
            "tenantId": found.tenant_id,
            "displayName": found.name,
            "defaultDomain": found.domain,
            "activeTransferId": self._store.active_transfer_id(found.tenant_id),
        }
        return ApiResponse(200, body)

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
        history = self._store.history(record.transfer.id, page_size=HISTORY_PAGE_SIZE)
        return record_json(record, history, self._clock(), self._lead)

    def _record(self, transfer_id: str) -> TransferRecord | ApiResponse:
        if not is_transfer_id(transfer_id):
            return _bad_id(transfer_id)
        return self._store.get(transfer_id)


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
