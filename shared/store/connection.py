"""How the app reaches its queues and tables: a connection string, or service URIs and an identity,
and the bounds every storage client keeps to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from azure.core.pipeline.transport import RequestsTransport

from shared.proxies import ENVIRONMENT_PROXIES

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.data.tables import TableClient

TABLE_STORAGE = "Table Storage"
QUEUE_STORAGE = "Queue Storage"

#: Per storage call, for the table and the queue client alike: at most 3 retries, 5 s to connect and
#: 20 s to read each attempt. The SDKs' defaults (the queue's: 60 s reads, 15 s and more between
#: attempts; the table's: 10 retries backing off up to 120 s) held a route for minutes.
RETRIES = 3
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0


class AttemptBudget(Protocol):
    """The connect and read timeouts one attempt may take, capped to what is left of the operation's
    deadline; raises (a retry-later naming ``service``) once nothing is left. The composition root
    lends :func:`shared.clients.calls.call_timeouts`, so storage keeps the deadline the routes and
    the steps keep with Microsoft."""

    def __call__(self, connect: float, read: float, *, what: str, service: str) -> tuple[float, float]: ...


def client_options(service: str, budget: AttemptBudget | None) -> dict[str, Any]:
    """The options every storage client is built with: the bounds above, and with a ``budget``, a
    transport that ends each attempt and each wait between attempts by the operation's deadline."""
    bounds = {"connection_timeout": CONNECT_TIMEOUT, "read_timeout": READ_TIMEOUT}
    if budget is None:
        return {"retry_total": RETRIES, **bounds}
    return {"retry_total": RETRIES, "transport": _BudgetedTransport(service, budget, **bounds)}


# azure.core exports RequestsTransport through a lazy __getattr__, so mypy sees it as Any.
class _BudgetedTransport(RequestsTransport):  # type: ignore[misc]
    """The SDKs' transport, kept to the operation's deadline: an attempt's connect and read timeouts
    shrink to the time left, and neither an attempt nor the retry policy's wait before one starts
    once none is (the budget raises a retry-later naming the service)."""

    def __init__(self, service: str, budget: AttemptBudget, **bounds: float) -> None:
        super().__init__(use_env_settings=False, **bounds)  # proxies come once per host, below
        self._service = service
        self._budget = budget

    def send(self, request: Any, **kwargs: Any) -> Any:
        if not kwargs.get("proxies"):
            kwargs["proxies"] = ENVIRONMENT_PROXIES.for_url(request.url)
        what = f"{self._service} {request.method}"
        kwargs["connection_timeout"], kwargs["read_timeout"] = self._budget(
            CONNECT_TIMEOUT, READ_TIMEOUT, what=what, service=self._service
        )
        return super().send(request, **kwargs)

    def sleep(self, duration: float) -> None:
        wait, _ = self._budget(duration, duration, what=f"{self._service} retry", service=self._service)
        super().sleep(wait)


@dataclass(frozen=True)
class StorageConnection:
    """How to reach queues and tables: a connection string, or service URIs and an identity.

    The identity-based form follows the Functions convention (``AzureWebJobsStorage__*``) so the
    host's own queue trigger and our table client share one setting.
    """

    connection_string: str | None = field(default=None, repr=False)  # holds the account key
    table_service_uri: str | None = None
    queue_service_uri: str | None = None
    credential: Literal["managedidentity", "default"] = "default"
    client_id: str | None = None

    def identity(self) -> TokenCredential:
        """The app's own identity: it reaches storage when there is no connection string (Azure,
        RBAC), and Key Vault, which has no connection string at all."""
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        if self.credential == "managedidentity":
            return ManagedIdentityCredential(client_id=self.client_id)
        return DefaultAzureCredential(managed_identity_client_id=self.client_id)

    def table(self, name: str, **options: Any) -> TableClient:
        """A client of table ``name``, over the connection string or the service URI and identity,
        sending its transactions without the SDK's multipart machinery (:mod:`.transactions`)."""
        from shared.store.transactions import TransactionTableClient

        if self.connection_string is not None:
            return TransactionTableClient.from_connection_string(self.connection_string, name, **options)
        assert self.table_service_uri is not None
        return TransactionTableClient(
            endpoint=self.table_service_uri, table_name=name, credential=self.identity(), **options
        )
