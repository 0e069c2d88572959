"""The transfer-events queue on Azure Queue Storage: what the workflow sends itself."""

from __future__ import annotations

import json
from contextlib import suppress
from typing import TYPE_CHECKING

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import LinearRetry, QueueClient, TextBase64EncodePolicy

from shared.domain.events import MalformedEventError, TransferEvent
from shared.store.connection import QUEUE_STORAGE, RETRIES, AttemptBudget, client_options
from shared.store.errors import storage_client

if TYPE_CHECKING:
    from shared.store.connection import StorageConnection


QUEUE_NAME = "transfer-events"


#: Azure Queue Storage refuses a visibility timeout beyond seven days; longer waits are the timer's.
MAX_DELAY_SECONDS = 7 * 24 * 3600 - 60


_MAX_MESSAGE_BYTES = 48 * 1024  # 64 KiB per message, less the base64 growth


@storage_client(QUEUE_STORAGE)
class EventQueue:
    """Sends events to ``transfer-events``; a delay hides the message until the wait is over."""

    def __init__(self, client: QueueClient) -> None:
        self._client = client
        self._ready = False

    @classmethod
    def connect(
        cls, storage: StorageConnection, queue_name: str = QUEUE_NAME, *, budget: AttemptBudget | None = None
    ) -> EventQueue:
        """A queue over a connection string (Azurite, local) or a service URI and managed identity,
        bounded as the table is (:func:`~shared.store.connection.client_options`); with a ``budget``,
        no send outlasts the operation's deadline. Retries come about 2 s apart, not the queue
        SDK's 15 s and more."""
        options = client_options(QUEUE_STORAGE, budget) | {
            "message_encode_policy": TextBase64EncodePolicy(),
            "retry_policy": LinearRetry(backoff=2, random_jitter_range=1, retry_total=RETRIES),
        }
        if storage.connection_string is not None:
            client = QueueClient.from_connection_string(storage.connection_string, queue_name, **options)
        else:
            assert storage.queue_service_uri is not None
            client = QueueClient(
                storage.queue_service_uri, queue_name, credential=storage.identity(), **options
            )
        return cls(client)

    def send(self, event: TransferEvent, *, delay_seconds: float = 0) -> None:
        text = json.dumps(event.to_json(), separators=(",", ":"))
        if len(text.encode()) > _MAX_MESSAGE_BYTES:
            raise MalformedEventError("event too large for a queue message")
        delay = int(min(max(0.0, delay_seconds), MAX_DELAY_SECONDS))
        if not self._ready:
            self.ensure_queue()
        # time_to_live=-1: an event waits as long as it must; it is never silently dropped.
        self._client.send_message(text, visibility_timeout=delay or None, time_to_live=-1)

    def ensure_queue(self) -> None:
        with suppress(ResourceExistsError):
            self._client.create_queue()
        self._ready = True

    def close(self) -> None:
        self._client.close()
