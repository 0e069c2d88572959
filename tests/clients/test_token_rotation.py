"""Refresh-token rotation: each token Entra rotates is written back to the Key Vault secret, newest
only, retried and reported when the vault fails; the sandbox serves Entra and the vault over HTTPS."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from azure.identity import ClientSecretCredential

from sandbox.testing import SandboxHandle
from shared.bootstrap import Services
from shared.clients.auth import GRAPH_SCOPE, PARTNER_CENTER_SCOPE, Flow, PartnerCredential
from shared.clients.pipeline import ThrottleRetryPolicy
from shared.clients.secrets import KeyVaultRefreshTokenStore, RefreshTokenRotation, RefreshTokenStore
from shared.settings import Settings
from tests.fixtures.clients import api_calls, make_credential

pytestmark = pytest.mark.scenario("default", access="granted")  # not about access: it is pre-granted

SECRET = "partner-refresh-token"
USER_READ_SCOPE = "https://graph.microsoft.com/User.Read"


def secret_uri(sandbox: SandboxHandle) -> str:
    return f"{sandbox.base_url}/secrets/{SECRET}"


def vault_identity(sandbox: SandboxHandle) -> ClientSecretCredential:
    """The managed identity's stand-in: app-only tokens for the vault from the sandbox's Entra,
    fetched after the vault's challenge names the authority and the resource."""
    return ClientSecretCredential(
        sandbox.partner_tenant_id,
        sandbox.client_id,
        sandbox.client_secret,
        authority=sandbox.authority_host,
        disable_instance_discovery=True,
        connection_verify=sandbox.ca_bundle,
    )


def rotating_credential(
    sandbox: SandboxHandle, retry: ThrottleRetryPolicy, store: RefreshTokenStore | None = None
) -> tuple[PartnerCredential, list[str]]:
    """A credential whose rotated tokens go to the sandbox vault; the list records each one handed on."""
    store = store or KeyVaultRefreshTokenStore(
        secret_uri(sandbox), vault_identity(sandbox), verify=sandbox.ca_bundle, retry=retry
    )
    rotation = RefreshTokenRotation(store)
    handed: list[str] = []

    def hand_on(token: str) -> None:
        handed.append(token)
        rotation(token)

    return make_credential(sandbox, retry=retry, on_refresh_token=hand_on), handed


def vault_writes(sandbox: SandboxHandle, status: int) -> list[dict[str, Any]]:
    return [r for r in api_calls(sandbox, "keyvault", f"/secrets/{SECRET}", "PUT") if r["status"] == status]


def rotation_logs(caplog: pytest.LogCaptureFixture, outcome: str) -> list[str]:
    """What an operator sees of each save: one record per outcome ("saved" or "failed")."""
    return [r.getMessage() for r in caplog.records if getattr(r, "rotation", None) == outcome]


def test_a_rotated_refresh_token_is_saved_to_the_vault_as_a_new_version(sandbox, caplog):
    env = {**sandbox.env(), "PARTNER_REFRESH_TOKEN_SECRET_URI": secret_uri(sandbox)}
    services = Services(Settings(env), verify=sandbox.ca_bundle, vault_credential=vault_identity(sandbox))
    try:
        with caplog.at_level(logging.INFO, logger="shared.clients.secrets"):
            services.credential.get_token(PARTNER_CENTER_SCOPE)
            services.credential.get_token(GRAPH_SCOPE)
            services.credential.get_token(PARTNER_CENTER_SCOPE, flow=Flow.APP_ONLY)  # rotates nothing

        saved = sandbox.vault_values(SECRET)
        assert services.token_rotation is not None
    finally:
        services.close()

    assert len(saved) == 2
    assert sandbox.refresh_token not in saved
    assert saved[0] != saved[1]
    assert (len(rotation_logs(caplog, "saved")), rotation_logs(caplog, "failed")) == (2, [])
    # The saved token is a live one: an app restarted on it gets tokens.
    env = {**sandbox.env(), "PARTNER_REFRESH_TOKEN": saved[-1]}
    restarted = Services(Settings(env), verify=sandbox.ca_bundle)
    try:
        restarted.credential.get_token(PARTNER_CENTER_SCOPE)
    finally:
        restarted.close()


def test_without_a_secret_uri_rotation_stays_in_memory(sandbox):
    services = Services(Settings(sandbox.env()), verify=sandbox.ca_bundle)
    try:
        services.credential.get_token(PARTNER_CENTER_SCOPE)
        assert services.token_rotation is None
    finally:
        services.close()
    assert api_calls(sandbox, "keyvault", "") == []


def test_a_customer_tenant_rotation_does_not_replace_the_partner_token(sandbox, retry):
    credential, handed = rotating_credential(sandbox, retry)

    credential.get_token(GRAPH_SCOPE, tenant_id=sandbox.customer("contoso"))

    assert handed == []
    assert sandbox.vault_values(SECRET) == []


def test_a_failing_vault_is_retried_then_reported_and_the_app_keeps_its_token(sandbox, retry, caplog):
    credential, handed = rotating_credential(sandbox, retry)
    sandbox.add_fault("status", service="keyvault", method="PUT", status=503, times=-1)

    with caplog.at_level(logging.DEBUG):
        credential.get_token(PARTNER_CENTER_SCOPE)

    assert len(vault_writes(sandbox, 503)) == retry.max_attempts
    assert sandbox.vault_values(SECRET) == []
    [failure] = rotation_logs(caplog, "failed")
    assert "503" in failure
    assert SECRET in failure
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name == "shared.clients.secrets"]
    assert len(errors) == 1
    assert handed[0] not in caplog.text
    assert sandbox.refresh_token not in caplog.text

    # The app carries on with the rotated token it holds; the next rotation is saved.
    sandbox.clear_faults()
    with caplog.at_level(logging.INFO, logger="shared.clients.secrets"):
        credential.get_token(GRAPH_SCOPE)

    assert sandbox.vault_values(SECRET) == [handed[-1]]
    assert len(rotation_logs(caplog, "saved")) == 1


def test_a_vault_that_refuses_the_write_is_reported_without_retrying(sandbox, retry, caplog):
    credential, _ = rotating_credential(sandbox, retry)
    sandbox.add_fault("status", service="keyvault", method="PUT", status=403, times=-1)

    with caplog.at_level(logging.ERROR, logger="shared.clients.secrets"):
        credential.get_token(PARTNER_CENTER_SCOPE)

    assert len(vault_writes(sandbox, 403)) == 1  # a missing role needs a person, not another try
    [failure] = rotation_logs(caplog, "failed")
    assert "403" in failure


def test_concurrent_rotations_save_only_the_newest(sandbox, retry):
    credential, handed = rotating_credential(sandbox, retry)
    sandbox.add_fault("delay", service="keyvault", method="PUT", delay_s=1.5)  # the first write is slow
    first = threading.Thread(target=credential.get_token, args=(PARTNER_CENTER_SCOPE,))
    first.start()
    deadline = time.monotonic() + 5
    while not handed and time.monotonic() < deadline:
        time.sleep(0.02)

    started = time.monotonic()
    credential.get_token(GRAPH_SCOPE)
    credential.get_token(USER_READ_SCOPE)
    waited = time.monotonic() - started
    first.join()

    assert len(handed) == 3
    assert waited < 1.0  # later rotations leave their token in the slot; they do not wait for the write
    assert sandbox.vault_values(SECRET) == [handed[0], handed[-1]]


class _Unreachable:
    """A store whose every write fails with something other than a vault answer."""

    def save(self, token: str) -> None:
        raise ConnectionAbortedError(token)

    def close(self) -> None:
        return


def test_an_unexpected_store_failure_never_fails_the_token_request(sandbox, retry, caplog):
    credential, handed = rotating_credential(sandbox, retry, store=_Unreachable())

    with caplog.at_level(logging.ERROR, logger="shared.clients.secrets"):
        credential.get_token(PARTNER_CENTER_SCOPE)

    [failure] = rotation_logs(caplog, "failed")
    assert failure.endswith(": ConnectionAbortedError")  # the kind of failure, never its text (the token)
    assert handed[0] not in caplog.text


@pytest.fixture(autouse=True)
def _no_leftover_delays(sandbox):
    yield
    sandbox.clear_faults()
