"""The license swap at cutover: every holder of a source SKU moves to its replacement SKUs.

How a run works (Learn, "user: assignLicense", "group: assignLicense" and "Scenarios, limitations,
and known issues using groups to manage licensing"):

* one paged read lists the users holding the source SKU, directly or through groups, and stops once
  it holds as many direct holders as the run may write for (the rest are listed by the next run);
* each group carrying the source is changed once (add the targets, remove the source), and its members
  follow; a member is never swapped on their own, since an inherited licence can only change on the group;
* each user holding it directly gets one ``assignLicense`` that adds every target and removes the source
  in the same call, so nobody is ever unlicensed in between; a user who also holds it through a group
  only loses the direct assignment (the group gives the targets). These go through ``$batch`` in
  groups of 20, at most ``max_batches`` groups a run.

Write budget: 3,000 identity and access writes per 2 min 30 s per app and tenant (Learn, "Microsoft
Graph service-specific throttling limits"). A run sends at most ``max_batches * 20`` user writes plus
one per group, reading the holders once only as far as it will write: nine tenths of the quota
(:func:`run_batches`); the next run waits until the quota gave them back (:func:`refill_seconds`). A
429 stops the run with ``retry_after``; no batch starts within :data:`RUN_MARGIN` of the deadline.

No cursor is kept, because the tenant is the source of truth: a user who was swapped no longer holds
the source SKU, so the next run's listing leaves them out, and its first pages are the users still to
move. A run that crashed, was stopped after N batches or was throttled is resumed simply by running
again: nobody is swapped twice (they are no longer listed) and nobody is skipped (everyone still
holding the source is listed; a run that stopped listing early is never the last). The only state the
caller keeps is who failed (so they are not retried each run unless ``retry_failed``). Graph does not
de-duplicate writes, so a write whose answer was lost is never re-sent: the user (or group) is read,
and a target state counts as done.
Identical-offer lines move no licence: :func:`check_pool` only checks the pool is big enough.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass

from shared.catalog.preflight import Cutover, PlanPairs, carried_plans, disabled_on
from shared.catalog.reference import clean_plan_name
from shared.clients.calls import time_left
from shared.clients.errors import (
    GraphError,
    MutuallyExclusivePlansError,
    OutcomeUnknownError,
    OutOfLicensesError,
    RetryLaterError,
    UsageLocationMissingError,
    brief,
)
from shared.clients.graph import BATCH_SIZE, GraphClient, assign_license_body, batch_item_error
from shared.domain import UserFailure
from shared.resources.graph import AssignedLicense, BatchRequest, BatchResult, Group, SubscribedSku, User
from shared.store.quota import Quota
from shared.workflow.rules.progress import STORED_FAILURES, CutoverProgress, FailureReason

DEFAULT_MAX_BATCHES = 135  # nine tenths of Graph's write quota per app and tenant (3,000) in one run
#: Seconds of the step's deadline kept for recording the run: no batch starts with less left.
RUN_MARGIN = 60.0
DEFAULT_RETRY_AFTER = 30.0  # seconds, when Graph throttled without saying how long


@dataclass(frozen=True, slots=True)
class LineCutover:
    """One line's swap in one tenant: the pre-flight's :class:`Cutover` (source, targets and their
    plans, and which target plan keeps each disabled source plan off)."""

    tenant_id: str
    cutover: Cutover

    @classmethod
    def between(
        cls,
        tenant_id: str,
        source: SubscribedSku,
        targets: Iterable[SubscribedSku],
        upgraded: Mapping[str, str | None] | None = None,
    ) -> LineCutover:
        """From the tenant's own SKUs (the targets are bought by now); ``upgraded`` is the plan's
        source plan id -> higher-tier target plan name (``PlanLine.upgraded_plans``)."""
        source_plans = _plans(source)
        target_plans = {sku.sku_id: _plans(sku) for sku in targets}
        carried = carried_plans(source_plans, target_plans, upgraded)
        return cls(tenant_id, Cutover(source.sku_id, None, source_plans, target_plans, carried))

    @property
    def sku_id(self) -> str:
        return self.cutover.sku_id

    def adds(self, disabled_source_plans: Iterable[str]) -> tuple[AssignedLicense, ...]:
        """Every target, with the plans that keep the holder's switched-off source plans off."""
        off = tuple(disabled_source_plans)
        return tuple(
            AssignedLicense(t, disabled_on(self.cutover, off, t)) for t in sorted(self.cutover.targets)
        )

    def done(self, user: User, *, keeps_group: bool) -> bool:
        """The user's part is done: no direct source left and, unless a group still gives it, the targets."""
        direct = any(s.sku_id == self.sku_id and s.is_direct for s in user.license_assignment_states)
        if keeps_group:
            return not direct
        return not user.holds(self.sku_id) and all(user.holds(t) for t in self.cutover.targets)

    def group_done(self, group: Group) -> bool:
        return not group.holds(self.sku_id) and all(group.holds(t) for t in self.cutover.targets)


class _Run:
    """The tallies of one run."""

    def __init__(self) -> None:
        self.moved = 0
        self.failures: list[UserFailure] = []
        self.pending = 0
        self.groups_changed = 0
        self.retry_after: float | None = None
        self.writes = 0
        self.groups: list[str] = []
        self.located: list[str] = []
        self.country: str | None = None

    def throttled(self, seconds: float | None) -> None:
        wait = seconds if seconds is not None else DEFAULT_RETRY_AFTER
        self.retry_after = max(self.retry_after or 0.0, wait)

    def fail(self, subject: str, error: GraphError, where: str = "") -> None:
        self.failures.append(UserFailure(subject, _reason(error).value, where + brief(error, 300)))


def run_cutover(
    graph: GraphClient,
    line: LineCutover,
    *,
    failed: Set[str] = frozenset(),
    retry_failed: bool = False,
    max_batches: int = DEFAULT_MAX_BATCHES,
    locate: bool = False,
) -> CutoverProgress:
    """Swaps what is left to swap of ``line``; users and groups in ``failed`` are left alone unless
    ``retry_failed``. With ``locate``, holders without a usage location first get the tenant's
    country (see :func:`_locate`). Safe to run again at any point (see the module docstring)."""
    if not line.cutover.moves:
        raise ValueError("a cutover needs target SKUs: removing the source alone would unlicense its holders")
    skip: Set[str] = frozenset() if retry_failed else failed
    holders = _Holders.of(graph, line, skip, enough=max_batches * BATCH_SIZE)
    run = _Run()
    run.pending += holders.unlisted  # holders the listing stopped before: the next run lists them
    later = _locate(graph, line.tenant_id, holders, skip, run) if locate else frozenset()
    for group_id, members in sorted(holders.inheriting.items()):
        if group_id in skip:
            continue
        if any(u.id in later for u in holders.through.get(group_id, ())):
            run.pending += 1  # its members get a usage location first: the group waits a run
            continue
        _swap_group(graph, line, group_id, members, run)
    to_swap = [(u, keeps) for u, keeps in holders.direct if u.id not in skip and u.id not in later]
    run.pending += sum(1 for u, _ in holders.direct if u.id in later and u.id not in skip)
    _swap_users(graph, line, to_swap, max_batches, run)
    return CutoverProgress(
        moved=run.moved,
        failures=tuple(run.failures[:STORED_FAILURES]),
        failed_total=len(run.failures),
        pending=run.pending,
        groups_changed=run.groups_changed,
        retry_after=run.retry_after,
        finished=run.pending == 0,
        writes=run.writes,
        retried_failed=retry_failed,
        groups=tuple(run.groups),
        located=tuple(run.located),
        country=run.country,
    )


@dataclass(frozen=True, slots=True)
class _Holders:
    """Who holds the source now: direct holders (and whether a group gives it them too), the
    groups it is inherited through with their inherit-only holders counted, and every holder per
    group."""

    direct: list[tuple[User, bool]]
    inheriting: dict[str, int]
    through: dict[str, list[User]]
    unlisted: int  # 1 when the listing stopped with ``enough`` direct holders: more may follow

    @classmethod
    def of(cls, graph: GraphClient, line: LineCutover, skip: Set[str], *, enough: int) -> _Holders:
        """The holders, listed until ``enough`` direct holders not in ``skip`` are found (the
        later pages are not read: the run would not write for them); once a group's holder is seen
        the listing goes on to the end, so the run counts every member its change of the group moves."""
        sku = line.sku_id
        direct: list[tuple[User, bool]] = []  # (user, also holds it through a group)
        inheriting: dict[str, int] = {}  # group -> holders who only inherit it (counted on their first)
        through: dict[str, list[User]] = {}
        wanted = 0
        for user in graph.list_users_with_sku(line.tenant_id, sku):
            if not user.holds(sku):
                continue  # the listing is eventually consistent: a stale match holds nothing
            states = [s for s in user.license_assignment_states if s.sku_id == sku]
            groups = sorted({s.assigned_by_group for s in states if s.assigned_by_group})
            for group_id in groups:
                inheriting.setdefault(group_id, 0)
                through.setdefault(group_id, []).append(user)
            if any(s.is_direct for s in states) or not groups:
                direct.append((user, bool(groups)))
                wanted += user.id not in skip
                if wanted >= enough and not through:  # stop: this run writes for no more
                    return cls(direct, inheriting, through, 1)
            else:
                inheriting[groups[0]] += 1
        return cls(direct, inheriting, through, 0)

    def everyone(self) -> list[User]:
        found = {u.id: u for u, _ in self.direct}
        found.update({u.id: u for members in self.through.values() for u in members})
        return list(found.values())


def _locate(graph: GraphClient, tenant: str, holders: _Holders, skip: Set[str], run: _Run) -> Set[str]:
    """Holders without a usage location get the tenant's country, at most one ``$batch`` (20) a run
    so each can have its own history row; returns those left for a later run (beyond the 20, or
    throttled). One Graph cannot update keeps no location, and fails at the swap as it would."""
    lacking = [u for u in holders.everyone() if not u.usage_location and u.id not in skip]
    if not lacking:
        return frozenset()
    country = run.country = graph.get_organization(tenant).country_letter_code
    if country is None:
        return frozenset()
    now, later = lacking[:BATCH_SIZE], {u.id for u in lacking[BATCH_SIZE:]}
    body = {"usageLocation": country}
    run.writes += len(now)
    try:
        results = graph.batch(tenant, [BatchRequest(u.id, "PATCH", f"/users/{u.id}", body) for u in now])
    except (RetryLaterError, OutcomeUnknownError) as error:
        if isinstance(error, RetryLaterError):
            run.throttled(error.retry_after)
        return later | {u.id for u in now}  # setting a location twice is harmless: next run
    for result in results:
        if result.ok:
            run.located.append(result.id)
        elif result.status == 429 or result.status >= 500:
            if result.status == 429:
                run.throttled(result.retry_after)
            later.add(result.id)
    return later


def _swap_group(graph: GraphClient, line: LineCutover, group_id: str, members: int, run: _Run) -> None:
    try:
        changed = _change_group(graph, line, group_id, run)
    except RetryLaterError as error:
        run.throttled(error.retry_after)
        run.pending += 1
    except OutcomeUnknownError:
        run.pending += 1
    except GraphError as error:
        if error.status is None or error.status >= 500 or error.status in (401, 403):
            raise  # not this group's doing: the whole run cannot go on
        run.fail(group_id, error, "group: ")
    else:
        run.groups.append(group_id)  # changed now or before: its members are verified next
        if changed:
            run.groups_changed += 1
            run.moved += members


def _change_group(graph: GraphClient, line: LineCutover, group_id: str, run: _Run) -> bool:
    """One change on the group moves all its members; ``False`` when it was already made.

    Graph does not de-duplicate writes: a change whose answer was lost may have been made, and a
    refusal may only mean the source is already gone. Either is settled by reading the group, and a
    group in the target state counts as done."""
    tenant = line.tenant_id
    group = graph.get_group(tenant, group_id)
    if line.group_done(group):
        return False
    off = next((a.disabled_plans for a in group.assigned_licenses if a.sku_id == line.sku_id), ())
    run.writes += 1
    try:
        graph.assign_group_license(tenant, group_id, line.adds(off), [line.sku_id])
    except (OutcomeUnknownError, GraphError) as error:
        if isinstance(error, GraphError) and error.status != 400:
            raise
        if not line.group_done(graph.get_group(tenant, group_id)):
            raise
    return True


def _swap_users(
    graph: GraphClient, line: LineCutover, users: Sequence[tuple[User, bool]], max_batches: int, run: _Run
) -> None:
    chunks = [users[i : i + BATCH_SIZE] for i in range(0, len(users), BATCH_SIZE)]
    for number, chunk in enumerate(chunks):
        left = time_left()
        if number >= max_batches or run.retry_after is not None or (left is not None and left < RUN_MARGIN):
            run.pending += len(chunk)  # left for the next run: bounded work, Graph asked us to wait, or time
            continue
        requests = [_request(line, user, keeps_group) for user, keeps_group in chunk]
        run.writes += len(requests)
        try:
            results = graph.batch(line.tenant_id, requests)
        except RetryLaterError as error:
            run.throttled(error.retry_after)
            run.pending += len(chunk)
            continue
        except OutcomeUnknownError:
            results = [BatchResult(r.id, 504, {}) for r in requests]  # no answer for any of them
        for (user, keeps_group), result in zip(chunk, results, strict=True):
            _settle(graph, line, user, keeps_group, result, run)


def _request(line: LineCutover, user: User, keeps_group: bool) -> BatchRequest:
    off = next((a.disabled_plans for a in user.assigned_licenses if a.sku_id == line.sku_id), ())
    adds = () if keeps_group else line.adds(off)
    body = assign_license_body(adds, [line.sku_id])
    return BatchRequest(user.id, "POST", f"/users/{user.id}/assignLicense", body)


def _settle(
    graph: GraphClient, line: LineCutover, user: User, keeps_group: bool, result: BatchResult, run: _Run
) -> None:
    """One item's outcome; an unknown one (5xx, no answer, or a refusal that may mean it was already
    done) is decided by reading the user."""
    error = batch_item_error(result)
    if error is None:
        run.moved += 1
    elif isinstance(error, RetryLaterError):
        run.throttled(error.retry_after)
        run.pending += 1
    elif _reason(error) is not FailureReason.OTHER:
        run.fail(user.id, error)
    elif result.status >= 500 or result.status == 400:
        try:
            done = line.done(graph.get_user(line.tenant_id, user.id), keeps_group=keeps_group)
        except (RetryLaterError, OutcomeUnknownError):
            run.pending += 1
            return
        if done:
            run.moved += 1
        elif result.status >= 500:
            run.pending += 1  # not made: the next run sends it again
        else:
            run.fail(user.id, error)
    else:
        run.fail(user.id, error)


def _reason(error: GraphError) -> FailureReason:
    if isinstance(error, UsageLocationMissingError):
        return FailureReason.NO_USAGE_LOCATION
    if isinstance(error, MutuallyExclusivePlansError):
        return FailureReason.MUTUALLY_EXCLUSIVE
    if isinstance(error, OutOfLicensesError):
        return FailureReason.NOT_ENOUGH_LICENSES
    return FailureReason.OTHER


def _plans(sku: SubscribedSku) -> PlanPairs:
    return tuple((p.service_plan_id, clean_plan_name(p.service_plan_name)) for p in sku.service_plans)


@dataclass(frozen=True, slots=True)
class IdenticalCheck:
    """Whether an identical-offer line needs nothing more: the pool has the seats and every holder a seat."""

    sku_id: str
    expected_seats: int
    enabled: int
    consumed: int
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.reason is None


def check_pool(skus: Mapping[str, SubscribedSku], sku_id: str, expected_seats: int) -> IdenticalCheck:
    """The same SKU was bought, so its holders keep their licences as long as the pool holds them;
    ``skus`` is the tenant's ``subscribedSkus`` by id (one read serves every line)."""
    sku_id = sku_id.lower()
    pool = skus.get(sku_id)
    if pool is None:
        return IdenticalCheck(sku_id, expected_seats, 0, 0, "the tenant has no licences of this SKU")
    enabled, consumed = pool.prepaid_units.enabled, pool.consumed_units
    reason = None
    if enabled < expected_seats:
        reason = f"{enabled} enabled seats, fewer than the {expected_seats} bought"
    elif consumed > enabled:
        reason = f"{consumed} seats are assigned but only {enabled} are enabled: holders would lose licences"
    return IdenticalCheck(sku_id, expected_seats, enabled, consumed, reason)


def run_batches(quota: Quota) -> int:
    """``$batch`` groups one run may send: nine tenths of the write quota, the rest left for the
    tenant's other writes (usage locations, groups, the app's other work) in the same window."""
    return max(1, quota.calls * 9 // 10 // BATCH_SIZE)


def refill_seconds(writes: int, quota: Quota) -> float:
    """How long Graph's write quota takes to give back ``writes``: the wait before the next run."""
    return writes / quota.rate
