"""The HTTP API as deployed: the local host running function_app.py with a function key, over real
sockets, on Azurite and the sandbox.

schemathesis makes valid and invalid requests from the published OpenAPI description; each answer
must be a documented status with a documented body and content type (problem+json for every
error), and never a 5xx. Hand-picked hostile input follows: calls without the key, ids with
reserved, quote or control characters, OData filter injection in every query parameter, malformed
and oversized bodies. The examples are bounded so the whole file runs in well under a minute.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from devhost.azurite import Azurite
from devhost.host import FUNCTION_KEYS_SETTING, LocalHostHandle, start_local_host
from devhost.run import local_settings
from sandbox.testing import SandboxHandle
from shared.api.openapi import openapi_document
from tests.api.test_openapi import registered_routes

pytestmark = pytest.mark.slow

KEY = "local-function-key"
schema = schemathesis.openapi.from_dict(json.loads(json.dumps(openapi_document())))  # a copy it may change


@pytest.fixture(scope="module")
def deployed(sandbox_server: SandboxHandle, azurite: Azurite) -> Iterator[LocalHostHandle]:
    sandbox_server.reset("default")
    keyed = local_settings(sandbox_server, azurite) | {FUNCTION_KEYS_SETTING: json.dumps({"tests": KEY})}
    with start_local_host(keyed) as host:
        body = {"customerTenantId": sandbox_server.customer("fabrikam"), "customerCountry": "US"}
        started = call(host, "POST", "/api/transfers", json={**body, "sourceChannel": "Direct"})
        assert started.status_code in (201, 409), started.text  # 409: an earlier test's is still active
        yield host


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_answer_is_documented_and_no_request_gets_a_5xx(
    case: schemathesis.Case[Any], deployed: LocalHostHandle
) -> None:
    case.call_and_validate(
        base_url=f"{deployed.url}/api",
        headers={"x-functions-key": KEY},
        timeout=30,
        excluded_checks=[
            # An opaque continuation token fits its schema yet is refused unless this API made it.
            schemathesis.checks.positive_data_acceptance,
            # The Functions host answers a method a route does not take with 404, not 405.
            schemathesis.checks.unsupported_method,
        ],
    )


def call(
    host: LocalHostHandle, method: str, path: str, *, key: str | None = KEY, **kwargs: Any
) -> requests.Response:
    headers = {"x-functions-key": key} if key is not None else {}
    return requests.request(method, f"{host.url}{path}", headers=headers, timeout=30, **kwargs)


def deployed_routes() -> list[tuple[str, str, str]]:
    """(method, URL path, auth level) of every HTTP route, as function_app registers it."""
    sample = "019a7c3e5f2b4c8d9e0f1a2b3c4d5e6f"
    return [
        (m.upper(), "/api" + path.replace("{id}", sample), level) for m, path, level in registered_routes()
    ]


@pytest.mark.parametrize(("method", "route", "level"), deployed_routes())
@pytest.mark.parametrize("key", [None, "", "not-the-key", KEY.upper()])
def test_a_route_called_without_the_right_key_is_refused_unless_anonymous(
    deployed: LocalHostHandle, method: str, route: str, level: str, key: str | None
) -> None:
    answer = call(deployed, method, route, key=key, json={})

    if level == "ANONYMOUS":
        assert answer.status_code == 200
    else:
        assert answer.status_code == 401
        assert answer.content == b""  # nothing of the app ran or answered


@pytest.mark.parametrize(("method", "route", "level"), deployed_routes())
def test_a_route_called_with_the_key_reaches_the_app(
    deployed: LocalHostHandle, method: str, route: str, level: str
) -> None:
    answer = call(deployed, method, route, json={})

    if route.endswith("partner-center"):  # past the key, the app itself refuses an unsigned delivery
        assert assert_refused_as_a_problem(answer, 401)["title"] == "Webhook signature rejected"
    else:
        assert answer.status_code != 401


def test_the_host_admin_api_needs_the_key(deployed: LocalHostHandle) -> None:
    assert call(deployed, "GET", "/admin/functions", key=None).status_code == 401
    assert call(deployed, "GET", "/admin/functions", key="wrong").status_code == 401
    assert call(deployed, "GET", "/admin/functions").status_code == 200


def assert_refused_as_a_problem(answer: requests.Response, *statuses: int) -> dict[str, Any]:
    assert answer.status_code in statuses, (answer.status_code, answer.text[:300])
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    problem: dict[str, Any] = answer.json()
    assert problem["status"] == answer.status_code
    return problem


HOSTILE_IDS = [
    "a/b",
    "a\\b",
    "a#b",
    "a?b",
    'a"b',
    "a'b",
    "a\x00b",
    "a\nb",
    "a\x7fb",
    "..",
    "é" * 40,
    "0" * 5000,
]


@pytest.mark.parametrize("transfer_id", HOSTILE_IDS)
@pytest.mark.parametrize("suffix", ["", "/plan", "/approve", "/retry", "/cancel"])
def test_an_id_with_reserved_quote_or_control_characters_is_refused(
    deployed: LocalHostHandle, transfer_id: str, suffix: str
) -> None:
    method = "GET" if suffix in ("", "/plan") else "POST"

    answer = call(
        deployed,
        method,
        f"/api/transfers/{quote(transfer_id, safe='').replace('.', '%2E')}{suffix}",
        json={"approve": ["x"]},
    )

    if answer.status_code == 404 and not answer.headers.get("Content-Type", "").startswith(
        "application/problem"
    ):
        assert "/" in transfer_id or "\\" in transfer_id  # no route takes it: the host's own 404
    else:
        assert_refused_as_a_problem(answer, 400, 404)


ODATA_INJECTIONS = [
    "Accepted' or PartitionKey ne '",
    "' or 1 eq 1 or '",
    "Completed) or (State ne 'x'",
    "$filter=State ne ''",
    "x%27%20or%20%27a%27%20eq%20%27a",
    "Accepted' and RowKey gt '",
]


@pytest.mark.parametrize("injection", ODATA_INJECTIONS)
@pytest.mark.parametrize(
    ("route", "parameter"),
    [
        ("/api/transfers", "state"),
        ("/api/transfers", "pageSize"),
        ("/api/transfers", "continuationToken"),
        ("/api/transfers/{id}", "historyPageSize"),
        ("/api/transfers/{id}", "historyContinuationToken"),
    ],
)
def test_odata_filter_injection_in_any_query_parameter_is_a_400_naming_it(
    deployed: LocalHostHandle, route: str, parameter: str, injection: str
) -> None:
    [transfer] = call(deployed, "GET", "/api/transfers").json()["items"][:1]

    answer = call(deployed, "GET", route.replace("{id}", transfer["id"]), params={parameter: injection})

    assert assert_refused_as_a_problem(answer, 400)["parameter"] == parameter


MALFORMED = [
    b"{",
    b"[]",
    b"null",
    b'"a string"',
    b"\xff\xfe{}",
    b'{"customerTenantId": NaN}',
    b'{"customerTenantId": "a", "customerTenantId": "b"}',
    b"[" * 60_000,  # deep, yet under the 64 KiB a body may have
    b'{"a": ' * 10_000,
    b"\x00",
]


@pytest.mark.parametrize("body", MALFORMED, ids=lambda b: repr(b[:12]))
@pytest.mark.parametrize("route", ["/api/transfers", "/api/transfers/{id}/approve"])
def test_malformed_json_is_a_400_problem(deployed: LocalHostHandle, route: str, body: bytes) -> None:
    [transfer] = call(deployed, "GET", "/api/transfers").json()["items"][:1]

    answer = call(deployed, "POST", route.replace("{id}", transfer["id"]), data=body)

    assert_refused_as_a_problem(answer, 400)


@pytest.mark.parametrize(
    ("route", "statuses"),
    [
        ("/api/transfers", (400, 413)),
        ("/api/transfers/{id}/approve", (400, 413)),
        ("/api/webhooks/partner-center", (413,)),
    ],
)
def test_an_oversized_body_is_refused_as_a_problem(
    deployed: LocalHostHandle, route: str, statuses: tuple[int, ...]
) -> None:
    [transfer] = call(deployed, "GET", "/api/transfers").json()["items"][:1]
    body = json.dumps({"customerTenantId": "x" * (4 << 20), "approve": ["y" * (4 << 20)]}).encode()

    answer = call(deployed, "POST", route.replace("{id}", transfer["id"]), data=body)

    assert_refused_as_a_problem(answer, *statuses)


@pytest.mark.parametrize("value", [[], 1, True, {"Direct": 1}])
@pytest.mark.parametrize(
    "field", ["customerTenantId", "customerCountry", "sourceChannel", "contactEmail", "options"]
)
def test_a_start_field_of_another_json_type_is_a_400_naming_it(
    deployed: LocalHostHandle, sandbox_server: SandboxHandle, field: str, value: object
) -> None:
    """A non-string sourceChannel was a 500 (an unhashable value tested against a set)."""
    valid = {
        "customerTenantId": sandbox_server.customer("contoso"),
        "customerCountry": "US",
        "sourceChannel": "Direct",
    }

    answer = call(deployed, "POST", "/api/transfers", json={**valid, field: value})

    problem = assert_refused_as_a_problem(answer, 400)
    assert [e["field"] for e in problem["errors"]] == [field]
