"""Partner Center's quota, paced across the hosts (:mod:`shared.store.quota`): a step that finds it
spent is put back on the queue for when it refills, never failed, and Partner Center answers no 429."""

from __future__ import annotations

from contextlib import suppress

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle
from shared import bootstrap
from shared.store.queue import QUEUE_NAME
from shared.store.repository import TransferStore
from tests.fixtures.app import clear_process_caches, pump
from tests.workflow.transfers import accepted, record, started_and_accepted


def test_a_step_whose_partner_center_quota_is_spent_is_put_back_on_the_queue_not_failed(
    connected_app: TransferStore, azurite: Azurite, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARTNER_CENTER_QUOTA", "1/3600")  # one call an hour: the start's invitation link
    clear_process_caches()
    services = bootstrap.services()
    with suppress(ResourceNotFoundError):
        QueueClient.from_connection_string(azurite.connection_string, QUEUE_NAME).clear_messages()
    _, transfer = started_and_accepted(services, sandbox)
    accepted(services, transfer)

    pump(azurite, services)

    after = record(services, transfer["id"])
    assert after["state"] == "AwaitingAcceptance", after["reason"]  # not Failed: it waits its turn
    queue = QueueClient.from_connection_string(azurite.connection_string, QUEUE_NAME)
    assert queue.get_queue_properties().approximate_message_count == 1  # back on the queue, hidden
    partner_center = [r for r in sandbox.requests() if r["service"] == "partner_center"]
    assert len(partner_center) == 1
    assert [r for r in partner_center if r["status"] == 429] == []
