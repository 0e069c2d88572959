"""The quota every host shares (one token bucket in a Table entity), on Azurite: hosts taking at
once never spend more than it allows together, and a take beyond it is told when to come back."""

from __future__ import annotations

import threading

from azure.data.tables import TableClient

from shared.store.connection import StorageConnection
from shared.store.quota import HOLD_SECONDS, MAX_BLOCK, Quota, SharedQuota
from tests.fixtures.azurite import CountingTransport

QUOTA = Quota(10, 10.0)  # one call a second, ten at once


class Clock:
    """The hosts' shared wall clock, moved by the test: the counts do not depend on the machine."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def two_hosts(storage: StorageConnection, table_name: str, clock: Clock) -> list[SharedQuota]:
    """Two hosts' views of the same bucket, each over its own table client, as two processes have."""
    return [
        SharedQuota(storage.table(table_name), "partner-center", QUOTA, horizon=0.0, clock=clock)
        for _ in range(2)
    ]


def test_two_hosts_sharing_the_bucket_never_spend_more_than_the_quota_allows(
    storage: StorageConnection, table_name: str
) -> None:
    TableClient.from_connection_string(storage.connection_string or "", table_name).create_table()
    clock = Clock()
    hosts = two_hosts(storage, table_name, clock)
    granted: list[bool] = []

    def take(host: SharedQuota) -> None:
        for _ in range(8):
            granted.append(host.take().granted)

    workers = [threading.Thread(target=take, args=(host,)) for host in hosts for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert granted.count(True) == QUOTA.calls  # 32 tried at once, between two hosts: 10 went

    clock.now += 4.0  # four seconds refill four calls, whoever takes them
    later = [host.take() for host in hosts for _ in range(4)]
    assert sum(turn.granted for turn in later) == 4
    refused = [turn for turn in later if not turn.granted]
    assert all(0 < turn.wait <= 1.0 for turn in refused)  # told when the next one is due


def test_a_take_a_little_ahead_is_granted_with_its_wait(storage: StorageConnection, table_name: str) -> None:
    TableClient.from_connection_string(storage.connection_string or "", table_name).create_table()
    clock = Clock()
    quota = SharedQuota(storage.table(table_name), "partner-center", QUOTA, horizon=3.0, clock=clock)

    turns = [quota.take() for _ in range(QUOTA.calls + 4)]

    assert [t.wait for t in turns[: QUOTA.calls]] == [0.0] * QUOTA.calls
    assert [(t.granted, round(t.wait, 3)) for t in turns[QUOTA.calls :]] == [
        (True, 1.0),
        (True, 2.0),
        (True, 3.0),
        (False, 1.0),  # four seconds ahead is beyond the horizon: nothing taken, come back in one
    ]


def test_a_quota_setting_reads_calls_per_seconds() -> None:
    assert Quota.parse("500/60") == Quota(500, 60.0)
    assert Quota.parse("3000/150") == Quota(3000, 150.0)
    assert [Quota.parse(bad) for bad in ("500", "0/60", "500/0", "５００/60", "-1/60", "1/1e9")] == [None] * 6


def counted(
    storage: StorageConnection, table_name: str, quota: Quota
) -> tuple[SharedQuota, Clock, CountingTransport]:
    """One host's bucket (no horizon) over a client whose transport counts its transactions."""
    connection = storage.connection_string or ""
    TableClient.from_connection_string(connection, table_name).create_table()
    clock, transport = Clock(), CountingTransport()
    table = TableClient.from_connection_string(connection, table_name, transport=transport)
    return SharedQuota(table, "partner-center", quota, horizon=0.0, clock=clock), clock, transport


def test_a_host_calling_often_reserves_a_block_of_calls_in_one_transaction(
    storage: StorageConnection, table_name: str
) -> None:
    quota, clock, transport = counted(storage, table_name, Quota(500, 60.0))

    turns = []
    for _ in range(40):  # a catalog's pages, one every 20 ms
        turns.append(quota.take())
        clock.now += 0.02

    assert all(turn == (0.0, True) for turn in turns)
    assert transport.sent <= 40 // MAX_BLOCK + 4  # blocks of 1, 2 and 4, then of 8


def test_calls_reserved_and_not_made_are_let_go_and_the_next_take_asks_storage_again(
    storage: StorageConnection, table_name: str
) -> None:
    quota, clock, transport = counted(storage, table_name, QUOTA)
    for _ in range(4):
        quota.take()  # blocks of 1, 2 and 4 at once: 7 of the 10 reserved, 3 kept
    asked = transport.sent

    clock.now += HOLD_SECONDS + 0.5  # the host stopped calling: its kept calls lapse, 2.5 refilled
    later = quota.take()

    assert later == (0.0, True)
    assert transport.sent == asked + 1  # nothing kept any more: storage is asked
    burst = [quota.take().granted for _ in range(10)]
    assert burst.count(True) == 4  # 3 + 2.5 - 1 left: the lapsed calls were not made after all
