"""The transfer record as table rows: header, line and history entities, and back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from shared.domain import (
    CustomerAgreement,
    CustomerContact,
    GdapRequest,
    HistoryEntry,
    Line,
    LineChoice,
    LineState,
    LineTransfer,
    PartnerTransferRequest,
    Purchase,
    Refund,
    Replacement,
    SourceChannel,
    SourcePartner,
    Transfer,
    TransferOptions,
    TransferState,
    UserFailure,
)
from shared.store.limits import encode_key, gather_texts, spread_texts, stored_int

HEADER = "header"


def claim_key(customer_tenant_id: str) -> str:
    return f"customer-{encode_key(customer_tenant_id.lower())}"


def event_key(event_id: str) -> str:
    return f"event-{encode_key(event_id)}"


def history_key(seq: int) -> str:
    return f"history-{seq:010d}"


def line_key(line_id: str) -> str:
    return f"line-{encode_key(line_id)}"


def transfer_row(t: Transfer, *, version: int) -> dict[str, Any]:
    return without_none(
        {
            "PartitionKey": t.id,
            "RowKey": HEADER,
            "Kind": "transfer",
            "Version": version,
            "CustomerTenantId": t.customer_tenant_id,
            "CustomerCountry": t.customer_country,
            "SourceChannel": str(t.source_channel),
            "State": str(t.state),
            "Reason": t.reason,
            "ResumeState": str(t.resume_state) if t.resume_state else None,
            "ContactEmail": t.contact_email,
            "TermDuration": t.options.term_duration,
            "BillingCycle": t.options.billing_cycle,
            "PurchaseTiming": t.options.purchase_timing,
            "PurchaseLeadDays": t.options.purchase_lead_days,
            "UsageLocationFromTenant": t.options.usage_location_from_tenant or None,
            "InvitationUrl": t.invitation_url,
            "Gdap": json.dumps(asdict(t.gdap)) if t.gdap else None,
            "Purchase": json.dumps(asdict(t.purchase)) if t.purchase else None,
            "SourcePartner": json.dumps(asdict(t.source_partner)) if t.source_partner else None,
            "PartnerTransfer": json.dumps(asdict(t.partner_transfer)) if t.partner_transfer else None,
            "CustomerContact": json.dumps(asdict(t.customer_contact)) if t.customer_contact else None,
            "Agreement": json.dumps(asdict(t.agreement)) if t.agreement else None,
            "Segment": t.segment,
            "ApiCalls": t.api_calls,
            "Planned": t.planned,
            "OriginalsReadFor": t.originals_read_for,
            "LapseRiskOn": t.lapse_risk_on,
            "OriginalsReadAt": t.originals_read_at,
            "Refund": json.dumps(asdict(t.refund)) if t.refund else None,
            "CustomerName": t.customer_name,
            "CustomerDomain": t.customer_domain,
            "CreatedAt": t.created_at,
            "UpdatedAt": t.updated_at,
        }
    )


def transfer_from_row(row: Mapping[str, Any]) -> Transfer:
    resume = row.get("ResumeState")
    return Transfer(
        id=row["PartitionKey"],
        customer_tenant_id=row["CustomerTenantId"],
        customer_country=row["CustomerCountry"],
        source_channel=SourceChannel(row["SourceChannel"]),
        state=TransferState(row["State"]),
        created_at=as_utc(row["CreatedAt"]),
        updated_at=as_utc(row["UpdatedAt"]),
        contact_email=row.get("ContactEmail"),
        options=TransferOptions(
            term_duration=row["TermDuration"],
            billing_cycle=row["BillingCycle"],
            purchase_timing=row.get("PurchaseTiming", "onAcceptance"),
            purchase_lead_days=stored_int(row.get("PurchaseLeadDays", 14)),
            usage_location_from_tenant=bool(row.get("UsageLocationFromTenant", False)),
        ),
        invitation_url=row.get("InvitationUrl"),
        gdap=gdap_from_json(row.get("Gdap")),
        purchase=Purchase(**json.loads(row["Purchase"])) if row.get("Purchase") else None,
        source_partner=SourcePartner(**json.loads(row["SourcePartner"]))
        if row.get("SourcePartner")
        else None,
        partner_transfer=PartnerTransferRequest(**json.loads(row["PartnerTransfer"]))
        if row.get("PartnerTransfer")
        else None,
        customer_contact=CustomerContact(**json.loads(row["CustomerContact"]))
        if row.get("CustomerContact")
        else None,
        agreement=CustomerAgreement(**json.loads(row["Agreement"])) if row.get("Agreement") else None,
        segment=row.get("Segment"),
        api_calls=stored_int(row.get("ApiCalls", 0)),
        planned=bool(row.get("Planned", False)),
        originals_read_for=row.get("OriginalsReadFor"),
        reason=row.get("Reason"),
        resume_state=TransferState(resume) if resume else None,
        lapse_risk_on=as_utc(row["LapseRiskOn"]) if row.get("LapseRiskOn") else None,
        originals_read_at=as_utc(row["OriginalsReadAt"]) if row.get("OriginalsReadAt") else None,
        refund=Refund(**json.loads(row["Refund"])) if row.get("Refund") else None,
        customer_name=row.get("CustomerName"),
        customer_domain=row.get("CustomerDomain"),
    )


def gdap_from_json(text: str | None) -> GdapRequest | None:
    if not text:
        return None
    data = json.loads(text)
    return GdapRequest(**{**data, "roles": tuple(data["roles"]), "granted": tuple(data.get("granted", ()))})


#: A line's properties that grow with the tenant (replacements, failures, holders named...).
_LONG_TEXTS = (
    "Replacements",
    "OriginalSubscriptionIds",
    "OrderIds",
    "SubscriptionIds",
    "UserFailures",
    "Choices",
    "UsersWithoutSeat",
    "GroupsToVerify",
    "CancellationWindows",
)


def line_row(line: Line) -> dict[str, Any]:
    return spread_texts(_line_properties(line), _LONG_TEXTS)


def _line_properties(line: Line) -> dict[str, Any]:
    return without_none(
        {
            "PartitionKey": line.transfer_id,
            "RowKey": line_key(line.id),
            "Kind": "line",
            "SourceSkuId": line.source_sku_id,
            "SourceSkuPartNumber": line.source_sku_part_number,
            "Quantity": line.quantity,
            "State": str(line.state),
            "OriginalExpires": line.original_expires,
            "Decision": line.decision,
            "Replacements": json.dumps([asdict(r) for r in line.replacements]),
            "OriginalSubscriptionIds": json.dumps(line.original_subscription_ids),
            "Explanation": line.explanation,
            "OrderIds": json.dumps(line.order_ids),
            "SubscriptionIds": json.dumps(line.subscription_ids),
            "UsersToMove": line.users_to_move,
            "UsersMoved": line.users_moved,
            "UsersFailed": line.users_failed,
            "UsersPending": line.users_pending,
            "UserFailures": json.dumps([asdict(f) for f in line.user_failures]),
            "PurchaseDue": line.purchase_due,
            "PartnerTransfer": json.dumps(asdict(line.partner_transfer)) if line.partner_transfer else None,
            "UpgradedPlans": json.dumps(line.upgraded_plans) if line.upgraded_plans else None,
            "Choices": json.dumps([asdict(c) for c in line.choices]) if line.choices else None,
            "UsersWithoutSeat": json.dumps(line.users_without_seat) if line.users_without_seat else None,
            "Reason": line.reason,
            "ResumeState": str(line.resume_state) if line.resume_state else None,
            "GroupsToVerify": json.dumps(line.groups_to_verify) if line.groups_to_verify else None,
            "GroupReads": line.group_reads or None,
            "CancellationWindows": json.dumps(line.cancellation_windows)
            if line.cancellation_windows
            else None,
            "RemindedFor": line.reminded_for,
            "OriginalLapsed": line.original_lapsed or None,
            "SourceProductName": line.source_product_name,
        }
    )


def line_from_row(row: Mapping[str, Any]) -> Line:
    row = gather_texts(row, _LONG_TEXTS)
    resume = row.get("ResumeState")
    expires = row.get("OriginalExpires")
    return Line(
        transfer_id=row["PartitionKey"],
        source_sku_id=row["SourceSkuId"],
        source_sku_part_number=row["SourceSkuPartNumber"],
        quantity=stored_int(row["Quantity"]),
        state=LineState(row["State"]),
        original_expires=as_utc(expires) if expires else None,
        decision=row.get("Decision"),
        replacements=tuple(Replacement(**r) for r in json.loads(row["Replacements"])),
        original_subscription_ids=tuple(json.loads(row["OriginalSubscriptionIds"])),
        explanation=row.get("Explanation"),
        order_ids=tuple(json.loads(row["OrderIds"])),
        subscription_ids=tuple(json.loads(row["SubscriptionIds"])),
        users_to_move=stored_int(row["UsersToMove"]),
        users_moved=stored_int(row["UsersMoved"]),
        users_failed=stored_int(row["UsersFailed"]),
        users_pending=stored_int(row.get("UsersPending", 0)),
        user_failures=tuple(UserFailure(**f) for f in json.loads(row.get("UserFailures") or "[]")),
        purchase_due=as_utc(row["PurchaseDue"]) if row.get("PurchaseDue") else None,
        partner_transfer=LineTransfer(**json.loads(row["PartnerTransfer"]))
        if row.get("PartnerTransfer")
        else None,
        upgraded_plans=tuple((str(p), q) for p, q in json.loads(row.get("UpgradedPlans") or "[]")),
        choices=tuple(choice_from_json(c) for c in json.loads(row.get("Choices") or "[]")),
        users_without_seat=tuple(json.loads(row.get("UsersWithoutSeat") or "[]")),
        reason=row.get("Reason"),
        resume_state=LineState(resume) if resume else None,
        groups_to_verify=tuple(json.loads(row.get("GroupsToVerify") or "[]")),
        group_reads=stored_int(row.get("GroupReads", 0)),
        cancellation_windows=tuple(
            (str(s), str(d)) for s, d in json.loads(row.get("CancellationWindows") or "[]")
        ),
        reminded_for=as_utc(row["RemindedFor"]) if row.get("RemindedFor") else None,
        original_lapsed=bool(row.get("OriginalLapsed", False)),
        source_product_name=row.get("SourceProductName"),
    )


def choice_from_json(data: Mapping[str, Any]) -> LineChoice:
    return LineChoice(
        name=data["name"],
        decision=data["decision"],
        replacements=tuple(Replacement(**r) for r in data["replacements"]),
        users_to_move=stored_int(data.get("users_to_move", 0)),
        upgraded_plans=tuple((str(p), q) for p, q in data.get("upgraded_plans", [])),
        users_without_seat=tuple(data.get("users_without_seat", [])),
        unnamed=stored_int(data.get("unnamed", 0)),
    )


def history_row(transfer_id: str, entry: HistoryEntry) -> dict[str, Any]:
    return without_none(
        {
            "PartitionKey": transfer_id,
            "RowKey": history_key(entry.seq),
            "Kind": "history",
            "At": entry.at,
            "Action": entry.action,
            "Message": entry.message,
            "Actor": entry.actor,
            "FromState": entry.from_state,
            "ToState": entry.to_state,
            "LineId": entry.line_id,
            "EventId": entry.event_id,
            "Details": json.dumps(dict(entry.details)) if entry.details else None,
        }
    )


def history_from_row(row: Mapping[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        seq=int(row["RowKey"].removeprefix("history-")),
        at=as_utc(row["At"]),
        action=row["Action"],
        message=row["Message"],
        actor=row["Actor"],
        from_state=row.get("FromState"),
        to_state=row.get("ToState"),
        line_id=row.get("LineId"),
        event_id=row.get("EventId"),
        details=tuple((str(k), str(v)) for k, v in json.loads(row.get("Details") or "{}").items()),
    )


def without_none(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if v is not None}


def as_utc(value: datetime) -> datetime:
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=UTC,
    )
