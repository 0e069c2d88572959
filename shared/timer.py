"""The timer: the backstop for what no event announced, over in-flight transfers only.

It reads the in-flight index, never every stored transfer. For each transfer it does at most one
cheap thing: asks whether a customer still awaiting acceptance has accepted (one point read each,
or one paged customer listing when many wait); reads when a provisioned transfer's originals lapse
(one paged Graph read per customer), recording changes and announcing ``subscription-expiring``
when a purchase or a cutover is due; asks for a read of a partner transfer request when its
poll is due (:func:`~shared.partner_transfer.poll_due`); or wakes a transfer that has not moved for
a while, in case its message was lost. It only sends events; the workflow does the work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .domain import Change, HistoryEntry, Line, LineState, Transfer, TransferState
from .errors import ServiceError, brief
from .events import EventQueue, EventType, TransferEvent
from .partner_transfer import poll_due
from .store import ConcurrencyError, TransferNotFoundError, TransferStore
from .transport import QUEUE_STEP_DEADLINE, deadline

if TYPE_CHECKING:
    from .graph import GraphClient
    from .partner_center import PartnerCenterClient
    from .resources.graph import CompanySubscription

LOG = logging.getLogger("shared.timer")


@dataclass(frozen=True, slots=True)
class ScanReport:
    active: int = 0
    accepted: int = 0
    nudged: int = 0
    expiring: int = 0


class Timer:
    def __init__(
        self,
        *,
        store: TransferStore,
        partner_center: PartnerCenterClient,
        graph: GraphClient,
        queue: EventQueue,
        clock: Callable[[], datetime],
        cutover_lead: timedelta,
        stuck_after: timedelta = timedelta(minutes=30),
        point_reads_up_to: int = 50,
    ) -> None:
        self._store = store
        self._pc = partner_center
        self._graph = graph
        self._queue = queue
        self._now = clock
        self._cutover_lead = cutover_lead
        self._stuck_after = stuck_after
        self._point_reads_up_to = point_reads_up_to

    def scan(self) -> ScanReport:
        """The backstop for missed webhooks and lost messages, over in-flight transfers only."""
        with deadline(QUEUE_STEP_DEADLINE):
            return self._scan()

    def _scan(self) -> ScanReport:
        awaiting: list[Transfer] = []
        active = nudged = expiring = 0
        token: str | None = None
        while True:
            page = self._store.list_active(page_size=100, continuation_token=token)
            for transfer in page.transfers:
                active += 1
                if poll_due(transfer, self._now()):
                    self._send(EventType.PARTNER_TRANSFER_CHANGED, transfer)
                if transfer.state is TransferState.AWAITING_ACCEPTANCE:
                    awaiting.append(transfer)
                elif transfer.state in (TransferState.PROVISIONED, TransferState.CUTTING_OVER):
                    expiring += self._track_originals(transfer)
                elif self._is_stuck(transfer):
                    self._send(EventType.CONTINUE, transfer)
                    nudged += 1
            token = page.continuation_token
            if not token:
                break
        accepted = 0
        for transfer in self._accepted_among(awaiting):
            self._send(EventType.INVITATION_ACCEPTED, transfer)
            accepted += 1
        report = ScanReport(active=active, accepted=accepted, nudged=nudged, expiring=expiring)
        LOG.info(
            "scan: %d in flight, %d found accepted, %d nudged, %d with originals expiring",
            active,
            accepted,
            nudged,
            expiring,
        )
        return report

    def _track_originals(self, transfer: Transfer) -> int:
        """Read when each original lapses (one paged Graph read), record changes, and emit
        ``subscription-expiring`` when a purchase or a cutover is due. Never cancels anything."""
        try:
            record = self._store.get(transfer.id)
            subscriptions = {
                s.id: s for s in self._graph.list_directory_subscriptions(transfer.customer_tenant_id)
            }
        except (ServiceError, TransferNotFoundError) as error:
            LOG.warning("scan: originals of transfer %s not read: %s", transfer.id, brief(error))
            return 0
        now = self._now()
        lines, history = [], []
        for line in record.lines:
            if line.state in (LineState.COMPLETED, LineState.SKIPPED) or not line.original_subscription_ids:
                continue
            lapses = _lapse_of(line, subscriptions, now)
            known = line.original_expires
            if lapses is None or lapses == known or (known is not None and known <= now and lapses <= now):
                continue  # unchanged, or already known to have lapsed
            due = transfer.options.purchase_due(lapses, now) if line.purchase_due else None
            lines.append(replace(line, original_expires=lapses, purchase_due=due))
            was = f"{line.original_expires:%Y-%m-%d}" if line.original_expires else "unknown"
            history.append(
                HistoryEntry(
                    at=now,
                    action="originals",
                    line_id=line.id,
                    message=f"the originals of {line.source_sku_part_number} lapse on {lapses:%Y-%m-%d} "
                    f"(was {was}); nothing is cancelled",
                )
            )
        if lines:
            try:
                record = self._store.commit(record, Change(record.transfer, tuple(lines), tuple(history)))
            except ConcurrencyError:
                return 0  # a step is running; the next scan looks again
        if not any(x.purchase_is_due(now) or x.cutover_is_due(now, self._cutover_lead) for x in record.lines):
            return 0
        self._send(EventType.SUBSCRIPTION_EXPIRING, transfer)
        return 1

    def _accepted_among(self, awaiting: Sequence[Transfer]) -> list[Transfer]:
        """Customers that accepted: one read each when few wait, else one paged customer listing."""
        if not awaiting:
            return []
        if len(awaiting) <= self._point_reads_up_to:
            return [t for t in awaiting if self._pc.has_relationship(t.customer_tenant_id)]
        customers = {c.id.lower() for c in self._pc.list_customers()}
        return [t for t in awaiting if t.customer_tenant_id in customers]

    def _is_stuck(self, transfer: Transfer) -> bool:
        live = transfer.state in (TransferState.ACCEPTED, TransferState.PROVISIONING)
        return live and self._now() - transfer.updated_at > self._stuck_after

    def _send(self, kind: EventType, transfer: Transfer) -> None:
        self._queue.send(TransferEvent(kind, transfer.id, transfer.customer_tenant_id, "timer"))


def _lapse_of(line: Line, subscriptions: Mapping[str, CompanySubscription], now: datetime) -> datetime | None:
    """When the line's originals stop serving: the earliest renewal date of those still enabled,
    or now when one was deprovisioned early or is already past its end (Warning, Suspended...)."""
    originals = [subscriptions.get(s) for s in line.original_subscription_ids]
    if any(o is None or o.status.lower() != "enabled" for o in originals):
        return now
    dates = [o.next_lifecycle for o in originals if o is not None and o.next_lifecycle is not None]
    return min(dates) if dates else None
