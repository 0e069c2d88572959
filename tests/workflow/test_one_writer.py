"""One writer per transfer: two hosts, a retry and the timer never write for the same users at once.

The queue delivers at least once, and the host runs several messages at a time on several
instances. Here two runners (two hosts) take the same transfer's messages at the same moment, over
Azurite and a sandbox that takes its time over each ``$batch``, so their work would overlap; the
sandbox's ledger of every ``assignLicense`` it received is the oracle.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from contextlib import suppress

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient, TextBase64DecodePolicy

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from shared.store.queue import QUEUE_NAME
from shared.store.quota import Quota
from shared.workflow.runner import BUSY_WAIT_SECONDS, Runner, StepFailedError
from tests.fixtures.app import EXPECTED_FAILURES, pump, routes
from tests.workflow.test_cutover import (
    O365_E1,
    days_until_lapse,
    failed_on_one_line,
    on_sandbox_time,
    provisioned,
    sandbox_time,
    timer_on_sandbox_time,
)
from tests.workflow.transfers import acceptance, record, started_and_accepted


def taken(azurite: Azurite) -> list[str]:
    """Every message on the queue, taken off it as two hosts' triggers would take them."""
    queue = QueueClient.from_connection_string(
        azurite.connection_string, QUEUE_NAME, message_decode_policy=TextBase64DecodePolicy()
    )
    with suppress(ResourceExistsError):
        queue.create_queue()
    found = []
    for message in queue.receive_messages(max_messages=32, visibility_timeout=60):
        found.append(str(message.content))
        queue.delete_message(message)
    return found


def at_once(pairs: list[tuple[Runner, str]]) -> None:
    """Each runner handles its message on its own thread, all starting together."""
    start = threading.Barrier(len(pairs))
    failures: list[BaseException] = []

    def run(runner: Runner, message: str) -> None:
        start.wait()
        try:
            runner.handle_message(message)
        except StepFailedError as failure:  # the host would deliver it again: a bug would not be
            if not isinstance(failure.error, EXPECTED_FAILURES):
                failures.append(failure)
        except BaseException as error:  # reported to the test below
            failures.append(error)

    threads = [threading.Thread(target=run, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []


def writes_per_user(sandbox: SandboxHandle) -> Counter[str]:
    return Counter(w["userId"] for w in sandbox.license_writes() if "userId" in w)


def slow_writes(sandbox: SandboxHandle) -> None:
    """Graph takes its time over each ``$batch`` (it applies it after the wait): both runners have
    listed the holders before the first one's swaps land."""
    sandbox.add_fault("delay", service="graph", method="POST", path=r"/\$batch$", delay_s=0.6, times=-1)


def test_a_retry_racing_a_timer_started_cutover_writes_each_user_once(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer, failed, stranded = failed_on_one_line(services, sandbox, azurite)
    sandbox.set_usage_location(customer, stranded, "US")  # the admin fixes the user...
    sandbox.clear_ledger()
    assert routes(services).retry(failed["id"]).status == 202  # ...and retries: transfer-continue
    assert timer_on_sandbox_time(services, sandbox).scan().expiring == 1  # the timer: subscription-expiring
    messages = taken(azurite)
    assert len(messages) == 2
    slow_writes(sandbox)

    at_once([(on_sandbox_time(services, sandbox), message) for message in messages])  # on two hosts
    sandbox.clear_faults()
    pump(azurite, services, runner=on_sandbox_time(services, sandbox), idle_s=BUSY_WAIT_SECONDS + 2)

    assert record(services, failed["id"])["state"] == "Completed"
    assert writes_per_user(sandbox) == {stranded: 1}


def small_runs(services: Services, sandbox: SandboxHandle) -> Runner:
    """A workflow on sandbox time whose Graph write quota is 200 per half second: a cutover run moves 200."""
    return services.new_runner(
        clock=sandbox_time(sandbox), provisioning_poll_seconds=0.5, graph_write_quota=Quota(200, 0.5)
    )


def test_two_hosts_given_the_same_message_of_a_cutover_under_way_write_each_user_once(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    added = sandbox.add_users(customer, 240, sku_id=O365_E1)  # more than one run moves (200)
    sandbox.add_subscription(customer, O365_E1, 240, days_to_next=None)
    transfer = provisioned(services, sandbox, azurite)
    sandbox.advance_clock(days=days_until_lapse(sandbox, transfer) - 3)
    timer_on_sandbox_time(services, sandbox).scan()
    [announced] = taken(azurite)
    small_runs(services, sandbox).handle_message(announced)  # the first run: 200 moved, the rest later
    [going_on] = taken(azurite)
    sandbox.clear_ledger()
    slow_writes(sandbox)

    at_once([(small_runs(services, sandbox), going_on) for _ in range(2)])  # delivered twice
    sandbox.clear_faults()
    pump(azurite, services, runner=small_runs(services, sandbox), idle_s=BUSY_WAIT_SECONDS + 2)

    assert record(services, transfer["id"])["state"] == "Completed"
    writes = writes_per_user(sandbox)
    assert len(set(added) & set(writes)) >= 40  # the rest of the line was moved here
    assert set(writes.values()) == {1}


def test_a_message_meeting_a_lease_held_for_a_moment_goes_on_at_once_not_after_a_wait_on_the_queue(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    _, transfer = started_and_accepted(services, sandbox)
    release = threading.Event()

    def another_holder() -> None:  # the GDAP webhook's message, through in a moment
        with services.store.leases.kept(transfer["id"], "another host"):
            release.set()
            time.sleep(0.3)

    holder = threading.Thread(target=another_holder)
    holder.start()
    release.wait(5)
    outcome = on_sandbox_time(services, sandbox).handle(acceptance(transfer))
    holder.join()

    assert (outcome.wait_seconds or 0.0) < 1.0  # handled here, not put back for seconds on the queue
    assert record(services, transfer["id"])["state"] != "AwaitingAcceptance"
