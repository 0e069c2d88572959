"""How often a waiting transfer's originals are read, against Azurite and the sandbox: the timer scans
every five minutes of the sandbox's time, and the workflow keeps that same time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from tests.fixtures.app import pump
from tests.fixtures.clients import api_calls
from tests.workflow.test_cutover import O365_E1, provisioned
from tests.workflow.transfers import record

SCAN_SECONDS = 300  # the timer's schedule in Azure: every five minutes
READ_EVERY = timedelta(hours=6)  # ORIGINALS_READ_HOURS in Azure (the tests' own settings say 0)


class SandboxClock:
    """The workflow's clock, kept on the sandbox's as the test moves it."""

    def __init__(self, sandbox: SandboxHandle) -> None:
        self._sandbox = sandbox
        self._offset = sandbox.now() - datetime.now(UTC)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def scan_later(self, services: Services, azurite: Azurite) -> None:
        """Five minutes pass; the timer scans and the workflow takes what it announced."""
        moved = self._sandbox.advance_clock(seconds=SCAN_SECONDS)
        self._offset = moved - datetime.now(UTC)
        services.new_timer(clock=self, originals_read_every=READ_EVERY).scan()
        pump(azurite, services, runner=services.new_runner(clock=self, provisioning_poll_seconds=0.5))


def originals_read(sandbox: SandboxHandle) -> int:
    return len(api_calls(sandbox, "graph", "/directory/subscriptions", "GET"))


def test_a_waiting_transfers_originals_are_read_every_six_hours_not_on_every_scan(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    transfer = provisioned(services, sandbox, azurite)  # its originals lapse weeks from now
    clock = SandboxClock(sandbox)
    before = originals_read(sandbox)

    for _ in range(12 * 3600 // SCAN_SECONDS):  # twelve hours of scans: 144
        clock.scan_later(services, azurite)

    assert originals_read(sandbox) - before == 2  # six and twelve hours after the plan read them (not 144)
    assert record(services, transfer["id"])["state"] == "Provisioned"


def test_an_original_deprovisioned_early_is_seen_within_six_hours_and_its_line_cut_over(
    services: Services, sandbox: SandboxHandle, azurite: Azurite
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = provisioned(services, sandbox, azurite)
    clock = SandboxClock(sandbox)
    clock.scan_later(services, azurite)  # five minutes on: nothing is due, nothing read
    [e1] = [x for x in transfer["lines"] if x["sourceSkuId"] == O365_E1]
    sandbox.change_subscription(customer, e1["originalSubscriptionIds"][0], status="Deleted")

    scans = 0
    while scans < 6 * 3600 // SCAN_SECONDS + 1:
        clock.scan_later(services, azurite)
        scans += 1
        after = {x["sourceSkuId"]: x for x in record(services, transfer["id"])["lines"]}
        if after[O365_E1]["state"] == "Completed":
            break

    assert after[O365_E1]["state"] == "Completed"  # cut over as soon as the read saw the lapse
    assert scans > 1  # not on the very next scan: the stored date said nothing was due
