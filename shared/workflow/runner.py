"""The queue boundary, and the whole workflow on one screen: an ordered table of (guard, step).

Every ``transfer-events`` message goes through :meth:`Runner.handle_message`. It reads the record,
and runs the first step of :data:`STEPS` whose guard holds; then reads the table again on the new
record, until no guard holds, a step must wait, or :data:`MAX_STEPS` ran (the rest goes to a fresh
message). A guard is a pure predicate of the stored record, the event and the moment; a step is a
plain function ``step(ctx, record, event) -> Next`` (:mod:`shared.workflow.context`).

Because every step starts from the stored state, a message delivered twice, or a host killed
half-way, repeats at most a read or a write Partner Center de-duplicates by its request id; it
never buys twice. Throttling and waits put the event back with a delay (no dequeue is spent); a
transient failure is raised for the host to retry, and on the last allowed dequeue the transfer is
marked Failed with the step and the reason before the message goes to the poison queue; a definite
failure is recorded at once. The timer runs inside the same kind of boundary (:func:`run_scan`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared import telemetry
from shared.clients.calls import QUEUE_STEP_DEADLINE
from shared.clients.errors import RetryLaterError, ServiceError, brief, call_details, said
from shared.domain import Change, IllegalTransitionError, LineState, TransferState
from shared.domain.events import EventType, MalformedEventError, TransferEvent
from shared.store.errors import ConcurrencyError, TransferNotFoundError
from shared.store.leases import LeaseHeldError
from shared.store.records import TransferRecord
from shared.workflow import acceptance, access, access_ending, agreement, cutover, partner_transfer, purchase
from shared.workflow.context import Next, StepContext
from shared.workflow.rules import access as rules
from shared.workflow.rules.originals import HALTED
from shared.workflow.rules.partner_transfer import needs_request, should_follow
from shared.workflow.rules.progress import failed_at_cutover
from shared.workflow.timer import ScanReport, Timer

LOG = logging.getLogger(__name__)

MAX_STEPS = 12  # steps run back to back in one message before handing over to a fresh one
#: The longest an event waits when another holder has the transfer's lease (a step runs seconds).
BUSY_WAIT_SECONDS = 5.0
#: Before that, the lease is asked for again after these pauses (seconds): most holders are through.
LEASE_PAUSES = (0.1, 0.2, 0.4, 0.8)
CONFLICT_WAIT = 3.0  # seconds: another message committed first; this one looks again after it
#: Throttled or out of time this many times in a row: the step is failed for an admin to look at.
MAX_WAITS = 100
_WORKING = frozenset(
    {
        TransferState.ACCEPTED,
        TransferState.PROVISIONING,
        TransferState.PROVISIONED,
        TransferState.CUTTING_OVER,
    }
)
_DONE = frozenset({LineState.COMPLETED, LineState.SKIPPED})
_WATCHED = (
    frozenset({TransferState.PROVISIONED, TransferState.CUTTING_OVER, TransferState.COMPLETED}) | HALTED
)


@dataclass(frozen=True, slots=True)
class Moment:
    """What a guard may know besides the record and the event: the time, and how long before an
    original's lapse its cutover runs."""

    now: datetime
    cutover_lead: timedelta


Guard = Callable[[TransferRecord, TransferEvent, Moment], bool]
Step = Callable[[StepContext, TransferRecord, TransferEvent], Next]


def _working(r: TransferRecord) -> bool:
    # a refund cancel under way (shared.workflow.refunds) ends the transfer: nothing more is done
    return r.transfer.state in _WORKING and r.transfer.refund is None


def _ordering(r: TransferRecord) -> bool:
    return _working(r) and any(x.state is LineState.ORDERING for x in r.lines)


def _acceptance_announced(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return r.transfer.state is TransferState.AWAITING_ACCEPTANCE and e.type is EventType.INVITATION_ACCEPTED


def _relationship_moved(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    # announced (a GDAP webhook, the timer), or still pending while an accepted transfer waits for it
    transfer, gdap = r.transfer, r.transfer.gdap
    if gdap is None or not transfer.is_active or gdap.ended is not None or gdap.read_for == e.event_id:
        return False
    waiting = transfer.state is TransferState.ACCEPTED and not transfer.planned and rules.is_pending(gdap)
    return e.type is EventType.ACCESS_CHANGED or waiting


def _access_lost(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    gdap = r.transfer.gdap
    return _working(r) and gdap is not None and gdap.ended is None and rules.is_ended(gdap)


def _access_unrequested(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return _working(r) and r.transfer.gdap is None


def _assignment_missing(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return _working(r) and r.transfer.gdap is not None and rules.needs_assignment(r.transfer.gdap)


def _assignment_pending(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return _working(r) and r.transfer.gdap is not None and rules.assignment_waiting(r.transfer.gdap)


def _consent_missing(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return _working(r) and r.transfer.gdap is not None and rules.needs_consent(r.transfer.gdap)


def _access_unverified(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return _working(r) and r.transfer.gdap is not None and rules.needs_verification(r.transfer.gdap)


def _partner_transfer_moved(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return should_follow(r.transfer, r.lines, e)


def _unplanned(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    # again after a crash between a long plan's transactions; the tenant is read only once access is
    transfer = r.transfer  # verified
    return transfer.state is TransferState.ACCEPTED and not transfer.planned and rules.access_ready(transfer)


def _lapse_announced(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    # halted and completed transfers too: a lapse risk, a renewal, a reminder (rules.originals)
    gdap = r.transfer.gdap
    return (
        e.type is EventType.SUBSCRIPTION_EXPIRING
        and r.transfer.state in _WATCHED
        and r.transfer.originals_read_for != e.event_id
        and (gdap is None or gdap.ended not in ("ended", "withdrawn"))  # still able to read the tenant
    )


def _partner_transfer_unasked(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return _working(r) and needs_request(r.transfer, r.lines)


def _agreement_unconfirmed(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    # nothing is checked out before the customer's acceptance of its agreement is confirmed
    buying = _purchase_unrecorded(r, e, m) or _purchase_due(r, e, m)
    return buying and not agreement.is_confirmed(r.transfer)


def _purchase_unrecorded(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return _ordering(r) and r.transfer.purchase is None


def _cart_missing(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    purchase = r.transfer.purchase
    return _ordering(r) and purchase is not None and purchase.cart_id is None


def _cart_unpaid(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    purchase = r.transfer.purchase
    return _ordering(r) and purchase is not None and purchase.cart_id is not None


def _orders_unprovisioned(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return _working(r) and any(x.state is LineState.ORDERED for x in r.lines)


def _purchase_due(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    # nothing is bought without verified access (a relationship ended meanwhile stops it)
    due = _working(r) and any(x.purchase_is_due(m.now) for x in r.lines)
    return due and rules.access_ready(r.transfer)


def _every_line_done(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    # planned: an accepted transfer waiting for access has no lines yet, not every line done
    return _working(r) and r.transfer.planned and all(x.state in _DONE for x in r.lines)


def _access_to_end(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return _every_line_done(r, e, m) and rules.to_end(r.transfer)


def _nothing_due_yet(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return r.transfer.state is TransferState.ACCEPTED and r.transfer.planned


def _cutover_due(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return _working(r) and any(x.cutover_is_due(m.now, m.cutover_lead) for x in r.lines)


def _cutover_failed(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    # after _cutover_due in the table: every due line has run
    return _working(r) and any(failed_at_cutover(x) for x in r.lines)


#: The workflow: the first pair whose guard holds runs. Order matters where guards overlap: delegated
#: access is set up and verified before anything reads the tenant or buys; work in flight (a cart
#: being bought, orders provisioning) finishes before new work starts; access is ended before the
#: transfer completes.
STEPS: tuple[tuple[Guard, Step], ...] = (
    (_acceptance_announced, acceptance.confirm_acceptance),
    (_relationship_moved, access.follow_relationship),
    (_access_lost, access.access_lost),
    (_access_unrequested, access.request_access),
    (_assignment_missing, access.assign_access),
    (_assignment_pending, access.await_assignment),
    (_consent_missing, access.consent_application),
    (_access_unverified, access.verify_access),
    (_partner_transfer_moved, partner_transfer.follow_request),
    (_unplanned, acceptance.plan_lines),
    (_lapse_announced, cutover.track_originals),
    (_partner_transfer_unasked, partner_transfer.request_transfer),
    (_agreement_unconfirmed, agreement.confirm_agreement),
    (_purchase_unrecorded, purchase.intend_purchase),
    (_cart_missing, purchase.create_cart),
    (_cart_unpaid, purchase.check_out),
    (_orders_unprovisioned, purchase.await_provisioning),
    (_purchase_due, purchase.intend_purchase),
    (_access_to_end, access_ending.end_access),
    (_every_line_done, cutover.complete),
    (_nothing_due_yet, purchase.defer_purchases),
    (_cutover_due, cutover.cut_over),
    (_cutover_failed, cutover.halt_failed_lines),
)


def next_step(record: TransferRecord, event: TransferEvent, moment: Moment) -> Step | None:
    """The one step the stored state calls for now, or None when the transfer waits (or is halted)."""
    return next((step for guard, step in STEPS if guard(record, event, moment)), None)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a handled event asks of the queue: nothing, or to come back after ``wait_seconds``."""

    wait_seconds: float | None = None
    event: TransferEvent | None = None


DONE = Outcome()


class StepFailedError(Exception):
    """A step raised; carries the step's name so the record says where it stopped."""

    def __init__(self, step: str, error: Exception) -> None:
        super().__init__(f"{step}: {error}")
        self.step = step
        self.error = error


class Runner:
    """The queue trigger's one call, over one :class:`StepContext`."""

    def __init__(self, ctx: StepContext, *, max_dequeue_count: int = 5) -> None:
        self.ctx = ctx
        self._max_dequeue_count = max_dequeue_count

    def handle_message(self, body: bytes | str, dequeue_count: int = 1) -> None:
        """Parse, run, and tell the queue what to do (see the module docstring)."""
        try:
            event = TransferEvent.parse(body)
        except MalformedEventError as malformed:
            LOG.error("transfer-events: malformed message refused: %s", malformed)
            raise
        try:
            with self.ctx.bounded(QUEUE_STEP_DEADLINE):
                outcome = self.handle(event)
        except StepFailedError as failure:
            self._failed(event, failure, dequeue_count)
            return
        if outcome.wait_seconds is not None:
            self.ctx.queue.send(outcome.event or event.again(), delay_seconds=outcome.wait_seconds)

    def _failed(self, event: TransferEvent, failure: StepFailedError, dequeue_count: int) -> None:
        error = failure.error
        if isinstance(error, RetryLaterError):
            if event.attempt < MAX_WAITS:
                self.ctx.queue.send(event.again(), delay_seconds=error.retry_after or 60)
                telemetry.count_throttling_wait(failure.step)
            else:
                telemetry.count_failure(failure.step, final=True)
                self._record_failure(event.transfer_id, failure)
            return
        transient = not isinstance(error, ServiceError) or error.retryable
        last = dequeue_count >= self._max_dequeue_count
        telemetry.count_failure(failure.step, final=not transient or last)
        if transient and not last:
            raise failure
        self._record_failure(event.transfer_id, failure)
        if transient:
            raise failure

    def handle(self, event: TransferEvent) -> Outcome:
        """Run the transfer's steps from its stored state until one must wait or nothing is left,
        holding the transfer's lease: another host, a retry's wake-up or the timer's announcement
        of the same transfer waits its turn instead of writing for the same users at once."""
        holder = uuid.uuid4().hex
        for pause in LEASE_PAUSES:
            with suppress(LeaseHeldError):
                return self._holding(event, holder)
            time.sleep(pause)
        try:
            return self._holding(event, holder)
        except LeaseHeldError as held:
            LOG.info(
                "transfer %s is being worked on elsewhere; event %s comes back", event.transfer_id, event.type
            )
            return Outcome(min(max(held.retry_after, 1.0), BUSY_WAIT_SECONDS), event.again())

    def _holding(self, event: TransferEvent, holder: str) -> Outcome:
        with self.ctx.store.leases.kept(event.transfer_id, holder) as lost:
            return self._steps(event, lost)

    def _steps(self, event: TransferEvent, lost: threading.Event) -> Outcome:
        ctx = self.ctx
        try:
            record = ctx.store.get(event.transfer_id)
        except TransferNotFoundError:
            LOG.warning("event %s for unknown transfer %s dropped", event.type, event.transfer_id)
            return DONE
        for _ in range(MAX_STEPS):
            if lost.is_set():  # the lease went to another holder: it goes on from the stored state
                return DONE
            step = next_step(record, event, Moment(ctx.now(), ctx.cutover_lead))
            if step is None:
                return DONE
            try:
                result = _run(ctx, step, record, event)
            except StepFailedError as failure:
                if not isinstance(failure.error, ConcurrencyError):
                    raise
                # Another message moved the transfer first (a GDAP event beside the acceptance, say):
                # come back once it is through and decide again from what it stored, as the host's
                # redelivery would, but after CONFLICT_WAIT rather than the visibility timeout.
                return Outcome(CONFLICT_WAIT, event.again())
            record = result.record
            if result.wait_seconds is not None:
                waiting = record.transfer.state is TransferState.AWAITING_ACCEPTANCE
                again = event.again() if waiting else replace(event.again(), type=EventType.CONTINUE)
                return Outcome(result.wait_seconds, again)
            if result.stop:
                return DONE
        return Outcome(0.0, replace(event.again(), type=EventType.CONTINUE))

    def _record_failure(self, transfer_id: str, failure: StepFailedError) -> None:
        reason = f"step {failure.step} failed: {said(failure.error)}"
        LOG.error("transfer %s: step %s failed: %s", transfer_id, failure.step, brief(failure.error))
        ctx = self.ctx

        def decide(record: TransferRecord) -> Change | None:
            transfer = record.transfer
            if transfer.state in (TransferState.BLOCKED, TransferState.FAILED) or not transfer.is_active:
                return None
            failed, entry = transfer.move(TransferState.FAILED, at=ctx.now(), actor="workflow", reason=reason)
            return Change(failed, history=(replace(entry, details=call_details(failure.error)),))

        try:
            ctx.store.update(transfer_id, decide)
        except (TransferNotFoundError, IllegalTransitionError):
            return


def _run(ctx: StepContext, step: Step, record: TransferRecord, event: TransferEvent) -> Next:
    """One step inside its telemetry span; whatever it raises carries the step's name."""
    name = step.__name__
    try:
        with telemetry.step(event.transfer_id, name) as run:
            try:
                result = step(ctx, record, event)
            except RetryLaterError:
                run.outcome = "throttled"
                raise
            halted = result.record.transfer.state
            if halted is TransferState.BLOCKED or halted is TransferState.FAILED:
                run.outcome = "blocked" if halted is TransferState.BLOCKED else "failed"
            elif result.wait_seconds is not None:
                run.outcome = "waiting"
    except Exception as error:
        raise StepFailedError(name, error) from error
    return result


def run_scan(timer: Timer) -> ScanReport:
    """The timer's boundary: bounded like a queue step, and a failure logged with its cause before
    it is raised for the host (the next scan tries again; nothing it does is lost)."""
    try:
        with timer.ctx.bounded(QUEUE_STEP_DEADLINE):
            return timer.scan()
    except Exception as error:
        LOG.error("scan failed: %s", brief(error))
        raise
