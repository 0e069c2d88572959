"""Partner-to-partner transfers: moving new-commerce subscriptions from the customer's current CSP
partner to us without buying them again (docs: partner-to-partner-transfers.md).

Microsoft moves the billing of what the source partner submits: nothing is bought twice, the term
end is kept, and no licence assignment changes. Lines the source partner does not submit (or that
expire, fail or are cancelled with the request), and the seats it leaves out of a line it submits in
part, fall back to the rebuy path, decided again against today's catalog (the identical offer, else
an equivalent one with its approval rule), bought by default shortly before the original's term end,
because the source partner bills it until then.

One Partner Center transfer per transfer. Its ``MS-RequestId`` is persisted before the POST and its
id stored the moment Partner Center names it; before any POST the customer's transfers are listed,
and an open one from the same source partner is adopted, so a retry or a restart never asks twice.
Webhooks and the timer only announce that the request may have changed; reading it is the one step
that moves lines.

Where the sources disagree, both readings are accepted: status strings are read case-insensitively
over every spelling seen (unknown ones are not final); the transfer id comes from the ResourceUri
or, when that names only the customer, from the AuditUri; transferred subscriptions are matched by
id, else by offer, quantity and term end; expiry is Partner Center's word or, failing it, 30 days
(and one of grace) after creation.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .catalog import Decision
from .domain import (
    Change,
    HistoryEntry,
    IllegalTransitionError,
    Line,
    LineState,
    LineTransfer,
    PartnerTransferRequest,
    SourcePartner,
    Transfer,
    TransferState,
)
from .errors import PartnerCenterError, brief
from .events import EventQueue, EventType, TransferEvent
from .resources.partner_center import PartnerTransfer, TransferLineItem, TransferRequest, TransferStatus
from .store import TransferRecord, TransferStore
from .transport import GUID

if TYPE_CHECKING:
    from .catalog import PlanLine
    from .graph import GraphClient
    from .partner_center import PartnerCenterClient
    from .resources.graph import CompanySubscription
    from .resources.partner_center import Subscription
    from .webhooks import PartnerCenterEvent

LOG = logging.getLogger("shared.partner_transfer")

TRANSFER_EVENTS = frozenset({"create-transfer", "update-transfer", "complete-transfer", "fail-transfer"})
LICENSE_BASED = "OnlineServicesNCE"
LEGACY_LICENSE_BASED = "OnlineServices"  # traditional license-based offers: not new commerce
#: "If the current partner does not respond within 30 days the request expires" (Azure plan page).
EXPIRY = timedelta(days=30)
EXPIRY_GRACE = timedelta(days=1)  # then treated as expired even if Partner Center never says so
WARN_AFTER = timedelta(days=25)  # the record tells the admin the request is about to expire
PENDING_POLL = timedelta(hours=6)
IN_PROGRESS_POLL = timedelta(minutes=15)

# Path and line statuses, as the record shows them.
BY_TRANSFER, BY_REBUY, NOT_MOVED = "transfer", "rebuy", "none"
EXPECTED, REQUESTED, IN_PROGRESS, TRANSFERRED = "Expected", "Requested", "InProgress", "Transferred"
NOT_INCLUDED, NOT_TRANSFERABLE = "NotIncluded", "NotTransferable"
PARTLY_TRANSFERRED = "PartlyTransferred"
_FALLBACK_STATUS = {
    TransferStatus.EXPIRED: "Expired",
    TransferStatus.FAILED: "Failed",
    TransferStatus.CANCELLED: "Cancelled",
    TransferStatus.COMPLETED: NOT_INCLUDED,
}

Commit = Callable[[TransferRecord, Change], TransferRecord]
#: The lines a transfer did not move, decided again for their quantity (:meth:`Planner.rebuy_lines`).
Replan = Callable[[Transfer, Sequence[Line], datetime], Mapping[str, Line]]


class InvalidSourcePartnerError(ValueError):
    """The source partner given cannot be asked for a transfer (ourselves, say: error 900148)."""


def check_source_partner(source: SourcePartner, partner_tenant_id: str) -> None:
    """What only the workflow knows (the API checked the shapes): the source is not this partner."""
    if source.tenant_id == partner_tenant_id.lower():
        raise InvalidSourcePartnerError("sourcePartnerTenantId is this partner's own tenant (error 900148)")


# -- the plan: which lines are expected to move by transfer -----------------------------------------


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


# -- what announces a change -------------------------------------------------------------------------


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
    return since >= PENDING_POLL or _overdue(request, now)


def _overdue(request: PartnerTransferRequest, now: datetime) -> bool:
    return now >= _created(request) + EXPIRY + EXPIRY_GRACE


def _created(request: PartnerTransferRequest) -> datetime:
    return datetime.fromisoformat(request.created_at or request.started_at)


def _first_read_after(request: PartnerTransferRequest, age: timedelta, now: datetime) -> bool:
    """Whether this read is the first since the request reached ``age``: a warning is given once."""
    moment = _created(request) + age
    last = datetime.fromisoformat(request.checked_at) if request.checked_at else None
    return now >= moment and (last is None or last < moment)


@dataclass(frozen=True, slots=True)
class Followed:
    """What reading the request did: the record, and whether lines left the transfer path."""

    record: TransferRecord
    resolved: bool


class PartnerTransfers:
    """The partner-to-partner use case; the workflow's step runner calls it."""

    def __init__(
        self,
        *,
        store: TransferStore,
        partner_center: PartnerCenterClient,
        graph: GraphClient,
        queue: EventQueue,
        commit: Commit,
        clock: Callable[[], datetime],
        partner_tenant_id: str,
        replan: Replan,
        transfer_type: int = 5,
    ) -> None:
        self._store = store
        self._replan = replan
        self._pc = partner_center
        self._graph = graph
        self._queue = queue
        self._commit = commit
        self._now = clock
        self._partner = partner_tenant_id.lower()
        self._transfer_type = transfer_type

    # -- what the step runner asks ----------------------------------------------------------------

    @staticmethod
    def needs_request(record: TransferRecord) -> bool:
        request = record.transfer.partner_transfer
        waiting = any(x.state is LineState.TRANSFERRING for x in record.lines)
        return waiting and (request is None or request.transfer_id is None)

    @staticmethod
    def should_follow(record: TransferRecord, event: TransferEvent) -> bool:
        request = record.transfer.partner_transfer
        return (
            event.type is EventType.PARTNER_TRANSFER_CHANGED
            and record.transfer.is_active
            and request is not None
            and request.transfer_id is not None
            and any(x.state is LineState.TRANSFERRING for x in record.lines)
        )

    # -- creating the request ---------------------------------------------------------------------

    def request(self, record: TransferRecord) -> TransferRecord:
        """Persist the intent, then find an open request or create one; its id is stored at once."""
        transfer = record.transfer
        at = self._now()
        if transfer.partner_transfer is None:
            intent = PartnerTransferRequest.new(at)
            entry = HistoryEntry(
                at=at,
                action="partner-transfer-intent",
                message=f"asking {_source(transfer).name} to transfer "
                f"{sum(x.state is LineState.TRANSFERRING for x in record.lines)} line(s) "
                f"(request id {intent.request_id})",
            )
            return self._commit(
                record, Change(replace(transfer, partner_transfer=intent, updated_at=at), history=(entry,))
            )
        found = self._find_open(transfer)
        if found is not None:
            return self._adopt(
                record, found, "an open transfer request for the customer was found and reused"
            )
        request = transfer.partner_transfer
        counted = replace(request, attempts=request.attempts + 1)
        record = self._commit(record, Change(replace(transfer, partner_transfer=counted)))
        body = TransferRequest(
            source_partner_tenant_id=_source(transfer).tenant_id,
            source_partner_name=_source(transfer).name,
            customer_email=transfer.contact_email or "",
            transfer_type=self._transfer_type,
        )
        try:
            created = self._pc.create_transfer(
                transfer.customer_tenant_id, body, request_id=request.request_id
            )
        except PartnerCenterError as error:
            if error.retryable or error.status is None or error.status >= 500:
                raise  # maybe created: the next attempt lists before it POSTs again
            found = self._find_open(transfer)  # 900101: an earlier attempt's request is open after all
            if found is not None:
                return self._adopt(
                    record, found, "the transfer request made by an earlier attempt was reused"
                )
            return self._fall_back_all(
                record, TransferStatus.FAILED, f"Partner Center refused the transfer request: {brief(error)}"
            )
        return self._adopt(record, created, "transfer request created; waiting for the source partner")

    def _find_open(self, transfer: Transfer) -> PartnerTransfer | None:
        source = _source(transfer).tenant_id
        for found in self._pc.list_transfers(transfer.customer_tenant_id):
            incoming = found.transfer_direction in (None, 1)
            if found.is_open and incoming and found.source_partner_tenant_id in (None, source):
                return found
        return None

    def _adopt(self, record: TransferRecord, found: PartnerTransfer, message: str) -> TransferRecord:
        at = self._now()
        transfer = record.transfer
        assert transfer.partner_transfer is not None
        request = replace(
            transfer.partner_transfer,
            transfer_id=found.id,
            status=found.status.value,
            created_at=(found.created or at).isoformat(),
            checked_at=at.isoformat(),
        )
        lines = tuple(
            replace(x, partner_transfer=replace(x.partner_transfer, status=REQUESTED))
            for x in record.lines
            if x.state is LineState.TRANSFERRING and x.partner_transfer is not None
        )
        entry = HistoryEntry(
            at=at, action="partner-transfer", message=f"{message} (Partner Center transfer {found.id})"
        )
        change = Change(replace(transfer, partner_transfer=request, updated_at=at), lines, (entry,))
        return self._commit(record, change)

    # -- following it -----------------------------------------------------------------------------

    def follow(self, record: TransferRecord) -> Followed:
        """Read the request and its line items: move what completed, fall back what cannot come."""
        transfer = record.transfer
        request = transfer.partner_transfer
        assert request is not None
        assert request.transfer_id is not None
        found = self._pc.get_transfer(transfer.customer_tenant_id, request.transfer_id)
        at = self._now()
        status, note = found.status, None
        if status is TransferStatus.UNKNOWN:
            LOG.warning(
                "transfer %s: Partner Center transfer status %r not understood",
                transfer.id,
                found.status_text,
            )
            note = f"Partner Center reports the unknown status {found.status_text!r}; still waiting"
        if status is TransferStatus.PENDING and _overdue(request, at):
            status, note = (
                TransferStatus.EXPIRED,
                "no answer from the source partner for 30 days: the request expired",
            )
        checked = replace(request, status=status.value, checked_at=at.isoformat())
        record = replace(record, transfer=replace(transfer, partner_transfer=checked))
        if status is TransferStatus.COMPLETED:
            return Followed(self._complete(record, found), True)
        if status.finished:
            why = note or f"the transfer request ended {status.value.lower()} ({found.status_text})"
            return Followed(self._fall_back_all(record, status, why), True)
        lines = self._progress(record, found)
        messages = [note or f"transfer request {status.value}"] if status.value != request.status else []
        if status is TransferStatus.PENDING and _first_read_after(request, WARN_AFTER, at):
            expires = _created(request) + EXPIRY
            messages.append(
                f"{_source(transfer).name} has not acted on the transfer request; it expires on "
                f"{expires:%Y-%m-%d}: ask it to submit, or its lines will be bought again"
            )
        history = tuple(HistoryEntry(at=at, action="partner-transfer", message=m) for m in messages)
        return Followed(
            self._commit(record, Change(replace(record.transfer, updated_at=at), lines, history)),
            False,
        )

    def _progress(self, record: TransferRecord, found: PartnerTransfer) -> tuple[Line, ...]:
        """Lines the source partner put in the request show it as in progress."""
        if not found.line_items:
            return ()
        included = self._items(record, found).by_line
        changed = []
        for line in record.lines:
            transfer = line.partner_transfer
            if (
                line.state is LineState.TRANSFERRING
                and transfer
                and line.id in included
                and transfer.status != IN_PROGRESS
            ):
                item = included[line.id][0].item
                changed.append(
                    replace(
                        line,
                        partner_transfer=replace(transfer, status=IN_PROGRESS, line_item_id=item.id or None),
                    )
                )
        return tuple(changed)

    def _items(self, record: TransferRecord, found: PartnerTransfer) -> _Items:
        """Line items per line, of any product type: an item's ``subscriptionId`` is the source
        partner's subscription id, which Graph shows as the original's ``commerceSubscriptionId``; its
        seats are the item's quantity, else the original's."""
        subscriptions = list(self._graph.list_directory_subscriptions(record.transfer.customer_tenant_id))
        originals = {(s.commerce_subscription_id or "").lower(): s for s in subscriptions}
        ends = {s.id: s.next_lifecycle for s in subscriptions if s.next_lifecycle is not None}
        items = _Items({}, [], ends)
        for item in found.line_items:
            original = originals.get(item.subscription_id)
            graph_id = original.id if original else item.subscription_id
            seats = (
                item.quantity if item.quantity is not None else (original.total_licenses if original else 0)
            )
            line = next((x for x in record.lines if graph_id in x.original_subscription_ids), None)
            if line is None:
                items.stray.append(item)
            else:
                items.by_line.setdefault(line.id, []).append(_Item(item, seats))
        return items

    def _complete(self, record: TransferRecord, found: PartnerTransfer) -> TransferRecord:
        """Match each line to what moved: a line moved whole is done; seats left out (a whole line, or
        part of one) fall back to the rebuy path, bought once; what moved outside the lines is noted."""
        at = self._now()
        transfer = record.transfer
        source = _source(transfer).name
        items = self._items(record, found)
        held = {s for x in record.lines for s in (*x.subscription_ids, *_transferred_ids(x))}
        pool = [s for s in self._pc.list_subscriptions(transfer.customer_tenant_id) if s.id not in held]
        moves: dict[str, tuple[list[_Item], list[Subscription], int]] = {}
        for line in record.lines:
            if line.state is LineState.TRANSFERRING and line.partner_transfer is not None:
                done = [i for i in items.by_line.get(line.id, []) if _moved(i.item)]
                known = (*(items.ends.get(g) for g in line.original_subscription_ids), line.original_expires)
                terms = {end for end in known if end is not None}
                matched = _match(line, [i.item for i in done], pool, terms)
                # The items' word, else what is now ours: the larger, so nothing moved is bought again.
                seats = max(sum(i.seats for i in done), sum(s.quantity for s in matched))
                moves[line.id] = (done, matched, min(seats, line.quantity))
        left = [
            replace(x, quantity=x.quantity - moves[x.id][2])
            for x in record.lines
            if x.id in moves and moves[x.id][2] < x.quantity
        ]
        fresh = self._replan(transfer, left, at) if left else {}
        lines: list[Line] = []
        history: list[HistoryEntry] = []
        for line in record.lines:
            if line.id not in moves:
                continue
            done, matched, seats = moves[line.id]
            ids = tuple(s.id for s in matched)
            kinds = sorted(
                {str(i.item.product_type) for i in done if not is_license_based(i.item.product_type)}
            )
            sold_as = f" (submitted as {', '.join(kinds)})" if kinds else ""
            if seats == 0:
                moved, entry = _fall_back(
                    transfer,
                    line,
                    NOT_INCLUDED,
                    f"{source} left it out of the transfer",
                    at,
                    fresh.get(line.id),
                )
            elif seats < line.quantity:
                why = (
                    f"{source} transferred {seats} of its {line.quantity} seats{sold_as} "
                    f"({', '.join(ids) or 'subscription not listed yet'}); the other "
                    f"{line.quantity - seats} were left out"
                )
                rest = replace(line, quantity=line.quantity - seats)
                decided = _partial_rebuy(fresh.get(line.id), seats)
                moved, entry = _fall_back(transfer, rest, PARTLY_TRANSFERRED, why, at, decided)
                assert moved.partner_transfer is not None
                moved = replace(
                    moved,
                    partner_transfer=replace(
                        moved.partner_transfer,
                        transferred_quantity=seats,
                        subscription_ids=ids,
                        line_item_id=(done[0].item.id if done else None) or None,
                    ),
                )
            else:
                moved, entry = line.move(LineState.COMPLETED, at=at, actor="partner-transfer")
                moved = replace(
                    moved,
                    subscription_ids=ids,
                    partner_transfer=replace(
                        line.partner_transfer or LineTransfer(BY_TRANSFER, TRANSFERRED),
                        status=TRANSFERRED,
                        transferred_quantity=seats,
                        line_item_id=(done[0].item.id if done else None) or None,
                    ),
                )
                ends = (
                    f"; the term still ends {line.original_expires:%Y-%m-%d}" if line.original_expires else ""
                )
                entry = replace(
                    entry,
                    message=f"line {line.source_sku_part_number}: transferred from {source}{sold_as} "
                    f"({', '.join(ids) or 'subscription not listed yet'}); "
                    f"nothing bought, no licence changed{ends}",
                )
            lines.append(moved)
            history.append(entry)
        also, notes = _moved_outside_the_request(record, items, source, at)
        lines.extend(also)
        history.extend(notes)
        change = _blocked_on_decisions(
            Change(replace(transfer, updated_at=at), tuple(lines), tuple(history)), at
        )
        entry = HistoryEntry(
            at=at, action="partner-transfer", message=f"transfer request {found.id} completed"
        )
        return self._commit(record, replace(change, history=(*change.history, entry)))

    # -- endings ----------------------------------------------------------------------------------

    def fallback(self, record: TransferRecord, status: TransferStatus, why: str) -> Change:
        """Every line still waiting for the transfer goes back to the rebuy path, decided again against
        today's catalog."""
        at = self._now()
        waiting = [x for x in record.lines if x.state is LineState.TRANSFERRING]
        fresh = self._replan(record.transfer, waiting, at) if waiting else {}
        return fallback_change(record, status, why, at, fresh)

    def _fall_back_all(self, record: TransferRecord, status: TransferStatus, why: str) -> TransferRecord:
        return self._commit(record, self.fallback(record, status, why))

    def cancel_request(self, record: TransferRecord) -> PartnerTransfer | None:
        """Cancel the open request at Partner Center; refused once the source partner submitted it."""
        transfer = record.transfer
        request = transfer.partner_transfer
        if request is None or TransferStatus.read(request.status).finished:
            return None
        customer = transfer.customer_tenant_id
        found = (
            self._pc.get_transfer(customer, request.transfer_id)
            if request.transfer_id
            else self._find_open(transfer)
        )
        if found is None or found.status.finished:
            return found
        if found.status is not TransferStatus.PENDING:
            raise IllegalTransitionError(
                f"the source partner has already submitted transfer request {found.id} "
                f"({found.status_text}); Partner Center cancels a request only while it is pending"
            )
        cancelled = self._pc.cancel_transfer(
            customer,
            found.id,
            source=_source(transfer).tenant_id,
            target=self._partner,
            request_id=str(uuid.uuid4()),
        )
        return replace(cancelled, status=TransferStatus.CANCELLED) if cancelled.is_open else cancelled

    # -- webhooks ---------------------------------------------------------------------------------

    def take_webhook(self, event: PartnerCenterEvent) -> str:
        """Queue a read of the customer's request: ``accepted``, ``duplicate`` or ``ignored``."""
        customer, named = webhook_ids(event)
        transfer_id = self._store.active_transfer_id(customer) if customer else None
        if customer is None or transfer_id is None:
            return "ignored"
        request = self._store.get(transfer_id).transfer.partner_transfer
        if request is None or (named and request.transfer_id and named != request.transfer_id):
            return "ignored"  # another partner's or an older request
        if self._store.has_event(transfer_id, event.delivery_key):
            return "duplicate"
        self._queue.send(
            TransferEvent(
                EventType.PARTNER_TRANSFER_CHANGED,
                transfer_id,
                customer,
                "webhook",
                event_id=event.delivery_key,
            )
        )
        self._store.remember_event(transfer_id, event.delivery_key, kind=event.event_name)
        return "accepted"


def fallback_change(
    record: TransferRecord, status: TransferStatus, why: str, at: datetime, fresh: Mapping[str, Line]
) -> Change:
    """Every line still waiting for the transfer goes back to the rebuy path, as ``fresh`` (the lines
    decided again) has it; a line that now needs an admin blocks the transfer (a pure decision)."""
    transfer = record.transfer
    request = transfer.partner_transfer
    lines, history = [], []
    for line in record.lines:
        if line.state is LineState.TRANSFERRING:
            status_text = _FALLBACK_STATUS.get(status, "Failed")
            moved, entry = _fall_back(transfer, line, status_text, why, at, fresh.get(line.id))
            lines.append(moved)
            history.append(entry)
    header = replace(
        transfer, updated_at=at, partner_transfer=replace(request, status=status.value) if request else None
    )
    return _blocked_on_decisions(Change(header, tuple(lines), tuple(history)), at)


def _fall_back(
    transfer: Transfer, line: Line, status: str, why: str, at: datetime, fresh: Line | None
) -> tuple[Line, HistoryEntry]:
    """Back to the rebuy path for ``line.quantity`` seats, as decided again (``fresh``: the identical
    offer, else an equivalent one, possibly needing approval, else blocked), bought
    ``purchaseLeadDays`` before the original's term end: until then the source partner bills it,
    and buying earlier would bill the customer twice."""
    lead = timedelta(days=transfer.options.purchase_lead_days)
    due = max(at, line.original_expires - lead) if line.original_expires else at
    decided = fresh or line
    state = decided.state if fresh else LineState.PLANNED
    moved, entry = line.move(state, at=at, actor="partner-transfer", reason=decided.reason)
    path = replace(
        line.partner_transfer or LineTransfer(BY_REBUY, status), path=BY_REBUY, status=status, reason=why
    )
    moved = replace(
        moved,
        quantity=line.quantity,
        decision=decided.decision,
        replacements=decided.replacements,
        explanation=decided.explanation,
        users_to_move=decided.users_to_move,
        reason=decided.reason if state is not LineState.PLANNED else None,
        resume_state=decided.resume_state,
        purchase_due=due,
        partner_transfer=path,
    )
    name = _source(transfer).name
    when = (
        f"bought on {due:%Y-%m-%d}, before the original's term end, because {name} "
        "bills it until then (approve the line to buy at once)"
        if due > at
        else "bought now"
    )
    if state is not LineState.PLANNED:
        when = f"{state}: {decided.reason}; once decided, {when}"
    elif decided.decision == Decision.EQUIVALENT.value:
        when = f"by an equivalent offer, {when}"
    when += f"; ask {name} not to renew the original"
    return moved, replace(
        entry, message=f"line {line.source_sku_part_number}: {why}; falls back to the rebuy path, {when}"
    )


def _partial_rebuy(decided: Line | None, transferred: int) -> Line | None:
    """The rest of a line moved in part, bought as an equivalent offer, is left to an admin: its
    cutover would move every holder of the SKU, those on the transferred seats too."""
    if decided is None or decided.decision != Decision.EQUIVALENT.value:
        return decided
    reason = (
        f"{transferred} seats were transferred and keep the SKU; the rest would take an equivalent offer, "
        "whose cutover moves every holder of the SKU: buy it and move the chosen users by hand, then "
        "decline this line"
    )
    return replace(decided, state=LineState.BLOCKED, resume_state=LineState.PLANNED, reason=reason)


def _blocked_on_decisions(change: Change, at: datetime) -> Change:
    """Lines sent back to the rebuy path that wait for an admin (an equivalent that loses data, or
    none found) block the transfer, as they do when planned."""
    waiting = [x for x in change.lines if x.state in (LineState.NEEDS_APPROVAL, LineState.BLOCKED)]
    transfer = change.transfer
    if (
        not waiting
        or transfer.state in (TransferState.BLOCKED, TransferState.FAILED)
        or not transfer.is_active
    ):
        return change
    reasons = "; ".join(f"{x.source_sku_part_number}: {x.reason}" for x in waiting)
    blocked, entry = transfer.move(
        TransferState.BLOCKED,
        at=at,
        actor="partner-transfer",
        reason=f"{len(waiting)} line(s) need an admin's decision (approve or decline): {reasons}",
    )
    return replace(change, transfer=blocked, history=(*change.history, entry))


def _moved_outside_the_request(
    record: TransferRecord, items: _Items, source: str, at: datetime
) -> tuple[list[Line], list[HistoryEntry]]:
    """What the source partner moved beyond the lines asked for is recorded, not dropped: an item of
    another product type (Azure, software, SaaS...) matching no line of ours is noted; one that moved
    a line on the rebuy path, with nothing bought yet, ends that line (buying it too bills twice)."""
    lines, notes = [], []
    for item in items.stray:  # a licence of ours whose id changed is matched by offer instead
        if _moved(item) and not is_license_based(item.product_type):
            kind = item.product_type or "an unnamed product type"
            notes.append(
                HistoryEntry(
                    at=at,
                    action="partner-transfer",
                    message=f"{source} also transferred subscription {item.subscription_id} ({kind}, "
                    f"quantity {item.quantity if item.quantity is not None else 'not given'}); it is "
                    "none of this transfer's licence lines and is not tracked here",
                )
            )
    for line in record.lines:
        done = [i for i in items.by_line.get(line.id, []) if _moved(i.item)]
        if line.state in (LineState.TRANSFERRING, LineState.SKIPPED) or not done:
            continue
        kinds = ", ".join(sorted({i.item.product_type or "no product type" for i in done}))
        if line.state in (LineState.PLANNED, LineState.NEEDS_APPROVAL, LineState.BLOCKED):
            why = f"{source} transferred it after all ({kinds}); nothing is bought for it"
            moved, entry = line.move(LineState.SKIPPED, at=at, actor="partner-transfer")
            seats = sum(i.seats for i in done)
            path = LineTransfer(BY_TRANSFER, TRANSFERRED, why, done[0].item.id or None, seats)
            lines.append(replace(moved, reason=why, purchase_due=None, partner_transfer=path))
            notes.append(replace(entry, message=f"line {line.source_sku_part_number}: {why}"))
        else:
            notes.append(
                HistoryEntry(
                    at=at,
                    action="partner-transfer",
                    line_id=line.id,
                    message=f"line {line.source_sku_part_number}: {source} also transferred it ({kinds}) "
                    f"while it is {line.state} on the rebuy path: the customer may be billed twice; "
                    "cancel one of them in Partner Center",
                )
            )
    return lines, notes


def buy_at_once(line: Line, at: datetime) -> tuple[Line, HistoryEntry]:
    """An admin's approval to buy a deferred line now rather than before its original's term end."""
    if line.state is not LineState.PLANNED or line.purchase_due is None or line.purchase_due <= at:
        raise IllegalTransitionError(
            f"line {line.id} is {line.state} and not waiting for a deferred purchase"
        )
    return replace(line, purchase_due=at), HistoryEntry(
        at=at, action="line-approve", actor="api", line_id=line.id,
        message=f"line {line.source_sku_part_number}: an admin approved buying it at once",
    )  # fmt: skip


def is_deferred(line: Line, at: datetime) -> bool:
    return line.state is LineState.PLANNED and line.purchase_due is not None and line.purchase_due > at


def _match(
    line: Line, items: Sequence[TransferLineItem], pool: list[Subscription], ends: set[datetime]
) -> list[Subscription]:
    """The subscriptions now ours for a transferred line: by id, else (Microsoft gave them new ids) by
    offer and term end, gathered up to the line's seats, so a line moved in part counts what moved
    and only the rest is bought. A subscription whose term end is none of the originals' (``ends``)
    is never counted: it is not one that moved."""
    ids = {i.subscription_id for i in items}
    found = [s for s in pool if s.id in ids]
    if not found and line.replacements:
        offer = _product_sku(line.replacements[0].catalog_item_id)
        left = line.quantity
        for s in sorted(pool, key=lambda s: -s.quantity):
            if (
                _product_sku(s.offer_id) == offer
                and 0 < s.quantity <= left
                and (
                    not ends
                    or s.commitment_end is None
                    or any(abs(s.commitment_end - end) <= timedelta(days=1) for end in ends)
                )
            ):
                found.append(s)
                left -= s.quantity
    for s in found:
        pool.remove(s)
    return found


@dataclass(frozen=True, slots=True)
class _Item:
    item: TransferLineItem
    seats: int


@dataclass(frozen=True, slots=True)
class _Items:
    """A transfer's line items: per line (by its originals), and those matching no line; ``ends`` is
    each original's term end by its Graph id, to tell a moved subscription whose id changed."""

    by_line: dict[str, list[_Item]]
    stray: list[TransferLineItem]
    ends: dict[str, datetime]


def _moved(item: TransferLineItem) -> bool:
    """A line item without a status follows its transfer's, which is complete when this is asked."""
    return item.status in (TransferStatus.COMPLETED, TransferStatus.UNKNOWN)


def _transferred_ids(line: Line) -> tuple[str, ...]:
    return line.partner_transfer.subscription_ids if line.partner_transfer else ()


def _product_sku(catalog_item_id: str) -> str:
    return ":".join(catalog_item_id.lower().split(":")[:2])


def _source(transfer: Transfer) -> SourcePartner:
    assert transfer.source_partner is not None
    return transfer.source_partner
