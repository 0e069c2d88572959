"""Clients wired to the sandbox exactly as production wires them, with short backoffs to keep tests fast."""

import time
from typing import Any

import pytest

from sandbox.testing import SandboxHandle
from shared.auth import PartnerCredential
from shared.graph import GraphClient
from shared.partner_center import PartnerCenterClient
from shared.transport import ThrottleRetryPolicy


class RecordedSleep:
    """Really sleeps (the sandbox's limits are real time) and remembers each wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def sleeps():
    return RecordedSleep()


@pytest.fixture
def retry(sleeps):
    return ThrottleRetryPolicy(backoff_base=0.02, backoff_max=0.1, max_sleep=2.0, sleep=sleeps)


def make_credential(sandbox: SandboxHandle, **kwargs: Any) -> PartnerCredential:
    return PartnerCredential(
        tenant_id=sandbox.partner_tenant_id,
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        refresh_token=sandbox.refresh_token,
        authority_host=sandbox.authority_host,
        verify=sandbox.ca_bundle,
        **kwargs,
    )


@pytest.fixture
def credential(sandbox):
    return make_credential(sandbox)


@pytest.fixture
def partner_center(sandbox, credential, retry):
    with PartnerCenterClient(
        sandbox.partner_center_endpoint, credential, verify=sandbox.ca_bundle, retry=retry
    ) as client:
        yield client


@pytest.fixture
def graph(sandbox, credential, retry):
    with GraphClient(sandbox.graph_endpoint, credential, verify=sandbox.ca_bundle, retry=retry) as client:
        yield client


def api_calls(
    sandbox: SandboxHandle, service: str, path_end: str, method: str | None = None
) -> list[dict[str, Any]]:
    """The sandbox's record of calls to one operation (token requests and other operations left out)."""
    return [
        r
        for r in sandbox.requests()
        if r["service"] == service
        and r["path"].endswith(path_end)
        and (method is None or r["method"] == method)
    ]


def settle(sandbox: SandboxHandle, timeout: float = 10.0) -> None:
    """Wait until every request the sandbox is still delaying has been recorded, so an abandoned
    attempt cannot land in the next test's ledger."""
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        fired = sum(f["fired"] for f in sandbox.faults() if f["kind"] == "delay")
        if len([r for r in sandbox.requests() if r["service"] != "control"]) >= fired:
            recorded = len(sandbox.requests())
            time.sleep(0.2)
            if len(sandbox.requests()) == recorded:
                return
        time.sleep(0.1)
