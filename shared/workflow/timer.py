"""The timer: the backstop for what no event announced, over in-flight transfers only. It reads and
sends events; it never writes a record (the steps it wakes do).

It reads the in-flight index, never every stored transfer. For each transfer it does at most one
cheap thing: asks whether a customer still awaiting acceptance has accepted (one point read each,
or one paged customer listing when many wait); announces ``subscription-expiring`` for a
provisioned, cutting-over, blocked or failed transfer when a purchase or a cutover is due or its
originals are due a read by the stored dates (:func:`~shared.workflow.rules.originals.read_due`:
every ``ORIGINALS_READ_HOURS``, and when a lapse date or the cutover lead before it comes): the step
it wakes reads the tenant, the scan reads no tenant for the originals;
asks for a read of a partner transfer request when its poll is due
(:func:`~shared.workflow.rules.partner_transfer.poll_due`); or wakes a transfer that has not moved
for a while, in case its message was lost. While a GDAP request waits for the customer, it reads
the relationship's status (the same way: a read each, or one listing when many wait) and announces
``access-changed`` when it moved, the backstop for a missed ``granular-admin-*`` webhook. Then it
reads the completed transfers whose originals are still watched (their own index) the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from shared.clients.errors import ServiceError, brief
from shared.domain import Transfer, TransferState
from shared.domain.events import EventType, TransferEvent
from shared.store.errors import TransferNotFoundError
from shared.workflow.context import StepContext
from shared.workflow.rules.access import is_pending
from shared.workflow.rules.originals import HALTED, read_due, watching
from shared.workflow.rules.partner_transfer import poll_due

LOG = logging.getLogger(__name__)


_IN_FLIGHT = frozenset({TransferState.PROVISIONED, TransferState.CUTTING_OVER})
_READ_ORIGINALS = _IN_FLIGHT | HALTED


@dataclass(frozen=True, slots=True)
class ScanReport:
    active: int = 0
    accepted: int = 0
    nudged: int = 0
    expiring: int = 0
    watched: int = 0  # completed transfers whose originals were read
    access: int = 0  # GDAP relationships found moved (approved, ended) that no webhook announced


class Timer:
    def __init__(
        self,
        ctx: StepContext,
        *,
        stuck_after: timedelta = timedelta(minutes=30),
        point_reads_up_to: int = 50,
        originals_read_every: timedelta = timedelta(hours=6),
    ) -> None:
        self.ctx = ctx
        self._stuck_after = stuck_after
        self._point_reads_up_to = point_reads_up_to
        self._originals_read_every = originals_read_every

    def scan(self) -> ScanReport:
        """The backstop for missed webhooks and lost messages, over in-flight transfers only (and
        the completed ones whose originals are still watched)."""
        awaiting: list[Transfer] = []
        pending: list[Transfer] = []  # their GDAP relationship is not approved yet
        report = ScanReport()
        token: str | None = None
        while True:
            page = self.ctx.store.list_active(page_size=100, continuation_token=token)
            for transfer in page.transfers:
                report = replace(report, active=report.active + 1)
                if poll_due(transfer, self.ctx.now()):
                    self._send(EventType.PARTNER_TRANSFER_CHANGED, transfer)
                if transfer.gdap is not None and is_pending(transfer.gdap):
                    pending.append(transfer)
                if transfer.state is TransferState.AWAITING_ACCEPTANCE:
                    awaiting.append(transfer)
                elif transfer.state in _READ_ORIGINALS:
                    if self._originals_to_announce(transfer.id):
                        self._send(EventType.SUBSCRIPTION_EXPIRING, transfer)
                        report = replace(report, expiring=report.expiring + 1)
                elif self._is_stuck(transfer):
                    self._send(EventType.CONTINUE, transfer)
                    report = replace(report, nudged=report.nudged + 1)
            token = page.continuation_token
            if not token:
                break
        for transfer_id in self.ctx.store.watched.ids():
            report = replace(report, watched=report.watched + 1)
            completed = self._originals_to_announce(transfer_id, completed=True)
            if completed is not None:
                self._send(EventType.SUBSCRIPTION_EXPIRING, completed)
                report = replace(report, expiring=report.expiring + 1)
        accepted = self._accepted_among(awaiting)
        for transfer in accepted:
            self._send(EventType.INVITATION_ACCEPTED, transfer)
        moved = self._access_moved(pending)
        for transfer in moved:
            self._send(EventType.ACCESS_CHANGED, transfer)
        report = replace(report, accepted=len(accepted), access=len(moved))
        LOG.info(
            "scan: %d in flight, %d found accepted, %d nudged, %d with originals expiring, %d watched, "
            "%d GDAP moved",
            report.active,
            report.accepted,
            report.nudged,
            report.expiring,
            report.watched,
            report.access,
        )
        return report

    def _originals_to_announce(self, transfer_id: str, *, completed: bool = False) -> Transfer | None:
        """The transfer, when (while it still has originals to follow) they are due a read by the
        stored dates (:func:`~shared.workflow.rules.originals.read_due`), or (in flight) a purchase
        or a cutover is due: the step it wakes reads the tenant, the scan itself does not. Never
        cancels anything."""
        ctx = self.ctx
        try:
            record = ctx.store.get(transfer_id)
        except TransferNotFoundError:
            return None
        transfer = record.transfer
        if (transfer.state is TransferState.COMPLETED) is not completed or not watching(record.lines):
            return None
        now, lead = ctx.now(), ctx.cutover_lead
        due = transfer.state in _IN_FLIGHT and any(
            x.purchase_is_due(now) or x.cutover_is_due(now, lead) for x in record.lines
        )
        return (
            transfer
            if due or read_due(transfer, record.lines, now, lead, self._originals_read_every)
            else None
        )

    def _accepted_among(self, awaiting: Sequence[Transfer]) -> list[Transfer]:
        """Customers that accepted: one read each when few wait, else one paged customer listing."""
        if not awaiting:
            return []
        partner_center = self.ctx.partner_center
        if len(awaiting) <= self._point_reads_up_to:
            return [t for t in awaiting if partner_center.has_relationship(t.customer_tenant_id)]
        customers = {c.id.lower() for c in partner_center.list_customers()}
        return [t for t in awaiting if t.customer_tenant_id in customers]

    def _access_moved(self, pending: Sequence[Transfer]) -> list[Transfer]:
        """Transfers whose GDAP request is no longer where the record says (approved, withdrawn,
        expired): one read each when few wait, else one paged listing of the partner's."""
        if not pending:
            return []
        admin = self.ctx.delegated_admin
        try:
            if len(pending) <= self._point_reads_up_to:
                status = {t.id: admin.get_admin_relationship(_relationship(t)).status for t in pending}
            else:
                known = {r.id: r.status for r in admin.list_admin_relationships()}
                status = {t.id: known.get(_relationship(t), "unknown") for t in pending}
        except ServiceError as error:
            LOG.warning("scan: GDAP relationships not read: %s", brief(error))
            return []
        return [t for t in pending if status[t.id] != _recorded(t)]

    def _is_stuck(self, transfer: Transfer) -> bool:
        live = transfer.state in (TransferState.ACCEPTED, TransferState.PROVISIONING)
        return live and self.ctx.now() - transfer.updated_at > self._stuck_after

    def _send(self, kind: EventType, transfer: Transfer) -> None:
        self.ctx.queue.send(TransferEvent(kind, transfer.id, transfer.customer_tenant_id, "timer"))


def _relationship(transfer: Transfer) -> str:
    assert transfer.gdap is not None
    return transfer.gdap.relationship_id


def _recorded(transfer: Transfer) -> str:
    assert transfer.gdap is not None
    return transfer.gdap.status
