"""What the admin API shows of a transfer: the record as JSON, with what the customer must do,
what the list shows of it, and the choices each waiting line offers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from shared.api.listing import iso, listing_json
from shared.domain import (
    AgreementStatus,
    HistoryEntry,
    Line,
    LineChoice,
    LineState,
    Replacement,
    Transfer,
    TransferState,
)
from shared.domain.summary import listing_of
from shared.store.records import HistoryPage, TransferRecord
from shared.workflow.rules.partner_transfer import is_deferred

_HALTED = frozenset({TransferState.BLOCKED, TransferState.FAILED})


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
        "customerContact": contact_json(t),
        "agreement": agreement_json(t),
        "segment": t.segment,
        "lapseRiskOn": iso(t.lapse_risk_on) if t.lapse_risk_on and t.state in _HALTED else None,
        "refund": refund_json(t),
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


def contact_json(t: Transfer) -> dict[str, Any] | None:
    """Who at the customer accepted the Microsoft Customer Agreement, as an admin gave it."""
    c = t.customer_contact
    if c is None:
        return None
    return {
        "firstName": c.first_name,
        "lastName": c.last_name,
        "email": c.email,
        "phoneNumber": c.phone_number,
    }


def agreement_json(t: Transfer) -> dict[str, Any] | None:
    """How the customer's acceptance of the Microsoft Customer Agreement was confirmed, and when."""
    a = t.agreement
    if a is None:
        return None
    return {
        "status": a.status.value,
        "basis": a.basis.value if a.basis else None,
        "confirmedAt": a.confirmed_at,
        "dateAgreed": a.date_agreed,
        "requestId": a.request_id,
    }


AGREEMENT_ACTION = {
    "action": "confirm-customer-agreement",
    "url": "https://aka.ms/customeragreement",
    "who": "the customer's Global Administrator",
    "needs": "accept the Microsoft Customer Agreement in the Microsoft 365 admin center, or tell the partner "
    "who accepted it (name, e-mail, phone): an admin then retries with customerContact and the partner "
    "confirms the acceptance on the customer's behalf",
}


def refund_json(t: Transfer) -> dict[str, Any] | None:
    if t.refund is None:
        return None
    return {
        "requestedAt": t.refund.requested_at,
        "subscriptions": [
            {"id": i.subscription_id, "status": i.status, "detail": i.detail} for i in t.refund.items
        ],
    }


def customer_actions(t: Transfer) -> list[dict[str, Any]]:
    """What the customer's admin must still do, with the links to do it: accept the reseller
    invitation while the transfer awaits it, approve the GDAP request while it is pending, and
    accept the Microsoft Customer Agreement (or name who did) when a purchase waits for it."""
    if not t.is_active:
        return []
    waiting = t.agreement is not None and t.agreement.status is AgreementStatus.CONTACT_NEEDED
    if t.state is TransferState.BLOCKED and waiting:
        return [dict(AGREEMENT_ACTION)]
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
        "replacements": [_replacement_json(r) for r in line.replacements],
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
        "usersWithoutSeat": list(line.users_without_seat),
        "licenses": {
            "toMove": line.users_to_move,
            "moved": line.users_moved,
            "failed": line.users_failed,
            "pending": line.users_pending,
            "failures": [
                {"userId": f.user_id, "reason": f.reason, "detail": f.detail, "groupId": f.group_id}
                for f in line.user_failures
            ],
        },
        "groupsToVerify": list(line.groups_to_verify),
        "cancellableUntil": [{"subscriptionId": s, "until": d} for s, d in line.cancellation_windows],
        "remindedFor": iso(line.reminded_for) if line.reminded_for else None,
        "originalLapsed": line.original_lapsed,
        "choices": choices or [],
    }


def _replacement_json(r: Replacement) -> dict[str, Any]:
    return {
        "catalogItemId": r.catalog_item_id,
        "productName": r.product_name,
        "skuId": r.sku_id,
        "quantity": r.quantity,
        "termDuration": r.term_duration,
        "billingCycle": r.billing_cycle,
        "orderId": r.order_id,
    }


def line_choices(line: Line, transfer: Transfer, now: datetime) -> list[dict[str, Any]]:
    """What an admin may decide for a line now, what each choice buys, and the ``request`` body of
    ``POST .../approve`` that makes it. A line above a seat cap per customer offers its options
    (``upToCap``, ``enterprise``) with the holders each leaves without a seat. Partner Center's
    catalog gives no price, so none is shown (``null``) rather than one guessed."""
    buys = _buys(r for r in line.replacements if not r.order_id)
    decline = _choice(
        "decline", f"Decline: buy nothing; {line.name} is not moved", [], {"decline": [line.id]}
    )
    if transfer.state is TransferState.BLOCKED and line.state is LineState.NEEDS_APPROVAL and line.choices:
        return [*(_option(line, c) for c in line.choices), decline]
    if transfer.state is TransferState.BLOCKED and line.state is LineState.NEEDS_APPROVAL:
        return [_choice("approve", f"Approve: buy {_listed(buys)}", buys, {"approve": [line.id]}), decline]
    if transfer.state is TransferState.BLOCKED and line.state is LineState.BLOCKED:
        return [decline]
    if transfer.is_active and is_deferred(line, now) and line.purchase_due is not None:
        label = f"Buy now ({_listed(buys)}) instead of on {line.purchase_due:%Y-%m-%d}"
        return [_choice("buyNow", label, buys, {"approve": [line.id]})]
    return []


def _option(line: Line, option: LineChoice) -> dict[str, Any]:
    buys = _buys(option.replacements)
    left = len(option.users_without_seat) + option.unnamed
    without = f"; {left} holder(s) left without a seat" if left else "; every holder keeps a seat"
    label = {"upToCap": "Up to the cap", "enterprise": "Enterprise equivalent"}.get(option.name, option.name)
    return {
        **_choice(
            option.name,
            f"{label}: buy {_listed(buys)}{without}",
            buys,
            {"approve": [line.id], "choose": {line.id: option.name}},
        ),
        "usersToMove": option.users_to_move,
        "usersWithoutSeat": list(option.users_without_seat),
        "moreUsersWithoutSeat": option.unnamed,
    }


def _buys(replacements: Iterable[Replacement]) -> list[dict[str, Any]]:
    return [
        {"productName": r.name, "skuId": r.sku_id, "catalogItemId": r.catalog_item_id, "quantity": r.quantity}
        for r in replacements
    ]


def _listed(buys: list[dict[str, Any]]) -> str:
    return ", ".join(f"{b['productName']} ×{b['quantity']}" for b in buys) or "nothing"


def _choice(choice: str, label: str, buys: list[dict[str, Any]], request: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": choice,
        "label": label,
        "buys": buys,
        "unitPrice": None,
        "currency": None,
        "request": request,
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
