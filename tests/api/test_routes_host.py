"""The admin API through the local host, as the Functions host routes it: a path no route has and
a method a route does not take answer problems too, and the list is one request, JSON or CSV."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from devhost.azurite import Azurite
from devhost.host import LocalHostHandle, start_local_host
from devhost.run import local_settings
from sandbox.testing import SandboxHandle
from shared.bootstrap import Services

SOME_ID = "019a7c3e5f2b4c8d9e0f1a2b3c4d5e6f"


@pytest.fixture
def host(services: Services, sandbox: SandboxHandle, azurite: Azurite) -> Iterator[LocalHostHandle]:
    with start_local_host(local_settings(sandbox, azurite)) as running:
        yield running


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/api/nope", 404, None),
        ("POST", f"/api/transfers/{SOME_ID}/unknown", 404, None),
        ("GET", f"/api/transfers/{SOME_ID}/plan/extra", 404, None),
        ("DELETE", f"/api/transfers/{SOME_ID}", 405, "GET"),
        ("GET", f"/api/transfers/{SOME_ID}/approve", 405, "POST"),
        ("PUT", "/api/transfers", 405, "GET, POST"),
        ("PATCH", "/api/tenants", 405, "GET"),
    ],
)
def test_an_unknown_route_or_method_is_a_problem_too(
    host: LocalHostHandle, method: str, path: str, status: int, allow: str | None
) -> None:
    answer = requests.request(method, f"{host.url}{path}", timeout=30)

    assert answer.status_code == status
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.json()["status"] == status
    assert answer.headers.get("Allow") == allow


def test_the_list_is_one_request_in_json_or_csv_and_finds_a_customer_by_name(
    host: LocalHostHandle, sandbox: SandboxHandle
) -> None:
    for name in ("contoso", "tailspin"):
        body = {
            "customerTenantId": sandbox.customer(name),
            "customerCountry": "US",
            "sourceChannel": "Direct",
        }
        assert requests.post(f"{host.url}/api/transfers", json=body, timeout=60).status_code == 201

    page = requests.get(f"{host.url}/api/transfers", params={"q": "contoso"}, timeout=30)
    exported = requests.get(f"{host.url}/api/transfers", params={"format": "csv"}, timeout=30)
    tenant = requests.get(
        f"{host.url}/api/tenants", params={"tenantId": sandbox.customer("tailspin")}, timeout=30
    )

    assert [x["customerName"] for x in page.json()["items"]] == ["Contoso Sandbox Ltd"]
    assert page.json()["counts"]["AwaitingAcceptance"] == 2
    assert exported.headers["Content-Type"].startswith("text/csv")
    assert exported.text.splitlines()[0].startswith("id,customerName,customerDomain")
    assert len(exported.text.splitlines()) == 3
    assert tenant.json()["activeTransferId"] is not None
