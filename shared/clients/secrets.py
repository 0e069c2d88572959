"""Writing the partner admin's rotated refresh token back to its Key Vault secret.

Entra hands out a new refresh token with every redemption. The app keeps the newest in memory
(:class:`~shared.clients.auth.PartnerCredential`); saving it as a new version of the secret that
``PARTNER_REFRESH_TOKEN`` references means a restarted app, or one that runs longer than a
token's lifetime, starts from a live token without a partner admin consenting again.

A write that fails is retried on the transport's schedule, then logged as an error naming the secret
and the vault's answer (never the token); the app keeps working on the token it holds, and the next
rotation writes again.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.core.pipeline.transport import RequestsTransport
from azure.keyvault.secrets import KeyVaultSecretIdentifier, SecretClient

from shared.clients.calls import deadline
from shared.clients.errors import DeadlineExceededError, ServiceError
from shared.clients.http import is_loopback, make_session, parse_retry_after, resolve_verify
from shared.clients.pipeline import ThrottleRetryPolicy

LOG = logging.getLogger(__name__)
KEY_VAULT = "Key Vault"


class RotationFailedError(ServiceError):
    """The rotated refresh token could not be saved; the app still holds it in memory."""

    service = KEY_VAULT


class RefreshTokenStore(Protocol):
    """Where the newest refresh token is kept across restarts."""

    def save(self, token: str) -> None:
        """Store ``token`` as the current one; raises :class:`RotationFailedError`."""
        ...

    def close(self) -> None: ...


class KeyVaultRefreshTokenStore:
    """Saves the token as a new version of one secret, named by its versionless URI.

    The app's identity holds Key Vault Secrets Officer on that secret alone (infra/app/secrets.bicep).
    The SDK's own retries are off: the transport's policy decides, as for every other call.
    """

    def __init__(
        self,
        secret_uri: str,
        credential: TokenCredential,
        *,
        verify: bool | str | None = None,
        retry: ThrottleRetryPolicy | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        write_timeout: float = 30.0,
    ) -> None:
        secret = KeyVaultSecretIdentifier(secret_uri)
        self.name = secret.name
        resolved = resolve_verify(verify)
        self._retry = retry or ThrottleRetryPolicy()
        self._write_timeout = write_timeout
        self._client = SecretClient(
            secret.vault_url,
            credential,
            transport=RequestsTransport(
                session=make_session(resolved, pool_size=2),
                session_owner=False,
                connection_timeout=connect_timeout,
                read_timeout=read_timeout,
                connection_verify=resolved,
            ),
            retry_total=0,
            # The challenge's resource must match the vault's domain (*.vault.azure.net), so a token
            # is never sent elsewhere; a vault on loopback is the local sandbox.
            verify_challenge_resource=not is_loopback(urlsplit(secret.vault_url).hostname),
        )

    def save(self, token: str) -> None:
        """The write runs on a caller's invocation, so no retry starts past ``write_timeout``."""
        with deadline(self._write_timeout):
            self._save(token)

    def _save(self, token: str) -> None:
        attempt = 1
        while True:
            try:
                self._client.set_secret(self.name, token, content_type="refresh-token")
                return
            except (ServiceRequestError, ServiceResponseError) as error:
                # A lost answer may mean the version was written: writing it again is harmless.
                failed = RotationFailedError(
                    f"secret {self.name}: no answer from the vault ({type(error).__name__})", retryable=True
                )
            except HttpResponseError as error:
                # No retry on 401/403/404: a missing role or secret needs a person, not another try.
                code = error.error.code if error.error is not None else None
                failed = RotationFailedError(
                    f"secret {self.name}: the vault answered HTTP {error.status_code} ({code or 'no code'})",
                    status=error.status_code,
                    code=code,
                )
                failed.retry_after = _retry_after(error)
            if not failed.retryable:
                raise failed
            try:
                failure = f"{failed.message} on attempt {attempt}"
                again = self._retry.retry_wait(
                    attempt, failed.retry_after, failure=failure, service=KEY_VAULT
                )
            except DeadlineExceededError as error:
                raise failed from error
            if not again:
                raise failed
            attempt += 1

    def close(self) -> None:
        self._client.close()


def _retry_after(error: HttpResponseError) -> float | None:
    response: Any = error.response
    return None if response is None else parse_retry_after(response.headers.get("Retry-After"))


class RefreshTokenRotation:
    """The credential's rotation hook: saves each new refresh token, one write at a time, newest only.

    A token that rotates while a write is under way waits in a single slot; a newer one replaces
    it, so a burst of rotations ends with the newest saved and no older one written after it. The
    write happens on the thread that delivered the first token of the burst (the function's own
    invocation, which the platform keeps alive), never under the credential's tenant lock.
    Nothing raises back into the token acquisition that triggered it.
    """

    def __init__(self, store: RefreshTokenStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._pending: str | None = None
        self._writing = False

    def __call__(self, token: str) -> None:
        with self._lock:
            self._pending = token
            if self._writing:
                return
            self._writing = True
        self._drain()

    def close(self) -> None:
        self._store.close()

    def _drain(self) -> None:
        while True:
            with self._lock:
                token, self._pending = self._pending, None
                if token is None:
                    self._writing = False
                    return
            try:
                self._store.save(token)
            except Exception as error:  # the hook must never fail a token acquisition
                self._failed(error)
            else:
                LOG.info("refresh token saved to Key Vault", extra={"rotation": "saved"})

    def _failed(self, error: Exception) -> None:
        """Logged as an error that names the secret and the status, never the token."""
        message = str(error) if isinstance(error, ServiceError) else type(error).__name__
        LOG.error(
            "the rotated refresh token could not be saved to Key Vault; the app keeps it in memory "
            "and the next rotation tries again: %s",
            message,
            extra={"rotation": "failed"},
        )
