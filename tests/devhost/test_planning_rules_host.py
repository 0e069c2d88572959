"""What the plan checks before money moves, through the local host running function_app.py as Azure
would (HTTP API, queue trigger, timer) on Azurite and the sandbox: the capped line waits for a
decision, and the tenant in another country than the one typed is refused before buying."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from azure.data.tables import TableServiceClient

from devhost.azurite import Azurite
from devhost.host import LocalHostHandle, start_local_host
from devhost.run import local_settings
from sandbox.scenarios import CAPPED_HOLDERS
from sandbox.testing import SandboxHandle
from shared.store.repository import TABLE_NAME

NEVER = "0 0 0 1 1 *"  # the test runs the timer itself


@pytest.fixture
def host(sandbox: SandboxHandle, azurite: Azurite) -> Iterator[LocalHostHandle]:
    TableServiceClient.from_connection_string(azurite.connection_string).delete_table(TABLE_NAME)
    with start_local_host(local_settings(sandbox, azurite) | {"TRANSFER_SCAN_SCHEDULE": NEVER}) as running:
        yield running


def api(host: LocalHostHandle, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{host.url}/api{path}", json=body, timeout=60)


def accepted_and_planned(host: LocalHostHandle, sandbox: SandboxHandle, key: str) -> dict[str, Any]:
    """Started as an admin would (typing US), accepted by the customer, found by the timer."""
    body = {"customerTenantId": sandbox.customer(key), "customerCountry": "US", "sourceChannel": "Direct"}
    started = api(host, "POST", "/transfers", body)
    assert started.status_code == 201, started.text
    sandbox.accept_invitation(sandbox.customer(key))
    ran = requests.post(f"{host.url}/admin/functions/scan_transfers", json={"input": ""}, timeout=30)
    assert ran.status_code == 202
    return wait_for(host, started.json()["id"], lambda r: r["state"] in ("Blocked", "Failed", "Provisioned"))


def wait_for(
    host: LocalHostHandle, transfer_id: str, done: Callable[[dict[str, Any]], bool], timeout_s: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        record: dict[str, Any] = api(host, "GET", f"/transfers/{transfer_id}?historyPageSize=100").json()
        if done(record):
            return record
        assert time.monotonic() < deadline, record["state"]
        time.sleep(0.3)


def test_the_capped_line_waits_for_a_decision_and_the_chosen_option_is_bought_once(
    host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    waiting = accepted_and_planned(host, sandbox, "relecloud")
    [line] = waiting["lines"]
    plan = api(host, "GET", f"/transfers/{waiting['id']}/plan").json()

    assert (waiting["state"], line["state"]) == ("Blocked", "NeedsApproval")
    assert sandbox.purchases() == []
    [planned] = plan["lines"]
    assert planned["reason"] == "over_customer_cap"
    assert [o["choice"] for o in planned["options"]] == ["upToCap", "enterprise"]
    assert len(planned["options"][0]["usersWithoutSeat"]) == CAPPED_HOLDERS - 300
    refused = api(host, "POST", f"/transfers/{waiting['id']}/approve", {"approve": [line["id"]]})
    assert refused.status_code == 400
    assert refused.headers["Content-Type"].startswith("application/problem+json")

    chosen = {"approve": [line["id"]], "choose": {line["id"]: "upToCap"}}
    assert api(host, "POST", f"/transfers/{waiting['id']}/approve", chosen).status_code == 200
    final = wait_for(host, waiting["id"], lambda r: r["state"] in ("Provisioned", "Failed"))

    assert final["state"] == "Provisioned", final["reason"]
    assert len(final["lines"][0]["usersWithoutSeat"]) == CAPPED_HOLDERS - 300
    assert [(x["skuId"], x["quantity"]) for p in sandbox.purchases() for x in p["lines"]] == [
        (sandbox.ids.skus["BUSINESS_PREMIUM"], 300)
    ]


def test_a_tenant_in_another_country_than_typed_is_refused_before_buying(
    host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    refused = accepted_and_planned(host, sandbox, "lamna")

    assert refused["state"] == "Blocked"
    assert "CA" in refused["reason"]
    assert "United States" in refused["reason"]
    assert refused["lines"] == []
    assert sandbox.purchases() == []
