"""`make run`'s banner against the sandbox and Azurite: the customers, keys, and curl lines that work."""

from __future__ import annotations

import json
import os
import subprocess
import time
from contextlib import ExitStack
from typing import Any

import pytest
import requests

from devhost.azurite import Azurite
from devhost.host import FUNCTION_KEYS_SETTING
from devhost.run import WALKTHROUGH, Running, banner, serve
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services

KEY = "make-run-key-0123456789"


def until(run: Running, transfer_id: str, state: str, timeout_s: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        record: dict[str, Any] = requests.get(
            f"{run.host.url}/api/transfers/{transfer_id}", headers={"x-functions-key": KEY}, timeout=30
        ).json()
        if record["state"] == state:
            return record
        assert time.monotonic() < deadline, (record["state"], record["reason"])
        time.sleep(0.3)


def shell(command: str) -> bytes:
    """A printed line as a person pastes it, with KEY set to the key as the banner asks."""
    env = {**os.environ, "KEY": KEY}
    return subprocess.run(command, shell=True, env=env, check=True, capture_output=True).stdout


def test_without_keys_the_banner_lists_the_customers_and_says_any_key_signs_in(
    services: Services, sandbox: SandboxHandle, azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(FUNCTION_KEYS_SETTING, raising=False)
    with ExitStack() as running:
        text = "\n".join(banner(serve(running, sandbox, azurite, 0)))

    assert "any key" in text
    for customer in sandbox.customers():
        assert f"{customer['name']}" in text
        assert customer["tenantId"] in text
    assert "outside the partner's CSP region" in text  # what northwind shows
    assert "x-functions-key" not in text


def test_with_keys_the_webhook_is_keyed_and_the_three_printed_curl_lines_move_a_customer_end_to_end(
    services: Services, sandbox: SandboxHandle, azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FUNCTION_KEYS_SETTING, json.dumps({"ops-alice": KEY}))
    with ExitStack() as running:
        run = serve(running, sandbox, azurite, 0)
        text = "\n".join(banner(run))
        commands = [line.strip() for line in text.splitlines() if line.strip().startswith("curl ")]

        assert "keys are checked" in text
        assert "any key" not in text
        assert "ops-alice" in text
        assert KEY not in text
        assert len(commands) == 3
        started = json.loads(shell(commands[0]))
        assert started["customerTenantId"] == sandbox.customer(WALKTHROUGH)
        shell(commands[1])
        until(run, started["id"], "Provisioned")  # the webhook, called with the key, was let in
        shell(commands[2])
        record = until(run, started["id"], "Completed")

    assert all(delivery["delivered"] for delivery in sandbox.webhook_deliveries())
    assert sum(line["licenses"]["moved"] for line in record["lines"]) > 0
