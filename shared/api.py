"""The admin HTTP API's logic: parse the request, call the store, answer JSON or problem+json.

Kept free of ``azure.functions`` so it runs and tests without the host; ``function_app.py``
only turns an :class:`ApiResponse` into an ``HttpResponse``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .domain import (
    HistoryEntry,
    IllegalTransitionError,
    Line,
    SourceChannel,
    SourcePartner,
    Transfer,
    TransferOptions,
    TransferState,
    is_transfer_id,
)
from .openapi import openapi_document
from .partner_transfer import InvalidSourcePartnerError
from .problems import ApiResponse, problem, quote
from .regions import UnknownCountryError, region_of
from .settings import whole_number
from .store import (
    ActiveTransferExistsError,
    HistoryPage,
    InvalidContinuationTokenError,
    TransferNotFoundError,
    TransferRecord,
)
from .transport import GUID
from .webhooks import WebhookRejectedError
from .workflow import RegionMismatchError, StartRequest

if TYPE_CHECKING:
    from .planning import Planner
    from .store import TransferStore
    from .webhooks import WebhookVerifier
    from .workflow import Workflow

_STATES = ", ".join(s.value for s in TransferState)
MAX_PAGE_SIZE = 1000
LIST_PAGE_SIZE = 50
HISTORY_PAGE_SIZE = 100


class AdminApi:
    """The admin routes' logic over the store; the rest is built on first use (listing needs no secrets)."""

    def __init__(
        self,
        store: TransferStore,
        *,
        workflow: Callable[[], Workflow],
        planner: Callable[[], Planner],
        webhooks: Callable[[], WebhookVerifier],
    ) -> None:
        self._store = store
        self._workflow = workflow
        self._planner = planner
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

    def openapi(self) -> ApiResponse:
        return ApiResponse(200, dict(openapi_document()))

    # -- what changes a transfer ------------------------------------------------------------------

    def start_transfer(self, body: bytes) -> ApiResponse:
        """Validate, check the region, store, and answer what the customer's admin must do."""
        parsed = parse_start_request(body)
        if isinstance(parsed, ApiResponse):
            return parsed
        try:
            record = self._workflow().start_transfer(parsed)
        except RegionMismatchError as error:
            return problem(422, "Region mismatch", str(error), parameter="customerCountry")
        except InvalidSourcePartnerError as error:
            return problem(400, "Invalid request", str(error), parameter="sourcePartnerTenantId")
        except ActiveTransferExistsError as error:
            return problem(
                409,
                "Transfer already active",
                f"customer {error.customer_tenant_id} already has the active transfer {error.transfer_id}",
                transferId=error.transfer_id,
            )
        return ApiResponse(201, self._json(record), {"Location": f"/api/transfers/{record.transfer.id}"})

    def approve(self, transfer_id: str, body: bytes) -> ApiResponse:
        decisions = parse_decisions(body)
        if isinstance(decisions, ApiResponse):
            return decisions
        approve, decline = decisions
        return self._change(transfer_id, lambda: self._workflow().approve(transfer_id, approve, decline))

    def retry(self, transfer_id: str) -> ApiResponse:
        return self._change(transfer_id, lambda: self._workflow().retry(transfer_id), status=202)

    def cancel(self, transfer_id: str, body: bytes = b"") -> ApiResponse:
        """``{"partnerTransferOnly": true}`` cancels only the pending partner transfer request."""
        data = _json_object(body or b"{}")
        if isinstance(data, ApiResponse):
            return data
        only = data.get("partnerTransferOnly", False)
        if set(data) - {"partnerTransferOnly"} or not isinstance(only, bool):
            return problem(
                400, "Invalid request", "the body may hold partnerTransferOnly (true or false), nothing else"
            )
        return self._change(
            transfer_id, lambda: self._workflow().cancel(transfer_id, partner_transfer_only=only)
        )

    def receive_webhook(self, headers: Mapping[str, str], body: bytes) -> ApiResponse:
        """Verify the delivery, then queue it: 200 only once the event is safely on the queue."""
        try:
            event = self._webhooks().verify(headers, body)
        except WebhookRejectedError as error:
            return problem(error.status, error.title, error.detail)
        return ApiResponse(200, {"status": self._workflow().take_webhook(event)})

    def _change(
        self, transfer_id: str, act: Callable[[], TransferRecord], *, status: int = 200
    ) -> ApiResponse:
        if not is_transfer_id(transfer_id):
            return _bad_id(transfer_id)
        try:
            record = act()
        except TransferNotFoundError:
            return problem(404, "Transfer not found", f"no transfer has the id {transfer_id}")
        except IllegalTransitionError as error:
            return problem(409, "Not allowed now", str(error))
        return ApiResponse(status, self._json(record))

    def _json(self, record: TransferRecord) -> dict[str, Any]:
        """The record as ``GET /api/transfers/{id}`` shows it, with the first page of its history."""
        return record_json(record, self._store.history(record.transfer.id, page_size=HISTORY_PAGE_SIZE))

    def _record(self, transfer_id: str) -> TransferRecord | ApiResponse:
        if not is_transfer_id(transfer_id):
            return _bad_id(transfer_id)
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
        "gdap": gdap_json(t),
        "customerActions": customer_actions(t),
        "options": t.options.to_json(),
        "sourcePartner": {"tenantId": t.source_partner.tenant_id, "name": t.source_partner.name}
        if t.source_partner
        else None,
        "partnerTransfer": partner_transfer_json(t),
        "apiCalls": t.api_calls,
        "createdAt": _iso(t.created_at),
        "updatedAt": _iso(t.updated_at),
    }


def gdap_json(t: Transfer) -> dict[str, Any] | None:
    if t.gdap is None:
        return None
    return {
        "relationshipId": t.gdap.relationship_id,
        "approvalUrl": t.gdap.approval_url,
        "roles": list(t.gdap.roles),
        "status": t.gdap.status,
    }


def partner_transfer_json(t: Transfer) -> dict[str, Any] | None:
    request = t.partner_transfer
    if request is None:
        return None
    return {
        "id": request.transfer_id,
        "status": request.status,
        "requestId": request.request_id,
        "createdAt": request.created_at,
        "checkedAt": request.checked_at,
    }


def customer_actions(t: Transfer) -> list[dict[str, Any]]:
    """What the customer's admin must still do, with the links to do it."""
    if t.state is not TransferState.AWAITING_ACCEPTANCE:
        return []
    actions: list[dict[str, Any]] = []
    if t.invitation_url:
        actions.append(
            {
                "action": "accept-reseller-relationship",
                "url": t.invitation_url,
                "who": "the customer's Global Administrator",
            }
        )
    if t.gdap is not None:
        actions.append(
            {
                "action": "approve-gdap",
                "url": t.gdap.approval_url,
                "roles": list(t.gdap.roles),
                "who": "the customer's Global Administrator",
            }
        )
    return actions


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
        "replacements": [
            {
                "catalogItemId": r.catalog_item_id,
                "skuId": r.sku_id,
                "quantity": r.quantity,
                "termDuration": r.term_duration,
                "billingCycle": r.billing_cycle,
                "orderId": r.order_id,
            }
            for r in line.replacements
        ],
        "originalSubscriptionIds": list(line.original_subscription_ids),
        "explanation": line.explanation,
        "orderIds": list(line.order_ids),
        "subscriptionIds": list(line.subscription_ids),
        "purchaseDue": _iso(line.purchase_due) if line.purchase_due else None,
        "partnerTransfer": {
            "path": line.partner_transfer.path,
            "status": line.partner_transfer.status,
            "reason": line.partner_transfer.reason,
            "lineItemId": line.partner_transfer.line_item_id,
            "transferredQuantity": line.partner_transfer.transferred_quantity,
            "transferredSubscriptionIds": list(line.partner_transfer.subscription_ids),
        }
        if line.partner_transfer
        else None,
        "licenses": {
            "toMove": line.users_to_move,
            "moved": line.users_moved,
            "failed": line.users_failed,
            "pending": line.users_pending,
            "failures": [
                {"userId": f.user_id, "reason": f.reason, "detail": f.detail} for f in line.user_failures
            ],
        },
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


def _bad_id(transfer_id: str) -> ApiResponse:
    return problem(
        400, "Invalid transfer id", f"a transfer id is 32 lowercase hex digits; got {transfer_id[:40]!r}"
    )


# -- request bodies, parsed at the edge ----------------------------------------------------------

_MAX_BODY = 64 * 1024
_START_FIELDS = frozenset(
    {
        "customerTenantId",
        "customerCountry",
        "sourceChannel",
        "contactEmail",
        "options",
        "sourcePartnerTenantId",
        "sourcePartnerName",
    }
)
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,256}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_CHANNELS = ", ".join(c.value for c in SourceChannel)


def parse_start_request(body: bytes) -> StartRequest | ApiResponse:
    """The start request, or a 400 listing every field that is wrong."""
    data = _json_object(body)
    if isinstance(data, ApiResponse):
        return data
    errors: list[dict[str, str]] = []

    def wrong(name: str, message: str) -> None:
        errors.append({"field": name, "message": message})

    for name in sorted(set(data) - _START_FIELDS):
        wrong(name[:60], "unknown field")
    tenant = data.get("customerTenantId")
    if not isinstance(tenant, str) or not GUID.fullmatch(tenant):
        wrong("customerTenantId", "required: the customer's Entra tenant id, a GUID")
    country = data.get("customerCountry")
    if not isinstance(country, str) or not _COUNTRY.fullmatch(country):
        wrong("customerCountry", "required: an ISO 3166-1 alpha-2 country code such as US")
    else:
        try:
            region_of(country)
        except UnknownCountryError:
            wrong("customerCountry", f"{country!r} is not a country Microsoft sells CSP in")
    channel = data.get("sourceChannel")
    if not isinstance(channel, str) or channel not in {c.value for c in SourceChannel}:
        wrong("sourceChannel", f"required: one of {_CHANNELS}")
    email = data.get("contactEmail")
    if email is not None and (not isinstance(email, str) or len(email) > 254 or not _EMAIL.fullmatch(email)):
        wrong("contactEmail", "an e-mail address, if given")
    options = TransferOptions()
    raw_options = data.get("options")
    if raw_options is not None and not isinstance(raw_options, dict):
        wrong("options", "an object with termDuration and billingCycle")
    else:
        try:
            options = TransferOptions.from_json(raw_options)
        except ValueError as error:
            wrong("options", str(error))
    source = _source_partner(data, channel, email, wrong)
    if errors:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(400, "Invalid request", detail, errors=errors)
    return StartRequest(
        customer_tenant_id=str(tenant).lower(),
        customer_country=str(country).upper(),
        source_channel=SourceChannel(str(channel)),
        contact_email=email,
        options=options,
        source_partner=source,
    )


def _source_partner(
    data: Mapping[str, Any], channel: Any, email: Any, wrong: Callable[[str, str], None]
) -> SourcePartner | None:
    """The partner selling to the customer today, asked for a partner-to-partner transfer: both its
    Microsoft ID and company name (the docs tell the customer to get both from it), and the contact
    e-mail that Microsoft sends the transfer notifications to."""
    tenant, name = data.get("sourcePartnerTenantId"), data.get("sourcePartnerName")
    if tenant is None and name is None:
        return None
    if channel != SourceChannel.OTHER_PARTNER.value:
        wrong("sourcePartnerTenantId", "only for sourceChannel OtherPartner")
    if not isinstance(tenant, str) or not GUID.fullmatch(tenant):
        wrong("sourcePartnerTenantId", "the current partner's Microsoft ID (tenant id), a GUID")
    if not isinstance(name, str) or not _NAME.fullmatch(name) or not name.strip():
        wrong("sourcePartnerName", "the current partner's company name, 1 to 256 printable characters")
    if email is None:
        wrong(
            "contactEmail", "required with sourcePartnerTenantId: Microsoft sends the transfer e-mails there"
        )
    if not isinstance(tenant, str) or not isinstance(name, str):
        return None
    return SourcePartner(tenant_id=tenant.lower(), name=name.strip())


def parse_decisions(body: bytes) -> tuple[list[str], list[str]] | ApiResponse:
    """``{"approve": [lineId...], "decline": [lineId...]}``, at least one line in all."""
    data = _json_object(body or b"{}")
    if isinstance(data, ApiResponse):
        return data
    lists: dict[str, list[str]] = {}
    for name in ("approve", "decline"):
        value = data.get(name, [])
        if (
            not isinstance(value, list)
            or len(value) > 500
            or not all(isinstance(v, str) and 0 < len(v) <= 100 for v in value)
        ):
            return problem(400, "Invalid request", f"{name} must be a list of line ids", parameter=name)
        lists[name] = value
    unknown = sorted(set(data) - {"approve", "decline"})
    if unknown or not (lists["approve"] or lists["decline"]):
        return problem(
            400, "Invalid request", "give the line ids to approve and/or decline, and nothing else"
        )
    return lists["approve"], lists["decline"]


def _json_object(body: bytes) -> dict[str, Any] | ApiResponse:
    if len(body) > _MAX_BODY:
        return problem(413, "Body too large", f"the body is {len(body)} bytes; at most {_MAX_BODY} are read")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nesting past the parser's depth
        return problem(400, "Invalid request", "the body must be a JSON object")
    if not isinstance(data, dict):
        return problem(400, "Invalid request", "the body must be a JSON object")
    return data
