"""What the admin API shows of a transfer: the record as JSON, with what the customer must do,
what the list shows of it, and the choices each waiting line offers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.api.listing import iso, listing_json
from shared.domain import HistoryEntry, Line, LineState, Transfer, TransferState
from shared.domain.summary import listing_of
from shared.store.records import HistoryPage, TransferRecord
from shared.workflow.rules.partner_transfer import is_deferred


def transfer_json(t: Transfer) -> dict[str, Any]:
    return {
        "id": t.id,
        "customerTenantId": t.customer_tenant_id,
        "customerName": t.customer_name,
        "customerDomain": t.customer_domain,
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
        "createdAt": iso(t.created_at),
        "updatedAt": iso(t.updated_at),
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


def line_json(line: Line, choices: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": line.id,
        "sourceSkuId": line.source_sku_id,
        "sourceSkuPartNumber": line.source_sku_part_number,
        "sourceProductName": line.source_product_name,
        "quantity": line.quantity,
        "state": line.state.value,
        "reason": line.reason,
        "originalExpires": iso(line.original_expires) if line.original_expires else None,
        "decision": line.decision,
        "replacements": [
            {
                "catalogItemId": r.catalog_item_id,
                "productName": r.product_name,
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
        "purchaseDue": iso(line.purchase_due) if line.purchase_due else None,
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
        "choices": choices or [],
    }


def line_choices(line: Line, transfer: Transfer, now: datetime) -> list[dict[str, Any]]:
    """What an admin may decide for a waiting line (``POST .../approve``), and what each buys.
    Partner Center's catalog gives no price, so none is shown (``null``) rather than one guessed."""
    buys = [{"productName": r.name, "quantity": r.quantity} for r in line.replacements if not r.order_id]
    bought = ", ".join(f"{b['productName']} ×{b['quantity']}" for b in buys) or "nothing"
    decline = _choice("decline", f"Decline: buy nothing; {line.name} is not moved", [])
    if transfer.state is TransferState.BLOCKED and line.state is LineState.NEEDS_APPROVAL:
        return [_choice("approve", f"Approve: buy {bought}", buys), decline]
    if transfer.state is TransferState.BLOCKED and line.state is LineState.BLOCKED:
        return [decline]
    if transfer.is_active and is_deferred(line, now) and line.purchase_due is not None:
        return [_choice("buyNow", f"Buy now ({bought}) instead of on {line.purchase_due:%Y-%m-%d}", buys)]
    return []


def _choice(choice: str, label: str, buys: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": choice, "label": label, "buys": buys, "unitPrice": None, "currency": None}


def history_json(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": iso(entry.at),
        "action": entry.action,
        "actor": entry.actor,
        "message": entry.message,
        "fromState": entry.from_state,
        "toState": entry.to_state,
        "lineId": entry.line_id,
        "details": dict(entry.details),
    }


def record_json(
    record: TransferRecord, history: HistoryPage, now: datetime, lead: timedelta
) -> dict[str, Any]:
    """The record with what its list row shows (its line counts as ``lineCounts``), each line
    with its choices, and one page of history."""
    transfer = record.transfer
    shown = listing_json(listing_of(transfer, record.lines, record.listed_at), now, lead)
    return {
        **transfer_json(transfer),
        **{key: shown[key] for key in ("stage", "nextDate", "nextMove", "nextMoveText", "attention")},
        "lineCounts": shown["lines"],
        "lines": [line_json(x, line_choices(x, transfer, now)) for x in record.lines],
        "history": [history_json(h) for h in history.entries],
        "historyContinuationToken": history.continuation_token,
    }
