"""A transfer's lease, the watched-originals index and the fields the cutover keeps, on Azurite."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from shared.domain import Change, Line, Refund, RefundItem, TransferOptions, UserFailure
from shared.store.leases import LeaseHeldError
from shared.store.repository import TransferStore
from tests.store.test_store import E3, T0, a_transfer, created


def test_a_lease_is_held_by_one_holder_until_released_or_run_out(store: TransferStore) -> None:
    leases, transfer = store.leases, "f" * 32

    assert leases.acquire(transfer, "first", seconds=30) is None
    left = leases.acquire(transfer, "second", seconds=30)
    assert left is not None
    assert 25 < left <= 30
    assert leases.acquire(transfer, "first", seconds=30) is None  # its holder renews it
    leases.release(transfer, "second")  # not its lease: nothing happens
    assert leases.acquire(transfer, "second") is not None
    leases.release(transfer, "first")
    assert leases.acquire(transfer, "second", seconds=0.5) is None
    threading.Event().wait(0.6)
    assert leases.acquire(transfer, "third") is None  # the second's ran out: a dead holder is replaced


def test_a_kept_lease_is_renewed_while_its_holder_works(store: TransferStore) -> None:
    leases, transfer = store.leases, "e" * 32

    with leases.kept(transfer, "worker", seconds=0.9) as lost:
        threading.Event().wait(1.5)  # longer than the lease: renewed meanwhile
        with pytest.raises(LeaseHeldError), leases.kept(transfer, "another"):
            pass
        assert not lost.is_set()
    assert leases.acquire(transfer, "another") is None  # released on the way out


def test_the_watched_index_names_each_transfer_once(store: TransferStore) -> None:
    watched = store.watched

    watched.add("a" * 32)
    watched.add("a" * 32)
    watched.add("b" * 32)
    watched.remove("b" * 32)
    watched.remove("c" * 32)  # never watched: no error

    assert list(watched.ids()) == ["a" * 32]


def test_the_cutover_and_refund_fields_read_back_as_written(store: TransferStore) -> None:
    """What the cutover keeps (groups to verify, member failures, windows, reminders) and a refund."""
    record = created(store, replace(a_transfer(), options=TransferOptions(usage_location_from_tenant=True)))
    line = Line(
        transfer_id=record.transfer.id,
        source_sku_id=E3,
        source_sku_part_number="ENTERPRISEPACK",
        quantity=3,
        groups_to_verify=("g-1", "g-2"),
        group_reads=3,
        user_failures=(
            UserFailure("u-1", "no usage location", "group g-1: ProhibitedInUsageLocationViolation", "g-1"),
        ),
        cancellation_windows=(("s-1", "2026-11-08T12:00:00+00:00"),),
        reminded_for=T0,
        original_lapsed=True,
    )
    refund = Refund(
        "2026-11-02T12:00:00+00:00", (RefundItem("s-1", "r-1", "cancelled"), RefundItem("s-2", "r-2"))
    )
    header = replace(record.transfer, lapse_risk_on=T0, refund=refund)

    again = store.get(store.commit(record, Change(header, (line,))).transfer.id)

    assert again.transfer == header
    assert again.lines == (line,)
    assert not again.transfer.refund.settled  # type: ignore[union-attr]
