"""The originals' rules and a line's cutover tallies, pure: no storage, no sandbox."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain import Line, LineState, LineTransfer, SourceChannel, Transfer, TransferState, UserFailure
from shared.resources.graph import CompanySubscription
from shared.workflow.rules.originals import Notice, attend, read_due, watching
from shared.workflow.rules.progress import failed_at_cutover, member_failure, retried, verified

NOW = datetime(2026, 11, 1, tzinfo=UTC)
LEAD = timedelta(days=7)


def a_transfer(state: TransferState) -> Transfer:
    return Transfer("0" * 32, "c", "US", SourceChannel.DIRECT, state, NOW, NOW)


def a_line(state: LineState, lapses: datetime | None, **fields: Any) -> Line:
    return Line(
        "0" * 32, "sku", "ENTERPRISEPACK", 5, state, lapses, original_subscription_ids=("o-1",), **fields
    )


def original(status: str, lapses: datetime | None) -> dict[str, CompanySubscription]:
    return {"o-1": CompanySubscription("o-1", "sku", "ENTERPRISEPACK", status, 5, False, lapses, None)}


def test_a_line_not_moved_whose_original_lapses_within_the_lead_is_at_risk_only_while_halted() -> None:
    lapses = NOW + timedelta(days=3)
    waiting = a_line(LineState.ACTIVE, lapses, reminded_for=lapses)

    failed = attend(a_transfer(TransferState.FAILED), [waiting], original("Enabled", lapses), NOW, LEAD)
    going = attend(a_transfer(TransferState.CUTTING_OVER), [waiting], original("Enabled", lapses), NOW, LEAD)
    again = attend(
        replace(a_transfer(TransferState.FAILED), lapse_risk_on=lapses),
        [waiting],
        original("Enabled", lapses),
        NOW,
        LEAD,
    )

    assert (failed.lapse_risk_on, [n[0] for n in failed.notices]) == (lapses, [Notice.LAPSE_AT_RISK])
    assert "while the transfer is Failed" in failed.history[0].message
    assert (going.lapse_risk_on, going.notices) == (None, ())
    assert (again.notices, again.needed(replace(a_transfer(TransferState.FAILED), lapse_risk_on=lapses))) == (
        (),
        False,
    )


def test_a_cut_over_original_that_renews_is_noticed_then_reminded_and_one_that_lapses_is_let_go() -> None:
    known = NOW - timedelta(days=1)
    done = a_line(LineState.COMPLETED, known)
    completed = a_transfer(TransferState.COMPLETED)

    renewed = attend(completed, [done], original("Enabled", known + timedelta(days=365)), NOW, LEAD)
    lapsed = attend(completed, [done], original("Suspended", NOW + timedelta(days=60)), NOW, LEAD)
    grace = attend(completed, [done], original("Warning", NOW + timedelta(days=29)), NOW, LEAD)

    [line] = renewed.lines
    renewal = known + timedelta(days=365)
    assert line.original_expires == renewal
    assert [n[0] for n in renewed.notices] == [Notice.RENEWED]
    [let_go] = lapsed.lines
    assert let_go.original_lapsed
    assert not watching([let_go])
    assert (grace.lines, grace.notices) == ((), ())  # in its grace: still watched, nothing to say
    before_renewal = attend(
        completed, [line], original("Enabled", renewal), renewal - timedelta(days=2), LEAD
    )
    assert [n[0] for n in before_renewal.notices] == [Notice.RENEWAL_REMINDER]
    assert before_renewal.lines[0].reminded_for == renewal


EVERY = timedelta(hours=6)


def test_originals_read_an_hour_ago_are_not_read_again_until_six_hours_or_a_stored_date_comes() -> None:
    lapses = NOW + timedelta(days=30)
    waiting = a_line(LineState.ACTIVE, lapses)
    read = replace(a_transfer(TransferState.PROVISIONED), originals_read_at=NOW - timedelta(hours=1))

    assert read_due(a_transfer(TransferState.PROVISIONED), [waiting], NOW, LEAD, EVERY)  # never read
    assert not read_due(read, [waiting], NOW, LEAD, EVERY)
    assert read_due(read, [waiting], NOW + timedelta(hours=5), LEAD, EVERY)  # six hours since the read
    lead_begins = lapses - LEAD  # reminders and lapse risks begin: read at once, not hours later
    just_read = replace(read, originals_read_at=lead_begins - timedelta(minutes=5))
    assert read_due(just_read, [waiting], lead_begins, LEAD, EVERY)
    lapse_read = replace(read, originals_read_at=lapses - timedelta(minutes=5))
    assert read_due(lapse_read, [waiting], lapses, LEAD, EVERY)  # lapsed, or renewed: read to know
    assert not read_due(read, [waiting], NOW, LEAD, timedelta(hours=2))
    assert read_due(read, [waiting], NOW, LEAD, timedelta(0))  # 0: on every scan


def test_a_halted_transfer_whose_original_lapses_within_the_lead_is_read_at_once_for_its_risk() -> None:
    lapses = NOW + timedelta(days=3)
    waiting = a_line(LineState.ACTIVE, lapses, reminded_for=lapses)
    read = NOW - timedelta(minutes=5)  # after the lead began: no stored date came since
    failed = replace(a_transfer(TransferState.FAILED), originals_read_at=read)

    assert read_due(failed, [waiting], NOW, LEAD, EVERY)  # the risk the record does not show yet
    assert not read_due(replace(failed, lapse_risk_on=lapses), [waiting], NOW, LEAD, EVERY)
    assert not read_due(replace(failed, state=TransferState.CUTTING_OVER), [waiting], NOW, LEAD, EVERY)
    resumed = replace(failed, state=TransferState.CUTTING_OVER, lapse_risk_on=lapses)
    assert read_due(resumed, [waiting], NOW, LEAD, EVERY)  # the flag it still shows is read away
    assert not read_due(failed, [a_line(LineState.SKIPPED, lapses)], NOW, LEAD, EVERY)  # nothing watched


def test_a_line_moved_by_a_partner_transfer_or_declined_is_not_watched() -> None:
    moved = a_line(LineState.COMPLETED, NOW, partner_transfer=LineTransfer("transfer", "Transferred"))
    declined = a_line(LineState.SKIPPED, NOW)

    assert not watching([moved, declined])


def test_a_groups_member_failures_replace_its_earlier_ones_and_count_as_not_moved() -> None:
    first = member_failure("u-1", "g", "CountViolation")
    line = a_line(LineState.MOVING_LICENSES, NOW, users_moved=10, groups_to_verify=("g", "h"))

    once = verified(line, ["g"], [first])
    fixed = verified(
        replace(retried(replace(once, state=LineState.FAILED)), state=LineState.MOVING_LICENSES), ["g"], []
    )

    assert (first.reason, first.group_id, first.detail) == (
        "not enough licenses",
        "g",
        "group g: CountViolation",
    )
    assert (once.users_moved, once.users_failed, once.groups_to_verify, once.group_reads) == (9, 1, ("h",), 1)
    assert (fixed.users_moved, fixed.users_failed, fixed.user_failures) == (10, 0, ())


def test_a_retried_line_tries_its_direct_users_again_and_reads_its_failed_members_groups_again() -> None:
    direct, member = UserFailure("u-1", "no usage location"), member_failure("u-2", "g", "Other")
    failed = a_line(LineState.FAILED, NOW, user_failures=(direct, member), users_failed=2, group_reads=7)

    again = retried(failed)

    assert (again.user_failures, again.users_failed, again.groups_to_verify, again.group_reads) == (
        (member,),
        1,
        ("g",),
        0,
    )
    assert member.reason == "other"


def test_only_a_line_halted_by_its_own_cutover_counts_as_failed_at_cutover() -> None:
    halted = [
        a_line(s, NOW).move(LineState.FAILED, at=NOW, actor="t", reason="r")[0]
        for s in (LineState.ACTIVE, LineState.MOVING_LICENSES)
    ]
    bought = a_line(LineState.ORDERING, NOW).move(LineState.FAILED, at=NOW, actor="t", reason="r")[0]

    assert all(failed_at_cutover(x) for x in halted)
    assert not failed_at_cutover(bought)
