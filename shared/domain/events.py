"""What the workflow reacts to, as messages on the ``transfer-events`` queue.

Messages are JSON. Delivery is at least once, so every event carries an id and every handler is
idempotent. Besides the two events of the design (``invitation-accepted``,
``subscription-expiring``) there is ``transfer-continue``: the workflow's own wake-up after a wait,
an approval or a retry, so that waiting never sleeps inside a function; and
``partner-transfer-changed``: a partner-to-partner transfer request may have moved (its webhook,
or the timer's poll); ``access-changed``: the GDAP relationship or its access assignment may have
moved (a ``granular-admin-*`` webhook, or the timer's poll).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shared.domain import is_transfer_id


class EventType(StrEnum):
    INVITATION_ACCEPTED = "invitation-accepted"
    SUBSCRIPTION_EXPIRING = "subscription-expiring"
    CONTINUE = "transfer-continue"
    PARTNER_TRANSFER_CHANGED = "partner-transfer-changed"  # a transfer webhook or the timer: read it
    ACCESS_CHANGED = "access-changed"  # a GDAP webhook or the timer: read the relationship


class MalformedEventError(ValueError):
    """A queue message that is not a transfer event; it cannot be acted on, only reported."""


@dataclass(frozen=True, slots=True)
class TransferEvent:
    type: EventType
    transfer_id: str
    customer_tenant_id: str
    source: str  # webhook, timer, admin, workflow
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    attempt: int = 0  # how many times the workflow has already put this event back to wait

    def again(self) -> TransferEvent:
        """The same event, put back after a wait: a fresh id, one more attempt."""
        return replace(self, event_id=uuid.uuid4().hex, at=datetime.now(UTC), attempt=self.attempt + 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "transferId": self.transfer_id,
            "customerTenantId": self.customer_tenant_id,
            "source": self.source,
            "eventId": self.event_id,
            "at": self.at.isoformat(),
            "attempt": self.attempt,
        }

    @classmethod
    def parse(cls, body: bytes | str) -> TransferEvent:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise MalformedEventError("the message is not JSON") from None
        if not isinstance(data, Mapping):
            raise MalformedEventError("the message is not a JSON object")
        try:
            kind = EventType(str(data.get("type")))
        except ValueError:
            raise MalformedEventError(f"unknown event type {str(data.get('type'))[:60]!r}") from None
        transfer_id = data.get("transferId")
        if not isinstance(transfer_id, str) or not is_transfer_id(transfer_id):
            raise MalformedEventError("transferId is missing or not a transfer id")
        texts = {name: data.get(name) for name in ("customerTenantId", "source", "eventId", "at")}
        if not all(isinstance(v, str) and 0 < len(v) <= 200 for v in texts.values()):
            raise MalformedEventError("customerTenantId, source, eventId and at must be short strings")
        attempt = data.get("attempt", 0)
        if not isinstance(attempt, int) or isinstance(attempt, bool) or not 0 <= attempt <= 10_000:
            raise MalformedEventError("attempt must be a small whole number")
        try:
            at = datetime.fromisoformat(str(texts["at"]))
        except ValueError:
            raise MalformedEventError("at is not an ISO 8601 time") from None
        return cls(
            type=kind,
            transfer_id=transfer_id,
            customer_tenant_id=str(texts["customerTenantId"]),
            source=str(texts["source"]),
            event_id=str(texts["eventId"]),
            at=at if at.tzinfo else at.replace(tzinfo=UTC),
            attempt=attempt,
        )
