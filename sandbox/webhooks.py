"""Partner Center webhooks: registration, signed delivery, redelivery, and deliberate misbehaviour.

A delivery is a POST of the JSON event with ``Authorization: Signature <base64 RSA-SHA256 of the
raw body>``, ``X-MS-Certificate-Url`` and ``X-MS-Signature-Algorithm: rsa-sha256``. A non-2xx
answer (or no answer) is retried up to ``max_attempts`` times with exponential backoff; every
attempt is written to the ledger.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import http
import ipaddress
import json
import ssl
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from .pki import Pki
from .routing import Endpoints, lookup
from .world import PartnerCenterError, World

MODES = (
    "normal",
    "duplicate",
    "out-of-order",
    "forged-signature",
    "wrong-cert-url",
    "untrusted-cert",
    "redirecting-cert-url",
)
ACCEPTED = "reseller-relationship-accepted-by-customer"
RESOURCE_NAMES = {ACCEPTED: "Customer", "test-created": "test"}
GDAP_RESOURCE_URI = "https://partner.microsoft.com/granularAdminRelationships/{id}"
"""The GDAP events' ResourceUri as the "Partner Center webhook events" page shows it."""


def _gdap_resource(name: str) -> str | None:
    if name.startswith("granular-admin-access-assignment-"):
        return "GranularAdminAccessAssignment"
    return "GranularAdminRelationship" if name.startswith("granular-admin-relationship-") else None


def change_date(moment: dt.datetime) -> str:
    """Partner Center's 7-digit fraction form, e.g. ``2023-10-18T00:26:24.0159088+00:00``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0+00:00"


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(slots=True)
class Delivery:
    id: str
    event_name: str
    mode: str
    url: str
    body: bytes
    headers: dict[str, str]
    attempts: list[dict[str, Any]] = field(default_factory=list)
    delivered: bool = False
    done: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "eventName": self.event_name,
            "mode": self.mode,
            "url": self.url,
            "body": self.body.decode(),
            "headers": self.headers,
            "attempts": self.attempts,
            "delivered": self.delivered,
            "done": self.done,
        }


class Host(Protocol):
    """What deliveries read of the running sandbox, looked up at each use: a reset replaces the
    world and the knobs."""

    @property
    def endpoints(self) -> Endpoints: ...

    @property
    def pki(self) -> Pki: ...

    @property
    def world(self) -> World: ...

    @property
    def knobs(self) -> dict[str, Any]: ...


class Webhooks:
    def __init__(self, sb: Host) -> None:
        self.sb = sb
        self.registration: dict[str, Any] | None = None
        self.session: aiohttp.ClientSession | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.deliveries: dict[str, Delivery] = {}
        self.validations: dict[str, str] = {}
        """correlation id -> delivery id"""

    async def start(self) -> None:
        context = ssl.create_default_context()
        context.load_verify_locations(cadata=self.sb.pki.ca_pem.decode())
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))

    async def stop(self) -> None:
        self.reset()
        if self.session is not None:
            await self.session.close()

    def reset(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.tasks.clear()
        self.registration = None
        self.deliveries.clear()
        self.validations.clear()

    # ------------------------------------------------------------------ registration

    def register(self, body: dict[str, Any]) -> dict[str, Any]:
        url = str(lookup(body, "webhookUrl", ""))
        events = lookup(body, "webhookEvents", [])
        if not url.startswith(("https://", "http://")) or not isinstance(events, list):
            raise PartnerCenterError(400, 3000, "Invalid property WebhookUrl or WebhookEvents.")
        if not is_loopback(url):
            raise PartnerCenterError(400, 3000, "The sandbox only delivers webhooks to loopback addresses.")
        self.registration = {
            "SubscriberId": self.sb.world.partner_tenant_id,
            "WebhookUrl": url,
            "WebhookEvents": [str(e) for e in events],
            "SignatureTokenToMsSignatureHeader": bool(
                lookup(body, "signatureTokenToMsSignatureHeader", False)
            ),
            "Properties": lookup(body, "properties", {}) or {},
            "LastModifiedTimestamp": change_date(self.sb.world.clock.now()),
        }
        return self.registration_json()

    def registration_json(self) -> dict[str, Any]:
        assert self.registration is not None
        return dict(self.registration)

    def wants(self, event_name: str) -> bool:
        return self.registration is not None and event_name in self.registration["WebhookEvents"]

    def announce(self, payload: dict[str, Any]) -> list[str]:
        """Send an event Partner Center raised by itself, if the registration asks for it; a
        registration for a URL off this machine (another tool's) is honoured by sending nothing."""
        registration = self.registration
        if not self.wants(str(payload["EventName"])) or registration is None:
            return []
        return self.dispatch(payload) if is_loopback(registration["WebhookUrl"]) else []

    def announce_gdap(self, name: str, relationship_id: str, assignment_id: str | None = None) -> list[str]:
        """A ``granular-admin-*`` event: its ResourceUri names the relationship (and assignment)."""
        uri = GDAP_RESOURCE_URI.format(id=relationship_id)
        if assignment_id is not None:
            uri += f"/accessAssignments/{assignment_id}"
        return self.announce(self.event(name, resource_uri=uri))

    # ------------------------------------------------------------------ events

    def event(
        self,
        name: str,
        customer_id: str | None = None,
        *,
        resource_uri: str | None = None,
        moment: dt.datetime | None = None,
    ) -> dict[str, Any]:
        pc = self.sb.endpoints.partner_center
        moment = moment or self.sb.world.clock.now()
        if resource_uri is None:
            resource_uri = f"{pc}/v1/customers/{customer_id}" if customer_id else f"{pc}/v1/customers"
        audit = None
        if customer_id:
            ticks = int(moment.timestamp() * 10_000_000) + 621355968000000000
            audit = (
                f"{pc}/auditactivity/v1/auditrecords/{uuid.uuid4()}_{customer_id}_"
                f"{name.replace('-', '')}_{ticks}"
            )
        return {
            "EventName": name,
            "ResourceUri": resource_uri,
            "ResourceName": RESOURCE_NAMES.get(name) or _gdap_resource(name) or "Subscription",
            "AuditUri": audit,
            "ResourceChangeUtcDate": change_date(moment),
        }

    def _signed(self, payload: dict[str, Any] | bytes, mode: str) -> tuple[bytes, dict[str, str]]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        pki = self.sb.pki
        cert_url = self.sb.endpoints.certificate_url
        if mode == "forged-signature":
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import padding

            signature = pki.forger.sign(body, padding.PKCS1v15(), hashes.SHA256())
        elif mode == "untrusted-cert":
            signature = pki.untrusted_signer.sign(body)
            cert_url = cert_url.replace("/cert/", "/cert/untrusted/")
        else:
            signature = pki.signer.sign(body)
        if mode == "redirecting-cert-url":
            cert_url = cert_url.replace("/cert/", "/cert/redirect/")
        if mode == "wrong-cert-url":
            port = urlsplit(cert_url).port
            cert_url = cert_url.replace(f"//127.0.0.1:{port}", f"//localhost:{port}")
        token = "Signature " + base64.b64encode(signature).decode()
        as_ms_header = bool(self.registration and self.registration["SignatureTokenToMsSignatureHeader"])
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "x-ms-signature" if as_ms_header else "Authorization": token,
            "X-MS-Certificate-Url": cert_url,
            "X-MS-Signature-Algorithm": "rsa-sha256",
        }
        return body, headers

    def dispatch(
        self, payload: dict[str, Any] | bytes, mode: str = "normal", url: str | None = None
    ) -> list[str]:
        """Queue the event for delivery in ``mode``; return the delivery ids, in sending order.

        ``payload`` as bytes is sent and signed verbatim, so a receiver's handling of a correctly
        signed but malformed body can be tested.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        target = url or (self.registration or {}).get("WebhookUrl")
        if not target:
            raise PartnerCenterError(409, 409, "No webhook registration and no url given.")
        if not is_loopback(target):
            raise ValueError("The sandbox only delivers webhooks to loopback addresses.")
        payloads = [payload]
        if mode == "duplicate":
            payloads = [payload, payload]
        elif mode == "out-of-order":
            if isinstance(payload, bytes):
                raise ValueError("out-of-order needs an event, not a raw body")
            older = dict(payload)
            moment = dt.datetime.fromisoformat(payload["ResourceChangeUtcDate"][:26] + "+00:00")
            older["ResourceChangeUtcDate"] = change_date(moment - dt.timedelta(minutes=1))
            payloads = [payload, older]
        deliveries = []
        for item in payloads:
            body, headers = self._signed(item, mode)
            name = "" if isinstance(item, bytes) else str(item["EventName"])
            delivery = Delivery(str(uuid.uuid4()), name, mode, target, body, headers)
            self.deliveries[delivery.id] = delivery
            deliveries.append(delivery)
        task = asyncio.get_running_loop().create_task(self._deliver_in_order(deliveries))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return [d.id for d in deliveries]

    async def _deliver_in_order(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            await self._deliver(delivery)

    async def _deliver(self, delivery: Delivery) -> None:
        settings = self.sb.knobs["webhook"]
        attempts, backoff = int(settings["max_attempts"]), float(settings["backoff_s"])
        timeout = aiohttp.ClientTimeout(total=float(settings["timeout_s"]))
        assert self.session is not None
        for n in range(1, attempts + 1):
            record: dict[str, Any] = {"attempt": n, "at": change_date(dt.datetime.now(dt.UTC))}
            try:
                async with self.session.post(
                    delivery.url, data=delivery.body, headers=delivery.headers, timeout=timeout
                ) as response:
                    await response.read()
                    record["status"] = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                record["status"], record["error"] = None, exc.__class__.__name__
            delivery.attempts.append(record)
            status = record["status"]
            if status is not None and 200 <= status < 300:
                delivery.delivered = True
                break
            if n < attempts:
                await asyncio.sleep(min(backoff * 2 ** (n - 1), 5.0))
        delivery.done = True

    async def wait(self, ids: list[str], timeout: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and not all(
            self.deliveries[i].done for i in ids if i in self.deliveries
        ):
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ validation events

    def send_validation_event(self) -> str:
        if not self.wants("test-created"):
            raise PartnerCenterError(400, 3000, "The registration must include the test-created event.")
        correlation_id = str(uuid.uuid4())
        uri = f"{self.sb.endpoints.partner_center}/webhooks/v1/registration/validationEvents/{correlation_id}"
        [delivery_id] = self.dispatch(self.event("test-created", resource_uri=uri))
        self.validations[correlation_id] = delivery_id
        return correlation_id

    def validation_status(self, correlation_id: str) -> dict[str, Any] | None:
        delivery = self.deliveries.get(self.validations.get(correlation_id.lower(), ""))
        if delivery is None:
            return None
        results = []
        for attempt in delivery.attempts:
            status = attempt.get("status")
            code = (
                "OK" if status == 200 else http.HTTPStatus(status).phrase.replace(" ", "") if status else None
            )
            results.append(
                {
                    "responseCode": code,
                    "responseMessage": "",
                    "systemError": attempt.get("error", ""),
                    "dateTimeUtc": attempt["at"],
                }
            )
        return {
            "correlationId": correlation_id,
            "partnerId": self.sb.world.partner_tenant_id,
            "status": "completed" if delivery.done else "pending",
            "callbackUrl": delivery.url,
            "results": results,
        }
