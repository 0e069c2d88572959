"""schemathesis over the published OpenAPI description, against the product as deployed: the local
host running function_app.py over HTTP, on Azurite and the sandbox.

Every operation gets valid and invalid requests made from its schema; each answer must be a
documented status with a documented body and content type (problem+json for every error), and
never a 5xx. The examples are bounded so the whole file runs in well under a minute.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from devhost.azurite import Azurite
from devhost.host import LocalHostHandle, start_local_host
from devhost.run import local_settings
from sandbox.testing import SandboxHandle
from shared.openapi import openapi_document

KEY = "local-function-key"
schema = schemathesis.openapi.from_dict(json.loads(json.dumps(openapi_document())))  # a copy it may change


@pytest.fixture(scope="module")
def deployed(sandbox_server: SandboxHandle, azurite: Azurite) -> Iterator[LocalHostHandle]:
    sandbox_server.reset("default")
    with start_local_host(local_settings(sandbox_server, azurite), function_key=KEY) as host:
        body = {"customerTenantId": sandbox_server.customer("fabrikam"), "customerCountry": "US"}
        requests.post(
            f"{host.url}/api/transfers",
            json={**body, "sourceChannel": "Direct"},
            headers={"x-functions-key": KEY},
            timeout=30,
        )
        yield host


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_answer_is_documented_and_no_request_gets_a_5xx(
    case: schemathesis.Case, deployed: LocalHostHandle
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
