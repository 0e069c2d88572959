"""What the admin API shows of a transfer: the record as JSON, with what the customer must do."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.domain import HistoryEntry, Line, Transfer, TransferState
from shared.store.records import HistoryPage, TransferRecord


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
        "createdAt": iso(t.created_at),
        "updatedAt": iso(t.updated_at),
    }


def gdap_json(t: Transfer) -> dict[str, Any] | None:
    gdap = t.gdap
    if gdap is None:
        return None
    return {
        "relationshipId": gdap.relationship_id,
        "approvalUrl": gdap.approval_url,
        "roles": list(gdap.roles),
        "status": gdap.status,
        "grantedRoles": list(gdap.granted),
        "access": {
            "assignmentId": gdap.assignment_id,
            "assignmentStatus": gdap.assignment_status,
            "consented": gdap.consented,
            "verifiedAt": gdap.verified_at,
            "ended": gdap.ended,
        },
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
    """What the customer's admin must still do, with the links to do it: accept the reseller
    invitation while the transfer awaits it, approve the GDAP request while it is pending."""
    if not t.is_active:
        return []
    actions: list[dict[str, Any]] = []
    if t.invitation_url and t.state is TransferState.AWAITING_ACCEPTANCE:
        actions.append(
            {
                "action": "accept-reseller-relationship",
                "url": t.invitation_url,
                "who": "the customer's Global Administrator",
            }
        )
    if t.gdap is not None and t.gdap.status in ("created", "approvalPending"):
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
        "originalExpires": iso(line.original_expires) if line.original_expires else None,
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
    }


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
    }


def record_json(record: TransferRecord, history: HistoryPage) -> dict[str, Any]:
    return {
        **transfer_json(record.transfer),
        "lines": [line_json(x) for x in record.lines],
        "history": [history_json(h) for h in history.entries],
        "historyContinuationToken": history.continuation_token,
    }


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
