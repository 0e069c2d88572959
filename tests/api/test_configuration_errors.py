"""Malformed settings as a route meets them: a 503 "Configuration error" naming the setting, never
a 500, and never the value (nor, in the log, a password or key the value holds)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from devhost.azurite import Azurite
from sandbox.catalog import reference_csv_path
from sandbox.testing import SandboxHandle
from shared.api.problems import ApiResponse, answer
from shared.bootstrap import Services
from shared.settings import Settings
from tests.api.test_openapi import assert_documented
from tests.api.test_plan_route import start

START = json.dumps(
    {
        "customerTenantId": "4b2a6e33-8791-4386-bd2b-0d55baf25039",
        "customerCountry": "US",
        "sourceChannel": "Direct",
    }
)


def app(sandbox: SandboxHandle, azurite: Azurite, **settings: str) -> Services:
    """The app on Azurite and the sandbox, with ``settings`` in place of the working ones."""
    working = {
        **sandbox.env(),
        "AzureWebJobsStorage": azurite.connection_string,
        "SKU_REFERENCE_URL": str(reference_csv_path()),
    }
    return Services(Settings({**working, **settings}), verify=sandbox.ca_bundle)


def assert_names(response: ApiResponse, setting: str) -> None:
    assert response.status == 503, response.body
    assert response.body["title"] == "Configuration error"
    assert response.body["setting"] == setting
    assert setting in response.body["detail"]


@pytest.mark.parametrize(
    "content",
    [b"", b"not a certificate", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"],
    ids=["empty", "not-pem", "no-certificate"],
)
def test_webhook_trust_roots_that_are_no_pem_bundle_are_named(
    sandbox: SandboxHandle, azurite: Azurite, tmp_path: Path, content: bytes
) -> None:
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(content)
    services = app(sandbox, azurite, WEBHOOK_TRUST_ROOTS=str(bundle))

    response = answer(lambda: services.admin.receive_webhook({}, b"{}"))

    assert_names(response, "WEBHOOK_TRUST_ROOTS")


@pytest.mark.parametrize("where", ["missing", "a-folder"])
def test_a_sku_reference_file_that_cannot_be_read_is_named(
    connected_app: object, sandbox: SandboxHandle, azurite: Azurite, tmp_path: Path, where: str
) -> None:
    (tmp_path / "a-folder").mkdir()
    services = app(sandbox, azurite, SKU_REFERENCE_URL=str(tmp_path / where))
    transfer_id = start(services.store, sandbox.customer("contoso"), accepted=True)

    response = answer(lambda: services.admin.plan_transfer(transfer_id))

    assert_names(response, "SKU_REFERENCE_URL")
    assert_documented("get", "/transfers/{id}/plan", response)


def test_a_storage_connection_string_without_its_key_is_named(
    sandbox: SandboxHandle, azurite: Azurite
) -> None:
    services = app(sandbox, azurite, AzureWebJobsStorage="AccountName=acct")

    response = answer(lambda: services.admin.list_transfers({}))

    assert_names(response, "AzureWebJobsStorage")


def test_an_endpoint_with_a_password_in_it_is_named_without_logging_the_password(
    sandbox: SandboxHandle, azurite: Azurite, caplog: pytest.LogCaptureFixture
) -> None:
    services = app(sandbox, azurite, PARTNER_CENTER_ENDPOINT="http://ops:hunter2@pc.example/?code=s3cret")

    with caplog.at_level(logging.ERROR):
        response = answer(lambda: services.admin.start_transfer(START.encode()))

    assert_names(response, "PARTNER_CENTER_ENDPOINT")
    assert "PARTNER_CENTER_ENDPOINT" in caplog.text
    for secret in ("hunter2", "s3cret"):
        assert secret not in caplog.text
        assert secret not in response.encoded().decode()


@pytest.mark.parametrize("value", ["garbage", "InstrumentationKey=not-a-guid;IngestionEndpoint=https://x"])
def test_an_application_insights_connection_string_without_its_key_is_named(
    sandbox: SandboxHandle, azurite: Azurite, value: str
) -> None:
    response = answer(
        lambda: app(sandbox, azurite, APPLICATIONINSIGHTS_CONNECTION_STRING=value).admin.list_transfers({})
    )

    assert_names(response, "APPLICATIONINSIGHTS_CONNECTION_STRING")
