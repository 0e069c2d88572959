"""Partner-to-partner transfers (new commerce): the target partner's API, and the source partner.

Partner Center side (``/partnercenter``): ``POST|GET /v1/customers/{id}/transfers``,
``GET|PATCH …/transfers/{transferId}`` (PATCH cancels, only while the request is pending). The
source partner is played through the control API (``/_sandbox``):
``POST /customers/{id}/transfers/{transferId}/submit {"subscriptionIds", "complete", "newIds",
"productTypes", "otherItems"}`` (all line items when ``subscriptionIds`` is omitted; ``complete:
false`` leaves it in progress; ``newIds`` gives the moved subscriptions new ids; ``productTypes``
labels items by subscription id, ``OnlineServicesNCE`` otherwise; ``otherItems``, a list of
``{"productType", "quantity"}``, adds items that are no licence of the tenant, e.g. an Azure
subscription), ``…/expire`` and ``…/fail``. Each sends the
transfer webhook when registered: ``create-transfer``, ``update-transfer``, ``complete-transfer``,
``fail-transfer``, signed like every other, with the ResourceUri naming only the customer and the
ids in the AuditUri, as deliveries were seen (``"resourceUriNamesTransfer": true`` for the documented
form). A request nobody acts on expires 30 days (sandbox clock) after it was created.

Statuses use the entity page's words (Active, InProgress, Completed) plus Expired, Failed, Canceled.
A completed line item's subscription becomes this partner's, keeping its term end and its users'
licences: nothing is bought (the purchase ledger is untouched).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from .partner_center import collection, customer_of
from .routing import Call, Reply, Router, lookup
from .state import Sandbox
from .webhooks import change_date
from .world import ENABLED, PartnerCenterError, Subscription, Tenant, iso

router: Router[Sandbox] = Router()
"""The target partner's Partner Center API, served under ``/partnercenter`` beside ``partner_center``'s."""
source_router: Router[Sandbox] = Router()
"""The source partner, played through the control API under ``/_sandbox``."""
EXPIRY = dt.timedelta(days=30)
OPEN = ("Active", "InProgress")
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


@dataclass(slots=True)
class Transfer:
    id: str
    customer_id: str
    source_tenant_id: str
    source_name: str
    customer_email: str
    customer_name: str | None
    transfer_type: int
    product_types: list[str] | None
    created: dt.datetime
    status: str = "Active"
    modified: dt.datetime | None = None
    completed: dt.datetime | None = None
    line_items: list[dict[str, Any]] = field(default_factory=list)

    def settle(self, now: dt.datetime) -> None:
        if self.status == "Active" and now >= self.created + EXPIRY:
            self.status, self.modified = "Expired", self.created + EXPIRY

    def as_json(self, sb: Sandbox) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "transferType": self.transfer_type,
            "transferDirection": 1,
            "customerEmailId": self.customer_email,
            "customerName": self.customer_name,
            "customerTenantId": self.customer_id,
            "partnertenantid": sb.world.partner_tenant_id,
            "sourcePartnerName": self.source_name,
            "sourcePartnerTenantId": self.source_tenant_id,
            "targetPartnerName": "Sandbox CSP Partner",
            "targetPartnerTenantId": sb.world.partner_tenant_id,
            "targetProductTypes": self.product_types,
            "createdTime": iso(self.created),
            "lastModifiedTime": iso(self.modified or self.created),
            "completedTime": iso(self.completed),
            "lineItems": self.line_items,
            "attributes": {"objectType": "TransferEntity"},
        }


def _transfers(sb: Sandbox, customer_id: str) -> list[Transfer]:
    now = sb.world.clock.now()
    found = [t for t in sb.world.transfers.values() if t.customer_id == customer_id.lower()]
    for transfer in found:
        transfer.settle(now)
    return sorted(found, key=lambda t: t.created)


def _transfer(sb: Sandbox, customer_id: str, transfer_id: str) -> Transfer:
    for transfer in _transfers(sb, customer_id):
        if transfer.id == transfer_id.lower():
            return transfer
    raise PartnerCenterError(404, 900100, f"Transfer {transfer_id} not found.")


# ---------------------------------------------------------------------------- the target partner's API


@router.route("POST", "/v1/customers/{customer_id}/transfers", purchase=True)
def create_transfer(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = customer_of(sb, p["customer_id"])
    body = call.json()
    source = str(lookup(body, "sourcePartnerTenantId", "")).lower()
    email = lookup(body, "customerEmailId")
    kind = lookup(body, "transferType")
    if not _GUID.fullmatch(source) or not isinstance(email, str) or "@" not in email:
        raise PartnerCenterError(400, 900136, "The source partner or the customer email is missing.")
    if str(kind) not in ("3", "5"):
        raise PartnerCenterError(400, 900102, "Can't process this transfer: unknown transferType.")
    if source == sb.world.partner_tenant_id:
        raise PartnerCenterError(400, 900148, "The source partner is the same as the requesting partner.")
    if any(t.status in OPEN for t in _transfers(sb, tenant.id)):
        raise PartnerCenterError(409, 900101, "The original transfer is in progress.")
    types = lookup(body, "targetProductTypes")
    now = sb.world.clock.now()
    transfer = Transfer(
        id=str(uuid.uuid4()),
        customer_id=tenant.id,
        source_tenant_id=source,
        source_name=str(lookup(body, "sourcePartnerName", "")),
        customer_email=email,
        customer_name=lookup(body, "customerName"),
        transfer_type=int(kind),
        product_types=[str(t) for t in types] if isinstance(types, list) else None,
        created=now,
    )
    sb.world.transfers[transfer.id] = transfer
    _announce(sb, transfer, "create-transfer", False)
    return Reply(201, transfer.as_json(sb))


@router.route("GET", "/v1/customers/{customer_id}/transfers")
def list_transfers(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = customer_of(sb, p["customer_id"])
    items = [t.as_json(sb) for t in _transfers(sb, tenant.id)]
    return Reply(200, collection(items, f"/customers/{tenant.id}/transfers"))


@router.route("GET", "/v1/customers/{customer_id}/transfers/{transfer_id}")
def get_transfer(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    tenant = customer_of(sb, p["customer_id"])
    return Reply(200, _transfer(sb, tenant.id, p["transfer_id"]).as_json(sb))


@router.route("PATCH", "/v1/customers/{customer_id}/transfers/{transfer_id}")
def update_transfer(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """The target may only cancel, and only while the request is pending."""
    tenant = customer_of(sb, p["customer_id"])
    transfer = _transfer(sb, tenant.id, p["transfer_id"])
    if str(call.json().get("status", "")).lower() != "cancel":
        raise PartnerCenterError(400, 900102, "Can't process this transfer: only status Cancel is accepted.")
    if transfer.status != "Active":
        raise PartnerCenterError(409, 900104, f"The transfer is {transfer.status} and cannot be canceled.")
    transfer.status, transfer.modified = "Canceled", sb.world.clock.now()
    return Reply(200, transfer.as_json(sb))


# ---------------------------------------------------------------------------- the source partner


def _control_target(sb: Sandbox, p: dict[str, str]) -> tuple[Tenant, Transfer] | Reply:
    tenant = sb.world.tenant(p["customer_id"])
    if tenant is None:
        return Reply(404, {"error": f"no tenant {p['customer_id']}"})
    try:
        return tenant, _transfer(sb, tenant.id, p["transfer_id"])
    except PartnerCenterError as error:
        return Reply(404, {"error": error.description})


@source_router.route("GET", "/customers/{customer_id}/transfers")
def source_view(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return Reply(200, {"items": [t.as_json(sb) for t in _transfers(sb, p["customer_id"])]})


@source_router.route("POST", "/customers/{customer_id}/transfers/{transfer_id}/submit")
def submit(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """The source partner picks line items (its own new-commerce subscriptions) and submits."""
    found = _control_target(sb, p)
    if isinstance(found, Reply):
        return found
    tenant, transfer = found
    if transfer.status != "Active":
        return Reply(409, {"error": f"the transfer is {transfer.status}"})
    body = call.json()
    own = [
        s
        for s in tenant.subscriptions.values()
        if s.owner_tenant_id == transfer.source_tenant_id and s.status == ENABLED and not s.is_trial
    ]
    wanted = body.get("subscriptionIds")
    kinds = {str(k).lower(): str(v) for k, v in (body.get("productTypes") or {}).items()}
    picked = own if wanted is None else [s for s in own if s.id in {str(w).lower() for w in wanted}]
    transfer.line_items = [
        {
            "id": str(n),
            "subscriptionId": s.id,
            "quantity": s.quantity,
            "billingCycle": s.billing_cycle.lower(),
            "productType": kinds.get(s.id, "OnlineServicesNCE"),
            "status": "InProgress",
        }
        for n, s in enumerate(sorted(picked, key=lambda s: s.id), start=1)
    ]
    for extra in body.get("otherItems") or []:  # e.g. an Azure subscription: no licence in the tenant
        transfer.line_items.append(
            {
                "id": str(len(transfer.line_items) + 1),
                "subscriptionId": str(uuid.uuid4()),
                "quantity": int(extra.get("quantity", 1)),
                "productType": str(extra["productType"]),
                "status": "InProgress",
            }
        )
    transfer.status, transfer.modified = "InProgress", sb.world.clock.now()
    ids = _announce(sb, transfer, "update-transfer", bool(body.get("resourceUriNamesTransfer")))
    if body.get("complete", True):
        _complete(sb, tenant, transfer, new_ids=bool(body.get("newIds", False)))
        ids += _announce(sb, transfer, "complete-transfer", bool(body.get("resourceUriNamesTransfer")))
    return Reply(200, {"transfer": transfer.as_json(sb), "webhookDeliveries": ids})


@source_router.route("POST", "/customers/{customer_id}/transfers/{transfer_id}/expire")
def expire(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    """Nobody acted on it for 30 days."""
    return _end(sb, call, p, "Expired", "update-transfer")


@source_router.route("POST", "/customers/{customer_id}/transfers/{transfer_id}/fail")
def fail(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return _end(sb, call, p, "Failed", "fail-transfer")


def _end(sb: Sandbox, call: Call, p: dict[str, str], status: str, event: str) -> Reply:
    found = _control_target(sb, p)
    if isinstance(found, Reply):
        return found
    _, transfer = found
    if transfer.status not in OPEN:
        return Reply(409, {"error": f"the transfer is {transfer.status}"})
    transfer.status, transfer.modified = status, sb.world.clock.now()
    for item in transfer.line_items:
        item["status"] = status
    ids = _announce(sb, transfer, event, bool(call.json().get("resourceUriNamesTransfer")))
    return Reply(200, {"transfer": transfer.as_json(sb), "webhookDeliveries": ids})


def _complete(sb: Sandbox, tenant: Tenant, transfer: Transfer, *, new_ids: bool) -> None:
    """Billing moves to this partner from now to the same term end; licences stay as they are."""
    now = sb.world.clock.now()
    for item in transfer.line_items:
        item["status"] = "Completed"
        if item["subscriptionId"] not in tenant.subscriptions:
            continue  # not a licence: nothing in the tenant changes
        sub: Subscription = tenant.subscriptions[item["subscriptionId"]]
        sub.owner_tenant_id, sub.channel, sub.auto_renew = sb.world.partner_tenant_id, "partner", True
        sub.offer = sb.world.catalog.offer_for_sku(sub.sku_id)
        sub.etag += 1
        if new_ids:
            del tenant.subscriptions[sub.id]
            sub.id = str(uuid.uuid4())
            tenant.subscriptions[sub.id] = sub
    transfer.status, transfer.modified, transfer.completed = "Completed", now, now


def _announce(sb: Sandbox, transfer: Transfer, event: str, names_transfer: bool) -> list[str]:
    if not sb.webhooks.wants(event):
        return []
    pc = sb.endpoints.partner_center
    moment = sb.world.clock.now()
    customer = transfer.customer_id
    ticks = int(moment.timestamp() * 10_000_000) + 621355968000000000
    resource = f"{pc}/webhooks/v1/customers/{customer}/transfers/{transfer.id}" if names_transfer else None
    payload = {
        "EventName": event,
        "ResourceUri": resource or f"{pc}/v1/customers/{customer}",
        "ResourceName": "Transfer",
        "AuditUri": f"{pc}/auditactivity/v1/auditrecords/{uuid.uuid4()}_{customer}_{transfer.id}_"
        f"{event.replace('-', '')}_{ticks}",
        "ResourceChangeUtcDate": change_date(moment),
    }
    return sb.webhooks.dispatch(payload)
