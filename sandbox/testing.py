"""Start the sandbox as a separate process and drive its control API: what tests and benches import.

The handle's HTTP session ignores the environment (``trust_env=False``): machines here may set
``REQUESTS_CA_BUNDLE`` or proxies for their own network, and either would break loopback TLS.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class ScenarioIds:
    """The named ids of the current scenario, e.g. ``ids.customers["contoso"]``.

    ``users``/``groups``/``subscriptions`` are keyed ``"<customer>.<name>"``, e.g.
    ``"contoso.direct_e3"``; ``subscriptions`` holds Graph companySubscription ids and
    ``commerce_subscriptions`` the commerce (Partner Center) ids of the same subscriptions.
    """

    name: str
    partner_tenant_id: str
    other_partner_tenant_id: str
    partner_country: str
    customers: dict[str, str]
    users: dict[str, str]
    groups: dict[str, str]
    subscriptions: dict[str, str]
    commerce_subscriptions: dict[str, str]
    skus: dict[str, str]
    catalog_items: dict[str, str]
    admin_relationships: dict[str, str]
    """GDAP delegatedAdminRelationship id per customer (active, or approvalPending before acceptance)."""
    partner_security_group_id: str
    """The partner tenant's security group for GDAP access assignments (its member: the partner admin)."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScenarioIds:
        return cls(
            name=data["name"],
            partner_tenant_id=data["partnerTenantId"],
            other_partner_tenant_id=data["otherPartnerTenantId"],
            partner_country=data["partnerCountry"],
            customers=data["customers"],
            users=data["users"],
            groups=data["groups"],
            subscriptions=data["subscriptions"],
            commerce_subscriptions=data["commerce_subscriptions"],
            skus=data["skus"],
            catalog_items=data["catalog_items"],
            admin_relationships=data["admin_relationships"],
            partner_security_group_id=data["partnerSecurityGroupId"],
        )


class SandboxError(RuntimeError):
    """The control API refused a call (bad knob, unknown scenario...)."""


class SandboxHandle:
    """A running sandbox: its endpoints and credentials, and typed calls to its control API."""

    def __init__(
        self, info: dict[str, Any], process: subprocess.Popen[bytes] | None = None, log: Path | None = None
    ) -> None:
        self.info = info
        self.log = log
        """The sandbox process's stderr (kept after close only when something was written)."""
        self.base_url: str = info["base_url"]
        self.ca_bundle: str = info["ca_bundle"]
        self.partner_center_endpoint: str = info["partner_center_endpoint"]
        self.graph_endpoint: str = info["graph_endpoint"]
        self.authority_host: str = info["authority_host"]
        self.partner_tenant_id: str = info["partner_tenant_id"]
        self.partner_country: str = info["partner_country"]
        self.client_id: str = info["client_id"]
        self.client_secret: str = info["client_secret"]
        self.refresh_token: str = info["refresh_token"]
        self.security_group_id: str = info["gdap_security_group_id"]
        self.webhook_cert_hosts: str = info["webhook_cert_hosts"]
        self.webhook_trust_roots: str = info["webhook_trust_roots"]
        self.certificate_url: str = info["certificate_url"]
        self.process = process
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = self.ca_bundle
        self._ids: ScenarioIds | None = None

    # ------------------------------------------------------------------ settings for the product

    def env(self) -> dict[str, str]:
        """The product's app settings (docs/settings.md) pointing at this sandbox."""
        return {
            "PARTNER_CENTER_ENDPOINT": self.partner_center_endpoint,
            "GRAPH_ENDPOINT": self.graph_endpoint,
            "AUTHORITY_HOST": self.authority_host,
            "PARTNER_TENANT_ID": self.partner_tenant_id,
            "PARTNER_CLIENT_ID": self.client_id,
            "PARTNER_CLIENT_SECRET": self.client_secret,
            "PARTNER_REFRESH_TOKEN": self.refresh_token,
            "PARTNER_COUNTRY": self.partner_country,
            "GDAP_SECURITY_GROUP_ID": self.security_group_id,
            "REQUESTS_CA_BUNDLE": self.ca_bundle,
            "WEBHOOK_CERT_HOSTS": self.webhook_cert_hosts,
            "WEBHOOK_TRUST_ROOTS": self.webhook_trust_roots,
        }

    def http_session(self) -> requests.Session:
        """A fresh keep-alive session that trusts the sandbox CA and ignores proxy/CA env vars."""
        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_bundle
        return session

    # ------------------------------------------------------------------ control API

    def control(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.session.request(
            method, f"{self.base_url}/_sandbox{path}", json=body, params=params or None
        )
        if response.status_code >= 400:
            raise SandboxError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def reset(self, scenario: str = "default", **params: Any) -> ScenarioIds:
        """Put the world back to ``scenario``: knobs, faults, clock, ledger and webhooks included."""
        self._ids = ScenarioIds.from_json(
            self.control("POST", "/reset", {"scenario": scenario, "params": params})
        )
        return self._ids

    @property
    def ids(self) -> ScenarioIds:
        if self._ids is None:
            self._ids = self.scenario()
        return self._ids

    def scenario(self) -> ScenarioIds:
        return ScenarioIds.from_json(self.control("GET", "/scenario"))

    def customers(self) -> list[dict[str, Any]]:
        """Each customer: ``key``, ``tenantId``, ``name``, ``domain``, ``country``, ``accepted``."""
        items: list[dict[str, Any]] = self.control("GET", "/customers")["items"]
        return items

    def customer(self, key: str) -> str:
        """The tenant id of a scenario customer, e.g. ``customer("contoso")``."""
        return self.ids.customers[key]

    def knobs(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control("GET", "/knobs")
        return result

    def set_knobs(self, **patch: Any) -> dict[str, Any]:
        """e.g. ``set_knobs(idempotency=False, rate_limits={"graph": {"limit": 5, "window_s": 60}})``."""
        result: dict[str, Any] = self.control("PATCH", "/knobs", patch)
        return result

    def add_subscription(
        self,
        customer_id: str,
        sku_id: str,
        quantity: int,
        *,
        channel: str = "direct",
        days_to_next: float | None = 30,
        status: str = "Enabled",
    ) -> dict[str, str]:
        """A subscription bought elsewhere appears in the tenant; returns its Graph and commerce ids."""
        body = {
            "skuId": sku_id,
            "quantity": quantity,
            "channel": channel,
            "daysToNext": days_to_next,
            "status": status,
        }
        result: dict[str, str] = self.control("POST", f"/customers/{customer_id}/subscriptions", body)
        return result

    def add_users(
        self,
        customer_id: str,
        count: int,
        *,
        sku_id: str | None = None,
        group_id: str | None = None,
        usage_location: str | None = "US",
        disabled_plans: tuple[str, ...] = (),
    ) -> list[str]:
        """``count`` new users holding ``sku_id`` directly and/or members of ``group_id``; their ids."""
        body = {
            "count": count,
            "skuId": sku_id,
            "groupId": group_id,
            "usageLocation": usage_location,
            "disabledPlans": list(disabled_plans),
        }
        ids: list[str] = self.control("POST", f"/customers/{customer_id}/users", body)["ids"]
        return ids

    def set_usage_location(self, customer_id: str, user_id: str, usage_location: str | None) -> None:
        self.control("PATCH", f"/customers/{customer_id}/users/{user_id}", {"usageLocation": usage_location})

    def change_subscription(self, customer_id: str, graph_id: str, **change: Any) -> dict[str, Any]:
        """``status=`` (Deleted: deprovisioned early), ``days_to_next=`` and/or ``auto_renew=`` (it
        renews at its date instead of lapsing) for an original."""
        body = {"status": change["status"]} if "status" in change else {}
        if "days_to_next" in change:
            body["daysToNext"] = change["days_to_next"]
        if "auto_renew" in change:
            body["autoRenew"] = change["auto_renew"]
        result: dict[str, Any] = self.control(
            "PATCH", f"/customers/{customer_id}/subscriptions/{graph_id}", body
        )
        return result

    def set_offer(
        self, sku_id: str, *, purchasable: bool | None = None, product_type: str | None = None
    ) -> dict[str, Any]:
        """Withdraw the offer that provisions ``sku_id`` from sale, or bring it back; or sell it as
        another product type (``SaaS``, ``Software``...)."""
        body = {"purchasable": purchasable, "productType": product_type}
        change = {k: v for k, v in body.items() if v is not None}
        result: dict[str, Any] = self.control("PATCH", f"/offers/{sku_id}", change)
        return result

    def add_fault(
        self,
        kind: str,
        *,
        service: str | None = None,
        method: str | None = None,
        path: str | None = None,
        status: int = 503,
        code: int | str | None = None,
        delay_s: float = 0.0,
        times: int = 1,
        skip: int = 0,
        retry_after: str | None = None,
        probability: float = 1.0,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """Inject a failure. ``kind``: status | error | delay | drop | drop_after_commit;
        ``service``: partner_center | graph | entra | keyvault; ``path``: a regex searched in the
        service path; ``probability``: the share of matching calls it fires on (drawn from ``seed``)."""
        fault = {
            "kind": kind,
            "service": service,
            "method": method,
            "path": path,
            "status": status,
            "code": code,
            "delay_s": delay_s,
            "times": times,
            "skip": skip,
            "retry_after": retry_after,
            "probability": probability,
            "seed": seed,
        }
        result: dict[str, Any] = self.control("POST", "/faults", fault)
        return result

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.control("GET", "/faults")["faults"]
        return result

    def clear_faults(self) -> None:
        self.control("DELETE", "/faults")

    def now(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.control("GET", "/clock")["now"])

    def advance_clock(self, *, days: float = 0, hours: float = 0, seconds: float = 0) -> dt.datetime:
        moved = self.control("POST", "/clock/advance", {"days": days, "hours": hours, "seconds": seconds})
        return dt.datetime.fromisoformat(moved["now"])

    def accept_invitation(
        self,
        customer_id: str,
        *,
        lag_seconds: float | None = None,
        lag_requests: int | None = None,
        approve_gdap: bool = True,
    ) -> dict[str, Any]:
        """The customer accepts the reseller relationship and (unless ``approve_gdap`` is False)
        approves the pending GDAP requests; the webhooks fire if registered."""
        body: dict[str, Any] = {"approveGdap": approve_gdap}
        if lag_seconds is not None:
            body["lagSeconds"] = lag_seconds
        if lag_requests is not None:
            body["lagRequests"] = lag_requests
        result: dict[str, Any] = self.control("POST", f"/customers/{customer_id}/accept", body)
        return result

    def approve_gdap(self, customer_id: str, *, roles: list[str] | None = None) -> dict[str, Any]:
        """The customer approves the partner's pending GDAP requests (``roles``: only those role names
        stay, as in a request changed before it was locked); the webhooks fire if registered."""
        body = {} if roles is None else {"roles": roles}
        result: dict[str, Any] = self.control("POST", f"/customers/{customer_id}/gdap/approve", body)
        return result

    def remove_gdap(self, customer_id: str) -> dict[str, Any]:
        """The customer's admin removes the partner's active GDAP relationships; webhooks fire."""
        result: dict[str, Any] = self.control("POST", f"/customers/{customer_id}/gdap/remove")
        return result

    def set_webhook_registration(self, url: str, events: list[str]) -> dict[str, Any]:
        """Another tool's registration (the partner has one), for any URL."""
        body = {"webhookUrl": url, "webhookEvents": events}
        result: dict[str, Any] = self.control("PUT", "/webhooks/registration", body)
        return result

    def set_gdap(
        self, customer_id: str, *, roles: list[str] | None = None, active: bool | None = None
    ) -> dict[str, Any]:
        """For tests that are not about access: pre-grant GDAP roles (effective, and the application
        consented) without an access assignment; with no arguments, just read them."""
        body: dict[str, Any] = {}
        if roles is not None:
            body["roles"] = roles
        if active is not None:
            body["active"] = active
        result: dict[str, Any] = self.control("PATCH", f"/customers/{customer_id}/gdap", body)
        return result

    def send_webhook(
        self,
        event_name: str = "reseller-relationship-accepted-by-customer",
        *,
        customer_id: str | None = None,
        mode: str = "normal",
        url: str | None = None,
        resource_uri: str | None = None,
        raw_body: str | None = None,
        wait: bool = True,
    ) -> list[dict[str, Any]]:
        """Send an event to ``url`` or the registered URL. ``mode``: normal | duplicate | out-of-order |
        forged-signature | wrong-cert-url | untrusted-cert | redirecting-cert-url. ``raw_body`` is
        sent (and signed) verbatim instead of the event. With ``wait`` returns after every attempt."""
        body = {
            "eventName": event_name,
            "customerId": customer_id,
            "mode": mode,
            "url": url,
            "resourceUri": resource_uri,
            "rawBody": raw_body,
            "wait": wait,
        }
        result: list[dict[str, Any]] = self.control("POST", "/webhooks/send", body)["deliveries"]
        return result

    def partner_transfers(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's partner-to-partner transfer requests, as Partner Center holds them."""
        items: list[dict[str, Any]] = self.control("GET", f"/customers/{customer_id}/transfers")["items"]
        return items

    def source_partner(
        self, customer_id: str, transfer_id: str, action: str = "submit", **body: Any
    ) -> dict[str, Any]:
        """The source partner acts on the request: ``submit`` (``subscriptionIds``, ``complete``,
        ``newIds``, ``productTypes``, ``otherItems``), ``expire`` or ``fail``; returns the transfer
        and the webhook deliveries."""
        result: dict[str, Any] = self.control(
            "POST", f"/customers/{customer_id}/transfers/{transfer_id}/{action}", body
        )
        return result

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.control("GET", "/webhooks/deliveries")["deliveries"]
        return result

    def wait_webhooks(self, ids: list[str] | None = None, timeout_s: float = 60) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.control(
            "POST", "/webhooks/wait", {"ids": ids, "timeoutS": timeout_s}
        )["deliveries"]
        return result

    def ledger(self, kinds: str | None = None, since: int = 0) -> dict[str, Any]:
        params: dict[str, Any] = {"since": since}
        if kinds:
            params["kinds"] = kinds
        result: dict[str, Any] = self.control("GET", "/ledger", **params)
        return result

    def purchases(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.ledger("purchases")["purchases"]
        return result

    def license_changes(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.ledger("licenseChanges")["licenseChanges"]
        return result

    def license_writes(self) -> list[dict[str, Any]]:
        """Every assignLicense the sandbox received (``userId`` or ``groupId``), refused ones too."""
        result: list[dict[str, Any]] = self.ledger("licenseWrites")["licenseWrites"]
        return result

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.ledger("requests", since)["requests"]
        return result

    def clear_ledger(self) -> None:
        self.control("DELETE", "/ledger")

    def vault_values(self, name: str) -> list[str]:
        """The values of every version of Key Vault secret ``name``, oldest first."""
        values: list[str] = self.control("GET", f"/vault/secrets/{name}")["values"]
        return values

    def mint_token(
        self,
        *,
        tenant_id: str | None = None,
        audience: str = "partner_center",
        app_only: bool = False,
        lifetime_s: int = 3600,
        app_id: str | None = None,
    ) -> str:
        """A bearer token made to order (``lifetime_s`` <= 0 gives an expired one); ``audience`` is
        ``partner_center``, ``graph`` or ``keyvault``."""
        body: dict[str, Any] = {"audience": audience, "appOnly": app_only, "lifetimeS": lifetime_s}
        if tenant_id:
            body["tenantId"] = tenant_id
        if app_id:
            body["appId"] = app_id
        token: str = self.control("POST", "/tokens", body)["accessToken"]
        return token

    # ------------------------------------------------------------------ lifetime

    # ------------------------------------------------------------------ what checkout depends on
    def agreements(self, customer_id: str) -> dict[str, Any]:
        """``{"agreements", "signedDirectly"}``: how the customer accepted the Customer Agreement."""
        result: dict[str, Any] = self.control("GET", f"/customers/{customer_id}/agreements")
        return result

    def set_qualifications(self, customer_id: str, qualifications: list[dict[str, str]]) -> None:
        """e.g. ``[{"qualification": "Education", "vettingStatus": "Approved"}]``; ``[]``: commercial."""
        self.control("PUT", f"/customers/{customer_id}/qualifications", qualifications)

    def set_eligible(self, sku_id: str, eligible: bool, *, attestation: str | None = None) -> None:
        """False: the SKU's offer stays listed as purchasable, but a cart line buying it gets an error;
        ``attestation`` (a type): the SKU enforces attestation, as the no-Teams suites do."""
        body = {"eligible": eligible, "attestation": attestation}
        self.control("PATCH", f"/offers/{sku_id}/eligibility", body)

    def advance_to_next_month(self) -> dt.datetime:
        """Move the clock just past the next month boundary, where every availability id changes."""
        now = self.now()
        first = (now.replace(day=1) + dt.timedelta(days=32)).replace(day=1, hour=0, minute=0, second=0)
        return self.advance_clock(seconds=(first - now).total_seconds() + 3600)

    def close(self) -> None:
        self.session.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.log is not None and self.log.exists() and self.log.stat().st_size == 0:
            self.log.unlink()

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class WebhookReceiver:
    """A loopback HTTP endpoint that records each delivery and answers the next queued status.

    Headers are recorded with lower-case names. Use as a context manager, or call ``close``.
    """

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/webhooks/partner-center"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _first_line(stream: IO[bytes], timeout_s: float) -> bytes:
    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return box[0] if box else b""


def start_sandbox(
    scenario: str = "default",
    *,
    params: dict[str, Any] | None = None,
    sku_csv: str | None = None,
    timeout_s: float = 30.0,
) -> SandboxHandle:
    """Run ``python -m sandbox`` in its own process (real sockets, no shared GIL) and wait for it."""
    command = [sys.executable, "-m", "sandbox", "--port", "0", "--scenario", scenario]
    for key, value in (params or {}).items():
        command += ["--param", f"{key}={value}"]
    if sku_csv:
        command += ["--sku-csv", sku_csv]
    log = tempfile.NamedTemporaryFile(prefix="csp-sandbox-", suffix=".log", delete=False)  # noqa: SIM115
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=log, env=env)
    assert process.stdout is not None
    line = _first_line(process.stdout, timeout_s)
    if not line:
        process.kill()
        raise SandboxError(f"the sandbox did not start; see {log.name}")
    return SandboxHandle(json.loads(line), process, Path(log.name))
