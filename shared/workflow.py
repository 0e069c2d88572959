"""The transfer's use cases, and the one step runner every queue message goes through.

A step loads the record, decides, persists what it is about to do (the cart's and the checkout's
``MS-RequestId`` before either call), makes at most one external write, and commits the new
state with its history in one transaction. When it must wait it says "again in N seconds" and the
message is put back on the queue with that delay: nothing sleeps inside a function. Because every
step starts from the stored state, a message delivered twice, or a host killed half-way, repeats
at most a read or a write Partner Center de-duplicates by its request id; it never buys twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from . import telemetry
from .buying import Buyer
from .catalog import Decision, Plan
from .cutover import STORED_FAILURES, LineCutover, run_cutover, verify_identical
from .domain import (
    Change,
    GdapRequest,
    HistoryEntry,
    IllegalTransitionError,
    Line,
    LineState,
    SourceChannel,
    SourcePartner,
    Transfer,
    TransferOptions,
    TransferState,
    UserFailure,
    merged,
    new_transfer_id,
)
from .errors import (
    GdapRoleMissingError,
    NoRelationshipError,
    RetryLaterError,
    ServiceError,
    UnauthorizedError,
    brief,
)
from .events import EventQueue, EventType, MalformedEventError, TransferEvent
from .partner_transfer import (
    TRANSFER_EVENTS,
    TRANSFERRED,
    PartnerTransfers,
    buy_at_once,
    check_source_partner,
    is_deferred,
)
from .planning import line_from, preflight_warning
from .regions import region_of, same_region
from .store import TransferNotFoundError, TransferRecord, TransferStore
from .transport import QUEUE_STEP_DEADLINE, counting_calls, deadline, take_call_count
from .webhooks import INDIRECT_RELATIONSHIP_ACCEPTED, RELATIONSHIP_ACCEPTED

if TYPE_CHECKING:
    from .graph import GraphClient
    from .partner_center import PartnerCenterClient
    from .planning import Planner
    from .webhooks import PartnerCenterEvent

LOG = logging.getLogger("shared.workflow")

#: Roles the cutover needs in the customer's tenant: read users and subscriptions, assign licenses.
GDAP_ROLES = {
    "88d8e3e3-8f55-4a1e-953a-9b9898b8876b": "Directory Readers",
    "4d6ac14f-3453-41d0-bef9-a3e0c569773a": "License Administrator",
}
GDAP_APPROVAL_URL = (
    "https://admin.microsoft.com/AdminPortal/Home#/partners/invitation/granularAdminRelationships/{id}"
)
ACCEPTANCE_EVENTS = frozenset({RELATIONSHIP_ACCEPTED, INDIRECT_RELATIONSHIP_ACCEPTED})
FOLLOWED_EVENTS = ACCEPTANCE_EVENTS | TRANSFER_EVENTS
"""Every Partner Center event the workflow acts on: what the webhook registration must name."""
_WORKING = frozenset(
    {
        TransferState.ACCEPTED,
        TransferState.PROVISIONING,
        TransferState.PROVISIONED,
        TransferState.CUTTING_OVER,
    }
)
_MAX_STEPS = 12  # steps run back to back in one message before handing over to a fresh one
#: Throttled or out of time this many times in a row: the step is failed for an admin to look at.
MAX_WAITS = 100
_ACCEPTANCE_RETRIES = 20  # relationship not visible yet after the webhook: Partner Center lags
_LINES_PER_COMMIT = 90  # Azure's 100 operations per transaction, less header and history
#: Polls for provisioning (after the first few, one every 15 minutes: about two days) before the
#: transfer fails with a reason; otherwise a subscription that never comes would be waited for always.
PROVISIONING_POLLS = 200
_UNDECIDED = frozenset({LineState.NEEDS_APPROVAL, LineState.BLOCKED})  # only an admin moves these on


class RegionMismatchError(ValueError):
    """The customer's country is outside the partner's CSP region: the partner may not sell there."""


@dataclass(frozen=True, slots=True)
class StartRequest:
    customer_tenant_id: str
    customer_country: str
    source_channel: SourceChannel
    contact_email: str | None = None
    options: TransferOptions = field(default_factory=TransferOptions)
    source_partner: SourcePartner | None = None  # asks it for a partner-to-partner transfer


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a handled event asks of the queue: nothing, or to come back after ``wait_seconds``."""

    wait_seconds: float | None = None
    event: TransferEvent | None = None


DONE = Outcome()


@dataclass(frozen=True, slots=True)
class _Next:
    """A step's answer: the record after its commit, and whether to run the next step now."""

    record: TransferRecord
    wait_seconds: float | None = None
    stop: bool = False


Step = Callable[[TransferRecord, TransferEvent], _Next]


class StepFailedError(Exception):
    """A step raised; carries the step's name so the record says where it stopped."""

    def __init__(self, step: str, error: Exception) -> None:
        super().__init__(f"{step}: {error}")
        self.step = step
        self.error = error


class Workflow:
    def __init__(
        self,
        *,
        store: TransferStore,
        partner_center: PartnerCenterClient,
        graph: GraphClient,
        planner: Callable[[], Planner],
        queue: EventQueue,
        partner_tenant_id: str,
        partner_country: str,
        expiry_lead_days: int = 7,
        max_dequeue_count: int = 5,
        provisioning_poll_seconds: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._pc = partner_center
        self._graph = graph
        self._planner = planner
        self._queue = queue
        self._partner_tenant_id = partner_tenant_id
        self._partner_country = partner_country
        self._cutover_lead = timedelta(days=expiry_lead_days)
        self._max_dequeue_count = max_dequeue_count
        self._poll = provisioning_poll_seconds
        self._now = clock
        self._buyer = Buyer(self._commit, partner_center, clock)
        self._p2p = PartnerTransfers(
            store=store,
            partner_center=partner_center,
            graph=graph,
            queue=queue,
            commit=self._commit,
            clock=clock,
            partner_tenant_id=partner_tenant_id,
            replan=lambda transfer, lines, at: self._planner().rebuy_lines(transfer, lines, at),
        )

    # -- use cases the admin API calls ------------------------------------------------------------

    def start_transfer(self, request: StartRequest) -> TransferRecord:
        """Check the region, store the transfer, and ask for the two things the customer must grant.

        Raises :class:`RegionMismatchError` and
        :class:`~shared.partner_transfer.InvalidSourcePartnerError` (nothing stored), and
        :class:`~shared.store.ActiveTransferExistsError` (the customer's transfer is already running).
        """
        if request.source_partner is not None:
            check_source_partner(request.source_partner, self._partner_tenant_id)
        if not same_region(self._partner_country, request.customer_country):
            raise RegionMismatchError(
                f"the customer's country {request.customer_country} is in the CSP region "
                f"{region_of(request.customer_country)}, but the partner ({self._partner_country}) sells in "
                f"{region_of(self._partner_country)}; a partner takes over customers in its own region only"
            )
        invitation = self._pc.get_relationship_request_url()
        now = self._now()
        transfer = Transfer(
            id=new_transfer_id(),
            customer_tenant_id=request.customer_tenant_id.lower(),
            customer_country=request.customer_country,
            source_channel=request.source_channel,
            state=TransferState.AWAITING_ACCEPTANCE,
            created_at=now,
            updated_at=now,
            contact_email=request.contact_email,
            options=request.options,
            invitation_url=invitation,
            source_partner=request.source_partner,
        )
        entry = HistoryEntry(
            at=now, action="created", actor="api", message="transfer started; reseller invitation link issued"
        )
        record = self._store.create(transfer, history=entry)
        return self._request_gdap(record)

    def approve(self, transfer_id: str, approve: Iterable[str], decline: Iterable[str]) -> TransferRecord:
        """Decide the lines that wait for an admin; once none waits, the transfer goes on."""
        approved, declined = set(approve), set(decline)
        if approved & declined:
            raise IllegalTransitionError(f"lines both approved and declined: {sorted(approved & declined)}")

        def decide(record: TransferRecord) -> Change:
            at = self._now()
            deferred = {x.id for x in record.lines if x.id in approved and is_deferred(x, at)}
            # A deferred purchase (a partner transfer's fallback, say) can be approved to buy at once.
            if record.transfer.state is not TransferState.BLOCKED and (declined or approved - deferred):
                raise IllegalTransitionError(
                    f"the transfer is {record.transfer.state}; lines are approved only while it is Blocked"
                )
            known = {line.id for line in record.lines}
            unknown = sorted((approved | declined) - known)
            if unknown:
                raise IllegalTransitionError(f"the transfer has no lines {unknown}")
            lines, history = [], []
            for line in record.lines:
                if line.id in deferred:
                    moved, entry = buy_at_once(line, at)
                elif line.id in approved:
                    if line.state is not LineState.NEEDS_APPROVAL:
                        raise IllegalTransitionError(
                            f"line {line.id} is {line.state}; only a line that needs approval can be approved"
                        )
                    moved, entry = line.move(LineState.PLANNED, at=at, actor="api")
                elif line.id in declined:
                    moved, entry = line.move(LineState.SKIPPED, at=at, actor="api")
                    moved = replace(moved, reason="declined by an admin")
                else:
                    continue
                lines.append(moved)
                history.append(entry)
            transfer = record.transfer
            waiting = [x for x in merged(record.lines, lines) if x.state in _UNDECIDED]
            if not waiting and transfer.state is TransferState.BLOCKED:
                transfer, entry = transfer.resume(at=at, actor="api")
                history.append(entry)
            return Change(replace(transfer, updated_at=at), tuple(lines), tuple(history))

        record = self._store.update(transfer_id, decide)
        self._wake(record.transfer, "admin")
        return record

    def retry(self, transfer_id: str) -> TransferRecord:
        """Re-drive a blocked or failed transfer from the step where it stopped."""

        def decide(record: TransferRecord) -> Change:
            # Resuming past lines that wait for a decision would buy the others and strand these.
            undecided = sorted(x.id for x in record.lines if x.state in _UNDECIDED)
            if undecided:
                raise IllegalTransitionError(
                    f"lines {undecided} wait for an admin's decision: approve or decline them instead"
                )
            at = self._now()
            transfer, entry = record.transfer.resume(at=at, actor="api")
            purchase = transfer.purchase
            if purchase is not None and not purchase.checkout_attempts:
                # Nothing was checked out: new request ids, so a refused cart is not replayed.
                transfer = replace(transfer, purchase=None)
            lines, history = [], [entry]
            for line in record.lines:
                if line.state is LineState.FAILED:
                    resumed, line_entry = line.resume(at=at, actor="api")
                    # Users whose license move failed are tried again; the others are not touched.
                    lines.append(replace(resumed, user_failures=(), users_failed=0))
                    history.append(line_entry)
            return Change(transfer, tuple(lines), tuple(history))

        record = self._store.update(transfer_id, decide)
        try:
            if record.transfer.gdap is None:  # the request at start failed: the customer has no link yet
                record = self._request_gdap(record)
        finally:  # resumed is committed: without its message it would wait for the timer's nudge
            self._wake(record.transfer, "admin")
        return record

    def cancel(self, transfer_id: str, *, partner_transfer_only: bool = False) -> TransferRecord:
        """Stop the transfer; refused once anything may have been bought. A pending partner transfer
        request is cancelled at Partner Center first; with ``partner_transfer_only`` only it is, and
        its lines fall back to the rebuy path."""
        record = self._store.get(transfer_id)
        if record.transfer.is_active and not partner_transfer_only:
            record.transfer.cancel(record.lines, at=self._now(), actor="api")  # refuse before touching PC
        request = self._p2p.cancel_request(record)
        if partner_transfer_only:
            if request is None or not request.status.finished:
                raise IllegalTransitionError("the transfer has no pending partner transfer request to cancel")
            reason = f"the transfer request {request.id} was cancelled by an admin"
            record = self._store.update(transfer_id, lambda r: self._p2p.fallback(r, request.status, reason))
            self._wake(record.transfer, "admin")
            return record

        def decide(record: TransferRecord) -> Change:
            transfer, entry = record.transfer.cancel(record.lines, at=self._now(), actor="api")
            if request is not None and transfer.partner_transfer is not None:
                status = request.status.value
                transfer = replace(
                    transfer, partner_transfer=replace(transfer.partner_transfer, status=status)
                )
            return Change(transfer, history=(entry,))

        return self._store.update(transfer_id, decide)

    def take_webhook(self, event: PartnerCenterEvent) -> str:
        """Queue the event for the customer's active transfer: ``accepted``, ``duplicate`` or ``ignored``.

        The delivery is remembered only after it is queued, so a failure in between makes Partner
        Center deliver it again rather than lose it; a duplicate that slips through is harmless.
        """
        if event.event_name in TRANSFER_EVENTS:
            return self._p2p.take_webhook(event)
        if event.event_name not in ACCEPTANCE_EVENTS or not event.customer_id:
            return "ignored"
        transfer_id = self._store.active_transfer_id(event.customer_id)
        if transfer_id is None:
            return "ignored"
        if self._store.has_event(transfer_id, event.delivery_key):
            return "duplicate"
        if self._store.get(transfer_id).transfer.state is not TransferState.AWAITING_ACCEPTANCE:
            return "duplicate"  # the acceptance is already known: another delivery or the timer saw it
        self._queue.send(
            TransferEvent(
                EventType.INVITATION_ACCEPTED,
                transfer_id,
                event.customer_id.lower(),
                source="webhook",
                event_id=event.delivery_key,
            )
        )
        self._store.remember_event(transfer_id, event.delivery_key, kind=event.event_name)
        return "accepted"

    # -- queue messages ---------------------------------------------------------------------------

    def handle_message(self, body: bytes | str, dequeue_count: int = 1) -> None:
        """The queue trigger's one call: the error boundary of every step.

        Throttling and waits put the event back with a delay (no dequeue is spent); a transient
        failure is raised for the host to retry, and on the last allowed dequeue the transfer is
        marked failed with the step and the reason before the message goes to the poison queue; a
        definite failure is recorded at once.
        """
        try:
            event = TransferEvent.parse(body)
        except MalformedEventError as malformed:
            LOG.error("transfer-events: malformed message refused: %s", malformed)
            raise
        try:
            with deadline(QUEUE_STEP_DEADLINE), counting_calls():
                outcome = self.handle(event)
        except StepFailedError as failure:
            error = failure.error
            if isinstance(error, RetryLaterError):
                if event.attempt < MAX_WAITS:
                    self._queue.send(event.again(), delay_seconds=error.retry_after or 60)
                    telemetry.count_throttling_wait(failure.step)
                else:
                    telemetry.count_failure(failure.step, final=True)
                    self._record_failure(event.transfer_id, failure)
                return
            transient = not isinstance(error, ServiceError) or error.retryable
            last = dequeue_count >= self._max_dequeue_count
            telemetry.count_failure(failure.step, final=not transient or last)
            if transient and not last:
                raise
            self._record_failure(event.transfer_id, failure)
            if transient:
                raise
            return
        if outcome.wait_seconds is not None:
            self._queue.send(outcome.event or event.again(), delay_seconds=outcome.wait_seconds)

    def handle(self, event: TransferEvent) -> Outcome:
        """Run the transfer's steps from its stored state until one must wait or nothing is left."""
        try:
            record = self._store.get(event.transfer_id)
        except TransferNotFoundError:
            LOG.warning("event %s for unknown transfer %s dropped", event.type, event.transfer_id)
            return DONE
        for _ in range(_MAX_STEPS):
            step = self._next_step(record, event)
            if step is None:
                return DONE
            name = step.__name__.strip("_")
            try:
                with telemetry.step(event.transfer_id, name) as run:
                    result = step(record, event)
                    halted = result.record.transfer.state
                    if halted is TransferState.BLOCKED or halted is TransferState.FAILED:
                        run.outcome = "blocked" if halted is TransferState.BLOCKED else "failed"
                    elif result.wait_seconds is not None:
                        run.outcome = "waiting"
            except Exception as error:
                raise StepFailedError(name, error) from error
            record = result.record
            if result.wait_seconds is not None:
                waiting = record.transfer.state is TransferState.AWAITING_ACCEPTANCE
                again = event.again() if waiting else replace(event.again(), type=EventType.CONTINUE)
                return Outcome(result.wait_seconds, again)
            if result.stop:
                return DONE
        return Outcome(0.0, replace(event.again(), type=EventType.CONTINUE))

    def _next_step(self, record: TransferRecord, event: TransferEvent) -> Step | None:
        """The one step the stored state calls for now, or None when the transfer waits (or is halted)."""
        transfer, lines, now = record.transfer, record.lines, self._now()
        if transfer.state is TransferState.AWAITING_ACCEPTANCE:
            return self._confirm_acceptance if event.type is EventType.INVITATION_ACCEPTED else None
        if self._p2p.should_follow(record, event):  # also while blocked: the request moves regardless
            return self._follow_partner_transfer
        if transfer.state not in _WORKING:
            return None
        if transfer.state is TransferState.ACCEPTED and not transfer.planned:
            return self._ask_for_lines  # again after a crash between a long plan's transactions
        if self._p2p.needs_request(record):
            return self._request_partner_transfer
        if any(x.state is LineState.ORDERING for x in lines):
            purchase = transfer.purchase
            if purchase is None:
                return self._intend_purchase
            return self._create_cart if purchase.cart_id is None else self._check_out
        if any(x.state is LineState.ORDERED for x in lines):
            return self._await_provisioning
        if any(x.purchase_is_due(now) for x in lines):
            return self._intend_purchase
        if all(x.state in (LineState.COMPLETED, LineState.SKIPPED) for x in lines):
            return self._complete
        if transfer.state is TransferState.ACCEPTED:
            return self._defer_purchases
        if any(x.cutover_is_due(now, self._cutover_lead) for x in lines):
            return self._cut_over
        return None

    # -- the steps --------------------------------------------------------------------------------

    def _request_partner_transfer(self, record: TransferRecord, event: TransferEvent) -> _Next:
        return _Next(self._p2p.request(record))

    def _follow_partner_transfer(self, record: TransferRecord, event: TransferEvent) -> _Next:
        followed = self._p2p.follow(record)
        return _Next(followed.record, stop=not followed.resolved)

    def _cut_over(self, record: TransferRecord, event: TransferEvent) -> _Next:
        """One line's cutover: identical lines are checked; equivalent lines move their holders,
        a bounded number at a time, after the line is marked as moving (the intent) first."""
        now = self._now()
        line = next(x for x in record.lines if x.cutover_is_due(now, self._cutover_lead))
        transfer, history = record.transfer, []
        if transfer.state is not TransferState.CUTTING_OVER:
            transfer, entry = transfer.move(TransferState.CUTTING_OVER, at=now, actor="workflow")
            history.append(entry)
        customer = transfer.customer_tenant_id
        if line.decision == Decision.IDENTICAL.value:
            seats = sum(r.quantity for r in line.replacements)
            check = verify_identical(self._graph, customer, line.source_sku_id, seats)
            if not check.ok:
                record = self._commit(record, Change(transfer, history=tuple(history)))
                return self._halt(
                    record, f"{line.source_sku_part_number}: {check.reason}; retry checks again"
                )
            done, entry = line.move(LineState.COMPLETED, at=now, actor="workflow")
            message = f"line {line.source_sku_part_number}: the same SKU was bought; no license changes"
            change = Change(transfer, (done,), (*history, replace(entry, message=message)))
            return _Next(self._commit(record, change))
        if line.state is LineState.ACTIVE:
            line, entry = line.move(LineState.MOVING_LICENSES, at=now, actor="workflow")
            record = self._commit(record, Change(transfer, (line,), (*history, entry)))
            transfer, history = record.transfer, []
        progress = run_cutover(
            self._graph,
            self._line_cutover(customer, line),
            failed={f.user_id for f in line.user_failures},
            retry_failed=False,
        )
        telemetry.count_license_swaps(progress.moved)
        if progress.retry_after is not None:  # Graph throttled: the rest of the line runs later
            telemetry.count_throttling_wait("cut_over")
        failures = (
            *line.user_failures,
            *(UserFailure(f.user_id, f.reason.value, f.detail) for f in progress.failures),
        )
        line = replace(
            line,
            users_moved=line.users_moved + progress.moved,
            users_failed=line.users_failed + progress.failed_total,
            users_pending=progress.pending,
            user_failures=failures[:STORED_FAILURES],
        )
        at = self._now()
        if progress.retry_after is not None or not progress.finished:
            record = self._commit(record, Change(replace(transfer, updated_at=at), (line,), tuple(history)))
            return _Next(record, wait_seconds=progress.retry_after or 0.0)
        if line.users_failed:
            reasons = Counter(f.reason for f in line.user_failures)
            why = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
            reason = (
                f"{line.users_failed} user(s) of {line.source_sku_part_number} could not be moved ({why}); "
                "they keep the old license until it lapses: fix them and retry, which re-drives only them"
            )
            line, entry = line.move(LineState.FAILED, at=at, actor="workflow", reason=reason)
            transfer, halted = transfer.move(TransferState.FAILED, at=at, actor="workflow", reason=reason)
            change = Change(transfer, (line,), (*history, entry, halted))
            return _Next(self._commit(record, change), stop=True)
        line, entry = line.move(LineState.COMPLETED, at=at, actor="workflow")
        message = (
            f"line {line.source_sku_part_number}: {line.users_moved} license(s) moved to the replacement"
        )
        change = Change(
            replace(transfer, updated_at=at), (line,), (*history, replace(entry, message=message))
        )
        return _Next(self._commit(record, change))

    def _line_cutover(self, customer: str, line: Line) -> LineCutover:
        """The swap from the tenant's own SKUs: the replacements are bought and in the tenant by now."""
        skus = {s.sku_id: s for s in self._graph.list_subscribed_skus(customer)}
        source = skus[line.source_sku_id.lower()]
        targets = [skus[sku] for sku in dict.fromkeys(r.sku_id.lower() for r in line.replacements)]
        return LineCutover.between(customer, source, targets)

    def _complete(self, record: TransferRecord, event: TransferEvent) -> _Next:
        """Every line done: the customer runs on the partner's subscriptions. Sum it up."""
        at = self._now()
        moved = [x for x in record.lines if x.state is LineState.COMPLETED]
        done = [x for x in moved if not (x.partner_transfer and x.partner_transfer.status == TRANSFERRED)]
        transferred = len(moved) - len(done)
        skipped = len(record.lines) - len(moved)
        lapses = ", ".join(
            f"{x.source_sku_part_number} {x.original_expires:%Y-%m-%d}" for x in done if x.original_expires
        )
        calls = record.transfer.api_calls + take_call_count()
        transfer, entry = record.transfer.move(TransferState.COMPLETED, at=at, actor="workflow")
        summary = (
            f"completed: {sum(len(x.subscription_ids) for x in done)} subscription(s) bought for {len(done)} "
            f"line(s), {transferred} transferred from the partner ({skipped} skipped); "
            f"{sum(x.users_moved for x in done)} license(s) moved; originals "
            f"lapse {lapses or 'on their own'}; {calls} Partner Center and Graph calls"
        )
        change = Change(replace(transfer, api_calls=calls), history=(replace(entry, message=summary),))
        return _Next(self._store.commit(record, change), stop=True)

    def _confirm_acceptance(self, record: TransferRecord, event: TransferEvent) -> _Next:
        """Partner Center lags after acceptance: until it shows the relationship, come back later."""
        customer = record.transfer.customer_tenant_id
        if not self._pc.has_relationship(customer):
            if event.attempt >= _ACCEPTANCE_RETRIES:
                LOG.info(
                    "transfer %s: relationship still not visible; the timer will look again",
                    event.transfer_id,
                )
                return _Next(record, stop=True)
            return _Next(record, wait_seconds=_lag_wait(event))
        at = self._now()
        transfer, entry = record.transfer.move(TransferState.ACCEPTED, at=at, actor=event.source)
        entry = replace(
            entry,
            message=f"the customer accepted the reseller relationship ({event.source})",
            event_id=event.event_id,
        )
        return _Next(self._commit(record, Change(transfer, history=(entry,))))

    def _ask_for_lines(self, record: TransferRecord, event: TransferEvent) -> _Next:
        """Re-check the region on the company profile, check delegated access, plan every line."""
        transfer = record.transfer
        try:
            country = self._profile_country(transfer.customer_tenant_id)
        except NoRelationshipError:
            # Partner Center shows a new relationship to some calls before others: wait, don't fail.
            if event.attempt < _ACCEPTANCE_RETRIES:
                return _Next(record, wait_seconds=_lag_wait(event))
            raise
        if country and not same_region(self._partner_country, country):
            return self._halt(
                record,
                f"the customer's company profile says {country} (CSP region {region_of(country)}), outside "
                f"the partner's region {region_of(self._partner_country)}; Microsoft would refuse the order",
            )
        try:
            plan = self._planner().plan(transfer)
        except (GdapRoleMissingError, UnauthorizedError, NoRelationshipError) as error:
            url = transfer.gdap.approval_url if transfer.gdap else None
            instructions = (
                f"the customer's admin must approve the GDAP request at {url}"
                if url
                else "ask the customer's admin to grant GDAP with Directory Readers and License Administrator"
            )
            return self._halt(
                record,
                f"no delegated access to the customer's tenant ({error.code}): {instructions}, then retry",
            )
        return _Next(self._record_plan(record, plan))

    def _record_plan(self, record: TransferRecord, plan: Plan) -> TransferRecord:
        at = self._now()
        lines = [
            line_from(record.transfer, p, at, plan.transfer_paths.get(p.source_sku_id)) for p in plan.lines
        ]
        waiting = [x for x in lines if x.state in _UNDECIDED]
        to_buy = [x for x in lines if x.state in (LineState.PLANNED, LineState.TRANSFERRING)]
        summary = Counter(
            "by partner transfer" if x.state is LineState.TRANSFERRING else str(x.decision or x.state)
            for x in lines
        )
        message = (
            "planned: " + ", ".join(f"{n} {k}" for k, n in sorted(summary.items()))
            if lines
            else ("planned: the customer holds nothing from other channels that this partner can replace")
        )
        chunks = [tuple(lines[i : i + _LINES_PER_COMMIT]) for i in range(0, len(lines), _LINES_PER_COMMIT)]
        for chunk in chunks[:-1]:
            record = self._commit(record, Change(replace(record.transfer, updated_at=at), chunk))
        last = chunks[-1] if chunks else ()
        history = [HistoryEntry(at=at, action="plan", message=message)]
        warning = preflight_warning(plan)
        if warning:
            history.append(HistoryEntry(at=at, action="preflight", message=warning))
        lapsing = [
            x for x in to_buy + waiting if x.original_expires and x.state is not LineState.TRANSFERRING
        ]
        if lapsing:
            dates = ", ".join(f"{x.source_sku_part_number} {x.original_expires:%Y-%m-%d}" for x in lapsing)
            history.append(
                HistoryEntry(
                    at=at,
                    action="originals",
                    message=f"the originals are never cancelled (no refund): they lapse on their own "
                    f"({dates}); ask the customer to turn off their auto-renewal so that they do",
                )
            )
        transfer = record.transfer
        if waiting:
            reasons = "; ".join(f"{x.source_sku_part_number}: {x.reason}" for x in waiting)
            transfer, entry = transfer.move(
                TransferState.BLOCKED,
                at=at,
                actor="workflow",
                reason=f"{len(waiting)} line(s) need an admin's decision (approve or decline): {reasons}",
            )
            history.append(entry)
        elif not to_buy:
            transfer, entry = transfer.move(
                TransferState.BLOCKED,
                at=at,
                actor="workflow",
                reason="nothing to buy: " + (message if lines else "no subscriptions from other channels"),
            )
            history.append(entry)
        planned = replace(transfer, updated_at=at, planned=True)
        return self._commit(record, Change(planned, last, tuple(history)))

    def _intend_purchase(self, record: TransferRecord, event: TransferEvent) -> _Next:
        now = self._now()
        return _Next(self._buyer.intend(record, due=lambda line: line.purchase_is_due(now)))

    def _defer_purchases(self, record: TransferRecord, event: TransferEvent) -> _Next:
        """Deferred timing: nothing is due yet, so the transfer waits for the expiry scan."""
        at = self._now()
        transfer, entry = record.transfer.move(TransferState.PROVISIONED, at=at, actor="workflow")
        dates = "; ".join(
            f"{x.source_sku_part_number} on {x.purchase_due:%Y-%m-%d}"
            for x in record.lines
            if x.state is LineState.PLANNED and x.purchase_due
        )
        waits = (
            "; the partner transfer request is pending"
            if self._p2p.needs_request(record) or any(x.state is LineState.TRANSFERRING for x in record.lines)
            else ""
        )
        entry = replace(entry, message=f"purchases deferred until before the originals lapse: {dates}{waits}")
        return _Next(self._commit(record, Change(transfer, history=(entry,))), stop=True)

    def _create_cart(self, record: TransferRecord, event: TransferEvent) -> _Next:
        return _Next(self._buyer.create_cart(record))

    def _check_out(self, record: TransferRecord, event: TransferEvent) -> _Next:
        return _Next(self._buyer.check_out(record))

    def _await_provisioning(self, record: TransferRecord, event: TransferEvent) -> _Next:
        record, done = self._buyer.await_provisioning(record)
        if done:
            return _Next(record)  # a cutover may already be due
        if event.attempt >= PROVISIONING_POLLS:
            waiting = ", ".join(
                x.source_sku_part_number for x in record.lines if x.state is LineState.ORDERED
            )
            return self._halt(
                record,
                f"bought but not provisioned after {event.attempt} polls: {waiting}; check the orders in "
                "Partner Center, then retry to poll again (nothing is bought again)",
                TransferState.FAILED,
            )
        return _Next(record, wait_seconds=min(self._poll * 2 ** min(event.attempt, 5), 900.0))

    def _commit(self, record: TransferRecord, change: Change) -> TransferRecord:
        """Every step's commit: the calls made since the last one are added to the transfer's count."""
        transfer = change.transfer
        counted = replace(transfer, api_calls=transfer.api_calls + take_call_count())
        return self._store.commit(record, replace(change, transfer=counted))

    def _request_gdap(self, record: TransferRecord) -> TransferRecord:
        """Ask for the roles the cutover needs; a name tied to the transfer makes a repeat find the first."""
        transfer = record.transfer
        name = f"csp-transfer {transfer.id}"
        try:
            relationship = self._graph.find_admin_relationship(self._partner_tenant_id, name)
            if relationship is None:
                relationship = self._graph.create_admin_relationship(
                    self._partner_tenant_id, transfer.customer_tenant_id, name, sorted(GDAP_ROLES)
                )
            if relationship.status == "created":
                self._graph.lock_admin_relationship_for_approval(self._partner_tenant_id, relationship.id)
                relationship = replace(relationship, status="approvalPending")
        except ServiceError as error:
            at = self._now()
            entry = HistoryEntry(
                at=at,
                action="gdap",
                actor="api",
                message=f"the GDAP request could not be made ({error}); retry asks again",
            )
            return self._commit(record, Change(replace(transfer, updated_at=at), history=(entry,)))
        gdap = GdapRequest(
            relationship_id=relationship.id,
            approval_url=GDAP_APPROVAL_URL.format(id=relationship.id),
            roles=tuple(GDAP_ROLES[r] for r in sorted(GDAP_ROLES)),
            status=relationship.status,
        )
        at = self._now()
        entry = HistoryEntry(
            at=at,
            action="gdap",
            actor="api",
            message=f"GDAP relationship requested ({', '.join(gdap.roles)}); approval link issued",
        )
        return self._commit(record, Change(replace(transfer, gdap=gdap, updated_at=at), history=(entry,)))

    def _profile_country(self, customer: str) -> str | None:
        profile = self._pc.get_company_profile(customer)
        return profile.address.country.upper() if profile.address and profile.address.country else None

    def _halt(
        self, record: TransferRecord, reason: str, state: TransferState = TransferState.BLOCKED
    ) -> _Next:
        transfer, entry = record.transfer.move(state, at=self._now(), actor="workflow", reason=reason)
        return _Next(self._commit(record, Change(transfer, history=(entry,))), stop=True)

    def _record_failure(self, transfer_id: str, failure: StepFailedError) -> None:
        reason = f"step {failure.step} failed: {brief(failure.error)}"
        LOG.error("transfer %s: %s", transfer_id, reason)

        def decide(record: TransferRecord) -> Change | None:
            if (
                record.transfer.state in (TransferState.BLOCKED, TransferState.FAILED)
                or not record.transfer.is_active
            ):
                return None
            transfer, entry = record.transfer.move(
                TransferState.FAILED, at=self._now(), actor="workflow", reason=reason
            )
            return Change(transfer, history=(entry,))

        try:
            self._store.update(transfer_id, decide)
        except (TransferNotFoundError, IllegalTransitionError):
            return

    def _wake(self, transfer: Transfer, source: str) -> None:
        if transfer.is_active:
            self._queue.send(
                TransferEvent(EventType.CONTINUE, transfer.id, transfer.customer_tenant_id, source)
            )


def _lag_wait(event: TransferEvent) -> float:
    """How long to wait for Partner Center to show an accepted relationship everywhere."""
    return min(30.0 * (event.attempt + 1), 300.0)
