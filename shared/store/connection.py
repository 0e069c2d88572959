"""How the app reaches its queues and tables: a connection string, or service URIs and an identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


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
