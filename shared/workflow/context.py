"""What every step is handed, and what it answers.

A step is a plain function ``step(ctx, record, event) -> Next``. The runner hands it the stored
record; it decides, makes at most one external write, and commits the new state with its history
through :meth:`StepContext.commit`. When it must wait (Partner Center's lag, provisioning, a 429)
it answers ``Next(record, wait_seconds=N)`` and the runner puts the event back with that delay:
nothing sleeps inside a function. When it cannot go on without someone it halts the transfer with
a reason (:meth:`StepContext.halt`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shared.clients.calls import counting_calls, deadline, take_call_count
from shared.domain import Change, HistoryEntry, Transfer, TransferState
from shared.domain.events import EventType, TransferEvent
from shared.store.quota import GRAPH_WRITES, Quota

if TYPE_CHECKING:
    from shared.clients.delegated_admin import DelegatedAdminClient
    from shared.clients.graph import GraphClient
    from shared.clients.partner_center import PartnerCenterClient
    from shared.store.queue import EventQueue
    from shared.store.records import TransferRecord
    from shared.store.repository import TransferStore
    from shared.workflow.planning import Planner


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Next:
    """A step's answer: the record after its commit, and whether to go on now, wait, or stop."""

    record: TransferRecord
    wait_seconds: float | None = None
    stop: bool = False


@dataclass(frozen=True, slots=True)
class Partner:
    """This partner: its Entra tenant (its Microsoft ID) and its country, which sets its CSP region."""

    tenant_id: str
    country: str


@dataclass(frozen=True, slots=True)
class Access:
    """How the product sets up its delegated access in a customer's tenant: the partner's security
    group the access assignment names (``GDAP_SECURITY_GROUP_ID``), the application consented there
    (the partner's app registration), and what becomes of the relationship once the transfer is done
    (``GDAP_AFTER_COMPLETION``: ``end`` it, or ``reduce`` it to reading)."""

    security_group_id: str
    application_id: str
    after_completion: str = "end"


@dataclass(frozen=True)
class StepContext:
    """Everything a step may use, built once by the composition root (tests ``replace`` a part)."""

    store: TransferStore
    partner_center: PartnerCenterClient
    graph: GraphClient
    queue: EventQueue
    planner: Planner
    partner: Partner
    delegated_admin: DelegatedAdminClient
    access: Access
    cutover_lead: timedelta = timedelta(days=7)
    provisioning_poll_seconds: float = 30.0
    group_poll_seconds: float = 5.0  # the first wait for Entra to process a group's licence change
    access_poll_seconds: float = 15.0  # the first wait for Microsoft to apply an assignment or a consent
    graph_write_quota: Quota = GRAPH_WRITES  # Graph's licence writes per tenant (GRAPH_WRITE_QUOTA)
    clock: Callable[[], datetime] = field(default=utc_now)

    def now(self) -> datetime:
        return self.clock()

    @contextmanager
    def bounded(self, seconds: float) -> Iterator[None]:
        """A step's run: every call to Microsoft inside ends by the deadline, and is counted."""
        with deadline(seconds), counting_calls():
            yield

    def commit(self, record: TransferRecord, change: Change) -> TransferRecord:
        """Every step's commit: the calls made since the last one are added to the transfer's count."""
        transfer = change.transfer
        counted = replace(transfer, api_calls=transfer.api_calls + take_call_count())
        return self.store.commit(record, replace(change, transfer=counted))

    def calls_so_far(self) -> int:
        """The Partner Center and Graph calls made since the last commit; taking them resets the count."""
        return take_call_count()

    def note(
        self,
        record: TransferRecord,
        action: str,
        message: str,
        *,
        actor: str = "workflow",
        details: tuple[tuple[str, str], ...] = (),
    ) -> TransferRecord:
        """A history row and nothing else (the header's ``updated_at`` moves with it)."""
        at = self.now()
        entry = HistoryEntry(at=at, action=action, actor=actor, message=message, details=details)
        return self.commit(record, Change(replace(record.transfer, updated_at=at), history=(entry,)))

    def halt(self, record: TransferRecord, reason: str, state: TransferState = TransferState.BLOCKED) -> Next:
        """Stop the transfer for someone to act: Blocked (waits for a decision) or Failed."""
        transfer, entry = record.transfer.move(state, at=self.now(), actor="workflow", reason=reason)
        return Next(self.commit(record, Change(transfer, history=(entry,))), stop=True)

    def wake(self, transfer: Transfer, source: str) -> None:
        """Put the transfer's next step on the queue (after an approval, a retry...)."""
        if transfer.is_active:
            self.queue.send(
                TransferEvent(EventType.CONTINUE, transfer.id, transfer.customer_tenant_id, source)
            )
