"""The cutover swap on the sandbox over HTTPS: a discontinued offer's holders move to its successors."""

from collections import Counter
from dataclasses import dataclass

import pytest

from sandbox.testing import SandboxHandle
from shared.catalog.preflight import Cutover
from shared.clients.graph import GraphClient
from shared.domain import Line, UserFailure
from shared.resources.graph import SubscribedSku
from shared.workflow.groups import check_groups
from shared.workflow.licenses import LineCutover, check_pool, run_cutover
from shared.workflow.rules.progress import (
    STORED_FAILURES,
    CutoverProgress,
    FailureReason,
    failed_ids,
    progressed,
)
from tests.fixtures.clients import api_calls

pytestmark = pytest.mark.scenario("default", access="granted")  # about the swap, not about access

SWAY = "a23b959c-7ce8-4e57-9140-b90eb88a9e97"


@dataclass
class Customer:
    tenant: str
    line: LineCutover
    direct: list[str]  # users holding the source directly (one of them also through the group)
    group_only: list[str]
    no_location: str
    group: str


def discontinued(
    sandbox: SandboxHandle, graph: GraphClient, added: int = 190, seats: int | None = None
) -> Customer:
    """Contoso's Office 365 E3 (off sale) moves to E3 (no Teams) + Teams Enterprise, bought for everyone:
    its 7 seeded holders, ``added`` more direct holders, 5 more group members, one without usage location."""
    ids = sandbox.ids
    tenant = sandbox.customer("contoso")
    e3, targets = ids.skus["O365_E3"], (ids.skus["O365_E3_NO_TEAMS"], ids.skus["TEAMS_ENTERPRISE"])
    for target in targets:
        sandbox.add_subscription(tenant, target, added + 50 if seats is None else seats)
    group = ids.groups["contoso.e3"]
    direct = [ids.users[f"contoso.{k}"] for k in ("direct_e3_a", "direct_e3_ems", "direct_e3_disabled")]
    direct += [ids.users["contoso.group_and_direct_e3"], *sandbox.add_users(tenant, added, sku_id=e3)]
    group_only = [ids.users[f"contoso.group_e3_{n}"] for n in "abc"]
    group_only += sandbox.add_users(tenant, 5, group_id=group)
    (no_location,) = sandbox.add_users(tenant, 1, sku_id=e3, usage_location=None)
    skus = {s.sku_id: s for s in graph.list_subscribed_skus(tenant)}
    line = LineCutover.between(tenant, skus[e3], [skus[t] for t in targets])
    sandbox.clear_ledger()
    return Customer(tenant, line, direct, group_only, no_location, group)


def processed(sandbox: SandboxHandle) -> None:
    """Entra's background processing of the group changes sent so far, over (sandbox time)."""
    sandbox.advance_clock(seconds=sandbox.knobs()["group_license_delay_s"])


def user_changes(sandbox: SandboxHandle) -> Counter[str]:
    return Counter(c["userId"] for c in sandbox.license_changes() if "userId" in c)


def assert_moved(graph: GraphClient, customer: Customer, user_id: str) -> None:
    user = graph.get_user(customer.tenant, user_id)
    assert not user.holds(customer.line.sku_id)
    assert all(user.holds(t) for t in customer.line.cutover.targets)


def test_discontinued_offer_moves_every_holder_and_records_the_user_without_usage_location(sandbox, graph):
    customer = discontinued(sandbox, graph)

    progress = run_cutover(graph, customer.line, max_batches=20)

    assert progress.failures == (
        UserFailure(customer.no_location, FailureReason.NO_USAGE_LOCATION, progress.failures[0].detail),
    )
    assert "usage location" in progress.failures[0].detail
    assert (progress.moved, progress.pending, progress.groups_changed) == (202, 0, 1)
    assert progress.finished
    assert progress.retry_after is None
    assert progress.writes == len(customer.direct) + 1 + 1  # every direct holder once, the group once
    assert progress.groups == (customer.group,)  # its members are verified once Entra has processed it
    processed(sandbox)
    for user_id in [*customer.direct, *customer.group_only]:
        assert_moved(graph, customer, user_id)
    group = graph.get_group(customer.tenant, customer.group)
    assert {a.sku_id for a in group.assigned_licenses} == set(customer.line.cutover.targets)
    # the user who had Sway switched off keeps it off on the replacement that carries Sway
    disabled = graph.get_user(customer.tenant, sandbox.ids.users["contoso.direct_e3_disabled"])
    carried = {a.sku_id: a.disabled_plans for a in disabled.assigned_licenses}
    assert carried == {
        sandbox.ids.skus["O365_E3_NO_TEAMS"]: (SWAY,),
        sandbox.ids.skus["TEAMS_ENTERPRISE"]: (),
    }
    # the user holding it both ways only lost the direct assignment: the group gives the targets
    both = graph.get_user(customer.tenant, sandbox.ids.users["contoso.group_and_direct_e3"])
    assert all(s.assigned_by_group == customer.group for s in both.license_assignment_states)
    changes = user_changes(sandbox)
    assert max(changes.values()) == 1
    assert customer.no_location not in changes
    assert len(api_calls(sandbox, "graph", "/v1.0/users", method="GET")) == 1  # the holders are listed once


def test_a_recorded_failure_is_left_alone_until_fixed_and_retried(sandbox, graph):
    customer = discontinued(sandbox, graph, added=10)
    first = run_cutover(graph, customer.line)

    skipped = run_cutover(graph, customer.line, failed=failed_ids(progressed(a_line(), first)))
    assert (skipped.writes, skipped.moved, skipped.failures, skipped.pending) == (0, 0, (), 0)

    sandbox.set_usage_location(customer.tenant, customer.no_location, "US")
    retried = run_cutover(
        graph, customer.line, failed=failed_ids(progressed(a_line(), first)), retry_failed=True
    )

    assert (retried.moved, retried.failures, retried.writes, retried.finished) == (1, (), 1, True)
    assert_moved(graph, customer, customer.no_location)
    line = progressed(progressed(progressed(a_line(), first), skipped), retried)
    everyone = len(customer.direct) + len(customer.group_only) + 1
    assert (line.users_moved, line.user_failures, line.users_failed, line.users_pending) == (
        everyone,
        (),
        0,
        0,
    )


def test_a_second_run_after_completion_makes_no_writes(sandbox, graph):
    customer = discontinued(sandbox, graph, added=10)
    sandbox.set_usage_location(customer.tenant, customer.no_location, "US")
    assert run_cutover(graph, customer.line).finished
    sandbox.clear_ledger()

    again = run_cutover(graph, customer.line)

    assert (again.writes, again.moved, again.groups_changed, again.finished) == (0, 0, 0, True)
    assert sandbox.license_changes() == []
    assert api_calls(sandbox, "graph", "/$batch") == api_calls(sandbox, "graph", "/assignLicense") == []


def test_a_run_stopped_after_one_batch_resumes_with_the_remaining_users_only(sandbox, graph):
    customer = discontinued(sandbox, graph, added=40)

    first = run_cutover(graph, customer.line, max_batches=1)

    assert (first.finished, first.writes) == (False, 20 + 1)
    assert first.pending > 0  # the listing stopped at the 20 the run writes for: more may follow
    assert len(user_changes(sandbox)) == 20

    line, run, writes = progressed(a_line(), first), first, first.writes
    while not run.finished:  # one queue message after another, each bounded to one batch
        run = run_cutover(graph, customer.line, max_batches=1, failed=failed_ids(line))
        line, writes = progressed(line, run), writes + run.writes

    assert writes == len(customer.direct) + 1 + 1  # each user and the group written once
    assert line.users_moved == len(customer.direct) + len(customer.group_only)
    assert [f.user_id for f in line.user_failures] == [customer.no_location]

    changes = user_changes(sandbox)
    assert set(changes) == set(customer.direct)
    assert max(changes.values()) == 1  # nobody swapped twice
    processed(sandbox)  # the user holding it both ways keeps it through the group until then
    for user_id in customer.direct:
        assert_moved(graph, customer, user_id)


def test_throttled_items_stay_pending_with_a_retry_after_not_failures(sandbox, graph):
    customer = discontinued(sandbox, graph, added=30)
    sandbox.set_usage_location(customer.tenant, customer.no_location, "US")
    # Graph throttles every user write after the first five for two minutes: longer than the client sleeps
    sandbox.add_fault(
        "error", service="graph", method="POST", path=r"^/v1\.0/users/.*/assignLicense$", status=429,
        code="TooManyRequests", times=-1, skip=5, retry_after="120",
    )  # fmt: skip

    progress = run_cutover(graph, customer.line)

    assert progress.failures == ()
    assert progress.moved == 5 + len(customer.group_only)
    assert progress.pending == len(customer.direct) + 1 - 5
    assert progress.retry_after == 120
    assert not progress.finished
    assert len(api_calls(sandbox, "graph", "/$batch")) == 1  # the run stopped at the first throttled batch

    sandbox.clear_faults()
    resumed = run_cutover(graph, customer.line)
    assert (resumed.moved, resumed.pending, resumed.finished) == (len(customer.direct) + 1 - 5, 0, True)
    assert max(user_changes(sandbox).values()) == 1


def losing_writes(sandbox: SandboxHandle, graph: GraphClient, kind: str) -> Customer:
    """Every holder can move, and the group's change and the users' ``$batch`` each lose their
    answer once: ``drop`` before Graph makes the change, ``drop_after_commit`` after."""
    customer = discontinued(sandbox, graph, added=10)
    sandbox.set_usage_location(customer.tenant, customer.no_location, "US")
    sandbox.add_fault(kind, service="graph", method="POST", path=r"/groups/.*/assignLicense$")
    sandbox.add_fault(kind, service="graph", method="POST", path=r"^/v1\.0/\$batch$")
    return customer


def test_lost_answers_are_settled_by_reading_the_tenant(sandbox, graph):
    customer = losing_writes(sandbox, graph, "drop_after_commit")

    progress = run_cutover(graph, customer.line)

    assert (progress.failures, progress.groups_changed, progress.pending) == ((), 1, 0)
    assert progress.moved == len(customer.direct) + 1 + len(customer.group_only)
    assert max(user_changes(sandbox).values()) == 1  # no write was sent twice
    assert len(api_calls(sandbox, "graph", "/groups/" + customer.group + "/assignLicense")) == 1


def test_lost_writes_that_were_not_made_stay_pending_and_the_next_run_makes_them_once(sandbox, graph):
    customer = losing_writes(sandbox, graph, "drop")

    first = run_cutover(graph, customer.line)

    # read back, the group and every direct holder still hold the source: nothing is counted done
    assert (first.failures, first.moved, first.groups_changed, first.finished) == ((), 0, 0, False)
    assert first.pending == 1 + len(customer.direct) + 1
    assert sandbox.license_changes() == []

    second = run_cutover(graph, customer.line)

    assert (second.failures, second.pending, second.finished) == ((), 0, True)
    assert second.moved == len(customer.direct) + 1 + len(customer.group_only)
    assert max(user_changes(sandbox).values()) == 1
    processed(sandbox)
    for user_id in [*customer.direct, *customer.group_only]:
        assert_moved(graph, customer, user_id)


def test_refused_writes_are_read_back_and_fail_when_they_were_not_made(sandbox, graph):
    customer = discontinued(sandbox, graph, added=0)
    sandbox.set_usage_location(customer.tenant, customer.no_location, "US")
    refusal = {"status": 400, "code": "Request_BadRequest", "times": -1}
    sandbox.add_fault("error", service="graph", method="POST", path=r"/assignLicense$", **refusal)

    progress = run_cutover(graph, customer.line)

    refused = {customer.group, *customer.direct, customer.no_location}
    assert {f.user_id for f in progress.failures} == refused
    assert {f.reason for f in progress.failures} == {FailureReason.OTHER}
    assert (progress.moved, progress.pending, progress.groups_changed) == (0, 0, 0)
    reads = Counter(call["path"].rsplit("/", 1)[-1] for call in api_calls(sandbox, "graph", "", "GET"))
    # each refusal was settled by reading the user (or the group, read once before its change too)
    assert all(reads[user_id] == 1 for user_id in refused - {customer.group})
    assert reads[customer.group] == 2
    assert sandbox.license_changes() == []


def test_users_beyond_the_seats_bought_fail_directly_or_as_group_members_and_the_others_move(sandbox, graph):
    customer = discontinued(sandbox, graph, added=10, seats=12)
    sandbox.set_usage_location(customer.tenant, customer.no_location, "US")
    targets = customer.line.cutover.targets

    progress = run_cutover(graph, customer.line)
    processed(sandbox)
    members = check_groups(graph, customer.tenant, customer.line.sku_id, targets, progress.groups)

    # the 14 users who hold it only directly are swapped at once and take the 12 seats; Entra then
    # processes the group in the background and finds none left for its 9 members (the user holding
    # it both ways among them: they lost only the direct assignment), recorded on each member
    reasons = Counter(f.reason for f in progress.failures)
    assert reasons == {FailureReason.NOT_ENOUGH_LICENSES: 2}
    assert (progress.pending, progress.finished) == (0, True)
    assert members.settled == (customer.group,)
    assert {f.user_id for f in members.failures} == {
        *customer.group_only,
        sandbox.ids.users["contoso.group_and_direct_e3"],
    }
    assert {(f.reason, f.group_id) for f in members.failures} == {
        (FailureReason.NOT_ENOUGH_LICENSES, customer.group)
    }
    assert all(f.detail == f"group {customer.group}: CountViolation" for f in members.failures)


def test_a_line_without_targets_is_refused_before_any_call(sandbox, graph):
    e3 = sandbox.ids.skus["O365_E3"]
    nothing = LineCutover(sandbox.customer("contoso"), Cutover(e3, None, (), {}, {}))

    with pytest.raises(ValueError, match="unlicense"):
        run_cutover(graph, nothing)
    assert sandbox.requests() == []


def test_get_group_reads_the_group_licences(sandbox, graph):
    group = graph.get_group(sandbox.customer("contoso"), sandbox.ids.groups["contoso.e3"])

    assert group.id == sandbox.ids.groups["contoso.e3"]
    assert group.holds(sandbox.ids.skus["O365_E3"])


def tenant_skus(graph: GraphClient, tenant: str) -> dict[str, SubscribedSku]:
    return {s.sku_id: s for s in graph.list_subscribed_skus(tenant)}


def test_identical_line_passes_when_the_pool_holds_the_seats_bought(sandbox, graph):
    contoso, ems = sandbox.customer("contoso"), sandbox.ids.skus["EMS_E3"]
    sandbox.add_subscription(contoso, ems, 10)  # the same SKU, bought again

    check = check_pool(tenant_skus(graph, contoso), ems, expected_seats=10)

    assert check.ok
    assert check.reason is None
    assert check.enabled >= 10
    assert check.consumed <= check.enabled


def test_identical_line_fails_with_a_reason_when_seats_are_short(sandbox, graph):
    contoso, ems = sandbox.customer("contoso"), sandbox.ids.skus["EMS_E3"]

    check = check_pool(tenant_skus(graph, contoso), ems, expected_seats=30)

    assert not check.ok
    assert check.reason == "10 enabled seats, fewer than the 30 bought"
    missing = check_pool(tenant_skus(graph, contoso), sandbox.ids.skus["O365_E5"], expected_seats=1)
    assert missing.reason == "the tenant has no licences of this SKU"


def a_line(**fields) -> Line:
    return Line(transfer_id="0" * 32, source_sku_id="sku", source_sku_part_number="SKU", quantity=1, **fields)


def test_a_line_keeps_a_bounded_failure_list_and_counts_beyond_it():
    failures = tuple(UserFailure(f"u{n}", FailureReason.OTHER, "Request_BadRequest") for n in range(250))
    first = CutoverProgress(moved=3, failures=failures[:STORED_FAILURES], failed_total=250, pending=2)
    later = CutoverProgress(moved=1, finished=True, writes=1)

    line = progressed(progressed(a_line(), first), later)

    assert (line.users_moved, line.users_failed, len(line.user_failures), line.users_pending) == (
        4,
        250,
        STORED_FAILURES,
        0,
    )


@pytest.mark.parametrize("retried", [False, True])
def test_a_retry_replaces_the_earlier_failures(retried):
    earlier = CutoverProgress(
        failures=(UserFailure("u1", FailureReason.NO_USAGE_LOCATION, "x"),), failed_total=1
    )
    later = CutoverProgress(moved=1, finished=True, retried_failed=retried)

    assert failed_ids(progressed(progressed(a_line(), earlier), later)) == (
        frozenset() if retried else {"u1"}
    )
