"""The transfer and line state machines (pure logic, no storage)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from shared.domain import (
    IllegalTransitionError,
    Line,
    LineState,
    SourceChannel,
    Transfer,
    TransferOptions,
    TransferState,
    is_transfer_id,
    new_transfer_id,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
T1 = datetime(2026, 11, 2, tzinfo=UTC)


def transfer(state: TransferState = TransferState.AWAITING_ACCEPTANCE) -> Transfer:
    return Transfer(
        id=new_transfer_id(),
        customer_tenant_id="c0ffee00-0000-4000-8000-000000000001",
        customer_country="US",
        source_channel=SourceChannel.ENTERPRISE_AGREEMENT,
        state=state,
        created_at=T0,
        updated_at=T0,
    )


def line(state: LineState = LineState.PLANNED) -> Line:
    return Line(
        transfer_id="t", source_sku_id="sku", source_sku_part_number="ENTERPRISEPACK", quantity=3, state=state
    )


def test_happy_path_moves_through_every_state_in_order() -> None:
    current = transfer()
    for state in (
        TransferState.ACCEPTED,
        TransferState.PROVISIONING,
        TransferState.PROVISIONED,
        TransferState.CUTTING_OVER,
        TransferState.COMPLETED,
    ):
        current, entry = current.move(state, at=T1, actor="workflow")
        assert entry.to_state == state
    assert current.state is TransferState.COMPLETED
    assert not current.is_active


def test_illegal_transition_raises_and_changes_nothing() -> None:
    original = transfer()

    with pytest.raises(IllegalTransitionError, match="AwaitingAcceptance to Provisioned"):
        original.move(TransferState.PROVISIONED, at=T1, actor="workflow")

    assert original.state is TransferState.AWAITING_ACCEPTANCE
    assert original.updated_at == T0


def test_blocking_needs_a_reason_and_retry_resumes_where_it_stopped() -> None:
    provisioning = transfer(TransferState.PROVISIONING)
    with pytest.raises(IllegalTransitionError, match="needs a reason"):
        provisioning.move(TransferState.BLOCKED, at=T1, actor="workflow")

    blocked, _ = provisioning.move(TransferState.BLOCKED, at=T1, actor="workflow", reason="GDAP role missing")
    resumed, entry = blocked.resume(at=T1, actor="api")

    assert blocked.reason == "GDAP role missing"
    assert resumed.state is TransferState.PROVISIONING
    assert resumed.reason is None
    assert (entry.from_state, entry.to_state) == ("Blocked", "Provisioning")


def test_only_a_blocked_or_failed_transfer_can_be_retried() -> None:
    with pytest.raises(IllegalTransitionError, match="only a blocked or failed"):
        transfer(TransferState.ACCEPTED).resume(at=T1, actor="api")


def test_finished_transfer_cannot_be_blocked_or_cancelled() -> None:
    done = transfer(TransferState.COMPLETED)
    with pytest.raises(IllegalTransitionError):
        done.move(TransferState.FAILED, at=T1, actor="workflow", reason="late")
    with pytest.raises(IllegalTransitionError):
        done.cancel((), at=T1, actor="api")


def test_cancel_is_refused_once_anything_may_have_been_bought() -> None:
    provisioning = transfer(TransferState.PROVISIONING)

    with pytest.raises(IllegalTransitionError, match="purchases exist or may exist"):
        provisioning.cancel((line(LineState.ORDERING),), at=T1, actor="api")
    cancelled, _ = provisioning.cancel((line(LineState.PLANNED), line(LineState.SKIPPED)), at=T1, actor="api")

    assert cancelled.state is TransferState.CANCELLED


def test_cancelled_transfer_cannot_move_on() -> None:
    cancelled, _ = transfer().cancel((), at=T1, actor="api")
    with pytest.raises(IllegalTransitionError):
        cancelled.move(TransferState.ACCEPTED, at=T1, actor="webhook")


def test_line_moves_and_its_failure_resumes_from_where_it_failed() -> None:
    ordering = replace(line(), state=LineState.ORDERING, order_ids=("order-1",))
    failed, _ = ordering.move(LineState.FAILED, at=T1, actor="workflow", reason="503 from checkout")
    resumed, _ = failed.resume(at=T1, actor="api")

    assert resumed.state is LineState.ORDERING
    assert resumed.order_ids == ("order-1",)  # what was bought stays on the line
    with pytest.raises(IllegalTransitionError):
        line(LineState.COMPLETED).move(LineState.ORDERING, at=T1, actor="workflow")


def test_transfer_ids_are_url_and_key_safe_and_sort_by_creation() -> None:
    first = new_transfer_id()
    second = new_transfer_id()
    assert is_transfer_id(first)
    assert first[:12] <= second[:12]
    assert not is_transfer_id("../etc/passwd")
    assert not is_transfer_id(first + "\n")


def test_a_cancel_for_a_refund_is_allowed_once_bought_and_says_so() -> None:
    cutting_over = transfer(TransferState.CUTTING_OVER)

    cancelled, entry = cutting_over.cancel((line(LineState.ACTIVE),), at=T1, actor="api", refunded=True)

    assert cancelled.state is TransferState.CANCELLED
    assert entry.message == "cancelled; its new subscriptions cancelled for a refund"


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_the_usage_location_option_is_off_by_default_and_only_true_or_false(value: object) -> None:
    assert TransferOptions.from_json({}).usage_location_from_tenant is False
    assert (
        TransferOptions.from_json({"usageLocationFromTenant": True}).to_json()["usageLocationFromTenant"]
        is True
    )
    with pytest.raises(ValueError, match="usageLocationFromTenant must be true or false"):
        TransferOptions.from_json({"usageLocationFromTenant": value})
