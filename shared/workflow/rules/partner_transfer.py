"""The partner-to-partner transfer's decisions, pure: which lines are asked of the source partner,
when to read the request again, and which announcements concern it.

Where the sources disagree, both readings are accepted: status strings are read case-insensitively
over every spelling seen (unknown ones are not final); the transfer id comes from the ResourceUri
or, when that names only the customer, from the AuditUri; expiry is Partner Center's word or,
failing it, 30 days (and one of grace) after creation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from shared.catalog.plan import Decision
from shared.domain import (
    HistoryEntry,
    IllegalTransitionError,
    Line,
    LineState,
    LineTransfer,
    PartnerTransferRequest,
    SourcePartner,
    Transfer,
)
from shared.domain.errors import ErrorKind
from shared.domain.events import EventType, TransferEvent
from shared.resources import GUID
from shared.resources.transfers import TransferStatus

if TYPE_CHECKING:
    from shared.catalog.plan import PlanLine
    from shared.resources.graph import CompanySubscription
    from shared.resources.webhook_events import PartnerCenterEvent


TRANSFER_EVENTS = frozenset({"create-transfer", "update-transfer", "complete-transfer", "fail-transfer"})
LICENSE_BASED = "OnlineServicesNCE"
LEGACY_LICENSE_BASED = "OnlineServices"  # traditional license-based offers: not new commerce
EXPIRY_GRACE = timedelta(days=1)  # then treated as expired even if Partner Center never says so
WARN_AFTER = timedelta(days=25)  # the record tells the admin the request is about to expire
PENDING_POLL = timedelta(hours=6)
IN_PROGRESS_POLL = timedelta(minutes=15)

# Path and line statuses, as the record shows them.
BY_TRANSFER, BY_REBUY, NOT_MOVED = "transfer", "rebuy", "none"
EXPECTED, REQUESTED, IN_PROGRESS, TRANSFERRED = "Expected", "Requested", "InProgress", "Transferred"
NOT_INCLUDED, NOT_TRANSFERABLE = "NotIncluded", "NotTransferable"
PARTLY_TRANSFERRED = "PartlyTransferred"


class InvalidSourcePartnerError(ValueError):
    """The source partner given cannot be asked for a transfer (ourselves, say: error 900148)."""

    kind: ClassVar[ErrorKind] = ErrorKind.INVALID_INPUT
    title = "Invalid request"
    parameter = "sourcePartnerTenantId"


def check_source_partner(source: SourcePartner, partner_tenant_id: str) -> None:
    """What only the workflow knows (the API checked the shapes): the source is not this partner."""
    if source.tenant_id == partner_tenant_id.lower():
        raise InvalidSourcePartnerError("sourcePartnerTenantId is this partner's own tenant (error 900148)")


def expected_paths(
    lines: Iterable[PlanLine],
    subscriptions: Iterable[CompanySubscription],
    source: SourcePartner,
    product_types: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, LineTransfer]:
    """Per source SKU: by transfer when every counted subscription is the source partner's and the SKU
    is still sold as a license-based new-commerce offer; otherwise by rebuy, with the reason.

    Graph shows neither new commerce nor the product type. Partner Center's catalog names each offer's
    product type (``product_types``, per SKU): a SKU sold only as Azure, software, SaaS or marketplace
    items is not a license-based product, which a request for ``OnlineServicesNCE`` does not carry, and
    one sold only as a traditional (``OnlineServices``) offer is not new commerce. A SKU with no
    new-commerce offer on sale is taken to be held on a legacy subscription [inferred]. Should the
    source partner submit such a line anyway, the completed transfer still records it.
    """
    owners = {s.id: s.owner_tenant_id for s in subscriptions}
    kinds = product_types or {}
    paths: dict[str, LineTransfer] = {}
    for line in lines:
        if line.decision is Decision.SKIPPED:
            paths[line.source_sku_id] = LineTransfer(NOT_MOVED, NOT_TRANSFERABLE, line.reason or "skipped")
            continue
        others = sorted(
            {str(owners.get(s) or "direct, EA or Open") for s in line.subscription_ids} - {source.tenant_id}
        )
        reason = _not_license_based(line.source_sku_part_number, kinds.get(line.source_sku_id, ()))
        if others:
            reason = (
                f"not sold by {source.name}: held from {', '.join(others)}; only the source partner's "
                "subscriptions can be transferred"
            )
        elif reason is None and line.decision is not Decision.IDENTICAL:
            reason = (
                f"not new commerce: {line.source_sku_part_number} is no longer sold in new commerce, so it "
                "is most likely a legacy subscription, which a new-commerce transfer does not carry"
            )
        if reason is None:
            paths[line.source_sku_id] = LineTransfer(BY_TRANSFER, EXPECTED)
        else:
            paths[line.source_sku_id] = LineTransfer(BY_REBUY, NOT_TRANSFERABLE, reason)
    return paths


def is_license_based(product_type: str | None) -> bool:
    """``OnlineServicesNCE``, read case- and space-insensitively; no type at all is taken as one, as the
    request asks for nothing else."""
    return not product_type or "".join(product_type.lower().split()) == LICENSE_BASED.lower()


def _not_license_based(part_number: str, product_types: Iterable[str]) -> str | None:
    """Why a SKU the catalog sells only under other product types is not transferred, or None."""
    kinds = sorted({k for k in product_types if k})
    if not kinds or any(is_license_based(k) for k in kinds):
        return None
    if all(k.lower() == LEGACY_LICENSE_BASED.lower() for k in kinds):
        return (
            f"not new commerce: {part_number} is sold only as a traditional license-based offer "
            f"({LEGACY_LICENSE_BASED}), which a new-commerce transfer does not carry"
        )
    return (
        f"not a license-based product: {part_number} is sold as {', '.join(kinds)}, and the transfer "
        f"request asks only for license-based new commerce ({LICENSE_BASED})"
    )


def webhook_ids(event: PartnerCenterEvent) -> tuple[str | None, str | None]:
    """The customer and transfer a transfer event is about.

    The documented ResourceUri is ``…/customers/{c}/transfers/{t}``; delivered events were seen with
    ``…/customers/{c}`` only, and an AuditUri ending ``{a}_{c}_{t}_{event}_{ticks}``.
    """
    customer = event.customer_id
    transfer: str | None = None
    if event.resource_uri:
        found = re.search(r"/transfers/([0-9A-Fa-f-]{36})(?:[/?#]|$)", event.resource_uri)
        transfer = found.group(1).lower() if found else None
    if event.audit_uri and (transfer is None or customer is None):
        parts = event.audit_uri.rstrip("/").rsplit("/", 1)[-1].split("_")
        if len(parts) >= 3 and GUID.match(parts[1]) and GUID.match(parts[2]):
            customer = customer or parts[1].lower()
            transfer = transfer or parts[2].lower()
    return customer, transfer


def needs_request(transfer: Transfer, lines: Sequence[Line]) -> bool:
    """Lines wait for a partner transfer that has not been asked of Partner Center yet."""
    request = transfer.partner_transfer
    waiting = any(x.state is LineState.TRANSFERRING for x in lines)
    return waiting and (request is None or request.transfer_id is None)


def should_follow(transfer: Transfer, lines: Sequence[Line], event: TransferEvent) -> bool:
    """The request may have moved (its webhook, or the timer's poll) and lines still wait for it;
    also while the transfer is blocked: the request moves regardless."""
    request = transfer.partner_transfer
    return (
        event.type is EventType.PARTNER_TRANSFER_CHANGED
        and transfer.is_active
        and request is not None
        and request.transfer_id is not None
        and any(x.state is LineState.TRANSFERRING for x in lines)
    )


def poll_due(transfer: Transfer, now: datetime) -> bool:
    """Whether the timer's backstop should read the request now: every 6 h while it waits for the
    source partner (and at once when it should have expired), every 15 min while it is moving."""
    request = transfer.partner_transfer
    if request is None or request.transfer_id is None or TransferStatus.read(request.status).finished:
        return False
    if request.checked_at is None:
        return True
    since = now - datetime.fromisoformat(request.checked_at)
    if request.status == TransferStatus.IN_PROGRESS.value:
        return since >= IN_PROGRESS_POLL
    return since >= PENDING_POLL or overdue(request, now)


def overdue(request: PartnerTransferRequest, now: datetime) -> bool:
    return now >= request.expires + EXPIRY_GRACE


def first_read_after(request: PartnerTransferRequest, age: timedelta, now: datetime) -> bool:
    """Whether this read is the first since the request reached ``age``: a warning is given once."""
    moment = request.created + age
    last = datetime.fromisoformat(request.checked_at) if request.checked_at else None
    return now >= moment and (last is None or last < moment)


def buy_at_once(line: Line, at: datetime) -> tuple[Line, HistoryEntry]:
    """An admin's approval to buy a deferred line now rather than before its original's term end."""
    if line.state is not LineState.PLANNED or line.purchase_due is None or line.purchase_due <= at:
        raise IllegalTransitionError(
            f"line {line.id} is {line.state} and not waiting for a deferred purchase"
        )
    return replace(line, purchase_due=at), HistoryEntry(
        at=at, action="line-approve", actor="api", line_id=line.id,
        message=f"{line.name}: an admin approved buying it at once",
    )  # fmt: skip


def is_deferred(line: Line, at: datetime) -> bool:
    return line.state is LineState.PLANNED and line.purchase_due is not None and line.purchase_due > at


def source_of(transfer: Transfer) -> SourcePartner:
    assert transfer.source_partner is not None
    return transfer.source_partner
