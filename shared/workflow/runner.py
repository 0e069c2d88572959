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
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared import telemetry
from shared.clients.calls import QUEUE_STEP_DEADLINE
from shared.clients.errors import RetryLaterError, ServiceError, brief, call_details, said
from shared.domain import Change, IllegalTransitionError, LineState, TransferState
from shared.domain.events import EventType, MalformedEventError, TransferEvent
from shared.store.errors import TransferNotFoundError
from shared.store.records import TransferRecord
from shared.workflow import acceptance, cutover, partner_transfer, purchase
from shared.workflow.context import Next, StepContext
from shared.workflow.rules.partner_transfer import needs_request, should_follow
from shared.workflow.timer import ScanReport, Timer

LOG = logging.getLogger(__name__)

MAX_STEPS = 12  # steps run back to back in one message before handing over to a fresh one
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


@dataclass(frozen=True, slots=True)
class Moment:
    """What a guard may know besides the record and the event: the time, and how long before an
    original's lapse its cutover runs."""

    now: datetime
    cutover_lead: timedelta


Guard = Callable[[TransferRecord, TransferEvent, Moment], bool]
Step = Callable[[StepContext, TransferRecord, TransferEvent], Next]


def _working(r: TransferRecord) -> bool:
    return r.transfer.state in _WORKING


def _ordering(r: TransferRecord) -> bool:
    return _working(r) and any(x.state is LineState.ORDERING for x in r.lines)


def _acceptance_announced(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return r.transfer.state is TransferState.AWAITING_ACCEPTANCE and e.type is EventType.INVITATION_ACCEPTED


def _partner_transfer_moved(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return should_follow(r.transfer, r.lines, e)


def _unplanned(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    # again after a crash between a long plan's transactions
    return r.transfer.state is TransferState.ACCEPTED and not r.transfer.planned


def _lapse_announced(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    state = r.transfer.state
    return (
        e.type is EventType.SUBSCRIPTION_EXPIRING
        and state in (TransferState.PROVISIONED, TransferState.CUTTING_OVER)
        and r.transfer.originals_read_for != e.event_id
    )


def _partner_transfer_unasked(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return _working(r) and needs_request(r.transfer, r.lines)


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
    return _working(r) and any(x.purchase_is_due(m.now) for x in r.lines)


def _every_line_done(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return _working(r) and all(x.state in _DONE for x in r.lines)


def _nothing_due_yet(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return r.transfer.state is TransferState.ACCEPTED


def _cutover_due(r: TransferRecord, e: TransferEvent, m: Moment) -> bool:
    return _working(r) and any(x.cutover_is_due(m.now, m.cutover_lead) for x in r.lines)


#: The workflow: the first pair whose guard holds runs. Order matters where guards overlap: work in
#: flight (a cart being bought, orders provisioning) finishes before new work starts.
STEPS: tuple[tuple[Guard, Step], ...] = (
    (_acceptance_announced, acceptance.confirm_acceptance),
    (_partner_transfer_moved, partner_transfer.follow_request),
    (_unplanned, acceptance.plan_lines),
    (_lapse_announced, cutover.track_originals),
    (_partner_transfer_unasked, partner_transfer.request_transfer),
    (_purchase_unrecorded, purchase.intend_purchase),
    (_cart_missing, purchase.create_cart),
    (_cart_unpaid, purchase.check_out),
    (_orders_unprovisioned, purchase.await_provisioning),
    (_purchase_due, purchase.intend_purchase),
    (_every_line_done, cutover.complete),
    (_nothing_due_yet, purchase.defer_purchases),
    (_cutover_due, cutover.cut_over),
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
        """Run the transfer's steps from its stored state until one must wait or nothing is left."""
        ctx = self.ctx
        try:
            record = ctx.store.get(event.transfer_id)
        except TransferNotFoundError:
            LOG.warning("event %s for unknown transfer %s dropped", event.type, event.transfer_id)
            return DONE
        for _ in range(MAX_STEPS):
            step = next_step(record, event, Moment(ctx.now(), ctx.cutover_lead))
            if step is None:
                return DONE
            result = _run(ctx, step, record, event)
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
