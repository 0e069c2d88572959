"""Verified Partner Center webhooks taken in: each followed event becomes a queue message for the
customer's active transfer, with only the store and the queue (no client, no secret).

The delivery is remembered only after it is queued, so a failure in between makes Partner Center
deliver it again rather than lose it; a duplicate that slips through is harmless, because the step
it wakes starts from the stored state.
"""

from __future__ import annotations

from shared.domain import TransferState, is_transfer_id
from shared.domain.events import EventType, TransferEvent
from shared.resources.webhook_events import (
    INDIRECT_RELATIONSHIP_ACCEPTED,
    RELATIONSHIP_ACCEPTED,
    PartnerCenterEvent,
)
from shared.store.errors import TransferNotFoundError
from shared.store.queue import EventQueue
from shared.store.repository import TransferStore
from shared.workflow.rules.access import ACCESS_EVENTS, relationship_of
from shared.workflow.rules.partner_transfer import TRANSFER_EVENTS, webhook_ids

ACCEPTANCE_EVENTS = frozenset({RELATIONSHIP_ACCEPTED, INDIRECT_RELATIONSHIP_ACCEPTED})
FOLLOWED_EVENTS = ACCEPTANCE_EVENTS | TRANSFER_EVENTS | ACCESS_EVENTS
"""Every Partner Center event the workflow acts on: what the webhook registration must name."""


class Intake:
    def __init__(self, store: TransferStore, queue: EventQueue) -> None:
        self._store = store
        self._queue = queue

    def take_webhook(self, event: PartnerCenterEvent) -> str:
        """Queue the event for the customer's active transfer: ``accepted``, ``duplicate`` or ``ignored``."""
        if event.event_name in TRANSFER_EVENTS:
            return self._take_transfer_event(event)
        if event.event_name in ACCESS_EVENTS:
            return self._take_access_event(event)
        if event.event_name not in ACCEPTANCE_EVENTS or not event.customer_id:
            return "ignored"
        transfer_id = self._store.active_transfer_id(event.customer_id)
        if transfer_id is None:
            return "ignored"
        if self._store.has_event(transfer_id, event.delivery_key):
            return "duplicate"
        if self._store.get(transfer_id).transfer.state is not TransferState.AWAITING_ACCEPTANCE:
            return "duplicate"  # the acceptance is already known: another delivery or the timer saw it
        kind = EventType.INVITATION_ACCEPTED
        return self._queue_once(
            event,
            TransferEvent(
                kind, transfer_id, event.customer_id.lower(), "webhook", event_id=event.delivery_key
            ),
        )

    def _take_transfer_event(self, event: PartnerCenterEvent) -> str:
        """A partner transfer request may have moved: queue a read of the customer's request."""
        customer, named = webhook_ids(event)
        transfer_id = self._store.active_transfer_id(customer) if customer else None
        if customer is None or transfer_id is None:
            return "ignored"
        request = self._store.get(transfer_id).transfer.partner_transfer
        if request is None or (named and request.transfer_id and named != request.transfer_id):
            return "ignored"  # another partner's or an older request
        if self._store.has_event(transfer_id, event.delivery_key):
            return "duplicate"
        kind = EventType.PARTNER_TRANSFER_CHANGED
        return self._queue_once(
            event, TransferEvent(kind, transfer_id, customer, "webhook", event_id=event.delivery_key)
        )

    def _take_access_event(self, event: PartnerCenterEvent) -> str:
        """A GDAP relationship (or its access assignment) of a transfer in flight may have moved: the
        event names only the relationship, which the transfer indexed when it asked for it."""
        relationship = relationship_of(event)
        transfer_id = self._store.relationships.transfer_id(relationship) if relationship else None
        if transfer_id is None or not is_transfer_id(transfer_id):
            return "ignored"  # another tool's relationship
        if self._store.has_event(transfer_id, event.delivery_key):
            return "duplicate"
        try:
            transfer = self._store.get(transfer_id).transfer
        except TransferNotFoundError:
            return "ignored"
        if not transfer.is_active or (transfer.gdap is not None and transfer.gdap.ended is not None):
            return "ignored"  # finished, or the product itself is ending or withdrawing it
        kind, customer = EventType.ACCESS_CHANGED, transfer.customer_tenant_id
        return self._queue_once(
            event, TransferEvent(kind, transfer_id, customer, "webhook", event_id=event.delivery_key)
        )

    def _queue_once(self, event: PartnerCenterEvent, message: TransferEvent) -> str:
        self._queue.send(message)
        self._store.remember_event(message.transfer_id, event.delivery_key, kind=event.event_name)
        return "accepted"
