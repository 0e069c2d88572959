"""The store's one family of errors, and what a refused transaction means."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ClassVar, TypeVar

from azure.core.exceptions import AzureError, HttpResponseError

from shared.domain.errors import ErrorKind

C = TypeVar("C", bound=type)


class StoreError(Exception):
    """Base of the store's own errors."""


class StorageLimitError(StoreError, ValueError):
    """The request would break an Azure Table Storage limit (or storage said it did).

    ``from_input`` is true when the offending value came from the caller (a key to look up), so
    the answer is a 400; otherwise the app itself built something too large.
    """

    kind: ClassVar[ErrorKind] = ErrorKind.STORAGE_LIMIT

    def __init__(self, message: str, *, from_input: bool = False) -> None:
        super().__init__(message)
        self.from_input = from_input


class TransferNotFoundError(StoreError, LookupError):
    kind: ClassVar[ErrorKind] = ErrorKind.NOT_FOUND

    def __init__(self, transfer_id: str) -> None:
        super().__init__(f"no transfer with id {transfer_id!r}")
        self.transfer_id = transfer_id


class ConcurrencyError(StoreError):
    """Someone else changed the transfer since it was read; re-read and re-apply."""

    kind: ClassVar[ErrorKind] = ErrorKind.BUSY


class ActiveTransferExistsError(StoreError):
    kind: ClassVar[ErrorKind] = ErrorKind.ALREADY_ACTIVE

    def __init__(self, customer_tenant_id: str, transfer_id: str) -> None:
        super().__init__(f"customer {customer_tenant_id} already has an active transfer {transfer_id}")
        self.customer_tenant_id = customer_tenant_id
        self.transfer_id = transfer_id


class StorageUnavailableError(StoreError):
    """Table or Queue Storage did not answer, or failed for a reason that is not the request's (a
    timeout, a dropped connection, a 5xx, an identity it refused): try again later.

    ``service`` names which of the two, so an answer never blames the one that was fine.
    """

    kind: ClassVar[ErrorKind] = ErrorKind.STORAGE_UNAVAILABLE

    def __init__(self, service: str, error: AzureError) -> None:
        status = getattr(error, "status_code", None)
        code = getattr(error, "error_code", None)
        answered = f", HTTP {status} {code or ''}".rstrip() if status else ""
        # The SDK's own message may quote the request's URL (a SAS token in its query): left out.
        super().__init__(f"{service} failed: {type(error).__name__}{answered}")
        self.service = service


def storage_client(service: str) -> Callable[[C], C]:
    """A storage client's class decorator: an Azure SDK failure in any of its public methods becomes
    a :class:`StorageUnavailableError` naming ``service``; the store's own errors (a conflict, a
    limit, a missing transfer) pass as they are. Per class, so a method added later is covered."""

    def wrap(cls: C) -> C:
        for name, member in list(vars(cls).items()):
            if inspect.isfunction(member) and not name.startswith("_"):
                setattr(cls, name, _unavailable_as(service)(member))
        return cls

    return wrap


@contextmanager
def _unavailable_as(service: str) -> Iterator[None]:
    try:
        yield
    except AzureError as error:
        raise StorageUnavailableError(service, error) from error


class InvalidContinuationTokenError(StoreError, ValueError):
    """A continuation token that this store did not hand out for this listing."""

    kind: ClassVar[ErrorKind] = ErrorKind.INVALID_INPUT
    title = "Invalid filter"

    def __init__(self, scope: str = "") -> None:
        super().__init__("the continuation token is not one this API handed out for this listing")
        self.scope = scope  # the listing it was offered to: "history:<id>", "transfers:<state>"...

    @property
    def parameter(self) -> str:
        """The query parameter the token came in: a history page's, or a listing's."""
        return "historyContinuationToken" if self.scope.startswith("history") else "continuationToken"


def transaction_error(error: HttpResponseError) -> Exception:
    """What a refused transaction means here: a conflict to re-read and retry, a limit storage
    enforces that the checks missed (never raw), or the storage error itself (a 503 upstream)."""
    code = getattr(error, "error_code", None)
    if error.status_code in (409, 412) or code in ("UpdateConditionNotSatisfied", "EntityAlreadyExists"):
        return ConcurrencyError(f"transfer changed concurrently ({code})")
    if error.status_code in (400, 413):
        return StorageLimitError(f"Table Storage refused the transaction ({code or error.status_code})")
    return error
