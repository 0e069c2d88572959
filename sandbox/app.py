"""The server: one aiohttp app serving Entra at the root, Partner Center under ``/partnercenter``,
Graph under ``/graph``, the control API under ``/_sandbox`` and the webhook certificate under ``/cert``.

Each service's routers are registered here, by name, in :data:`SERVICES`; the handlers know the
running sandbox only as :class:`sandbox.state.Sandbox`, so nothing below imports this module.

Every Partner Center and Graph call passes the same gate, in Microsoft's order: token (401),
authorization (403), throttling (429), then latency and injected faults, then the handler.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import ssl
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from . import access, agreements, control, entra, graph, keyvault, partner_center, transfers
from .eligibility import missing_contract_version
from .keyvault import kv_error
from .knobs import Fault
from .routing import Call, Reply, Route, Router
from .scenarios import CLIENT_ID
from .state import Sandbox
from .tokens import GRAPH_AUDIENCE, PARTNER_CENTER_AUDIENCE, VAULT_AUDIENCE, TokenError
from .world import READ_ROLES, WRITE_ROLES, GraphError, PartnerCenterError

PC_DESCRIPTIONS = {
    2030: "Partner is not onboarded to sell in country",
    20002: "The partner has no commerce relationship with the customer.",
    800060: "Your order is in progress. Please check your order history for recent orders in few minutes",
    800064: "Cart is being processed by another request.",
    800065: "Cannot check out an already submitted cart.",
}
SERVICES: dict[str, tuple[str, Router[Sandbox]]] = {
    "partnercenter": (
        "partner_center",
        Router(partner_center.router, transfers.router, agreements.router, access.partner_center_router),
    ),
    "graph": ("graph", Router(graph.router, access.graph_router)),
    "_sandbox": (
        "control",
        Router(control.router, transfers.source_router, agreements.control_router, access.control_router),
    ),
    "cert": ("cert", control.cert_router),
    "secrets": ("keyvault", keyvault.router),
}
"""First path segment -> (service, its routes); a path under none of them is Entra's."""
AUDIENCES = {"partner_center": PARTNER_CENTER_AUDIENCE, "graph": GRAPH_AUDIENCE, "keyvault": VAULT_AUDIENCE}


def pc_error(status: int, code: int | str, description: str, data: list[str] | None = None) -> Reply:
    return Reply(
        status, {"code": code, "description": description, "data": data or [], "source": "PartnerFD"}
    )


def graph_error(status: int, code: str, message: str, detail: str | None = None) -> Reply:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "innerError": {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
            "request-id": str(uuid.uuid4()),
            "client-request-id": str(uuid.uuid4()),
        },
    }
    if detail:
        error["details"] = [{"code": detail, "message": message, "target": "licenseAssignment"}]
    return Reply(status, {"error": error})


def throttled(service: str, retry_after: int) -> Reply:
    headers = {"Retry-After": str(retry_after)}
    if service == "graph":
        reply = graph_error(429, "TooManyRequests", "Please retry again later.")
        reply.body["error"]["innerError"].update({"code": "429", "message": "Please retry after"})
        reply.headers = headers
        return reply
    message = f"Rate limit is exceeded. Try again in {retry_after} seconds."
    return Reply(429, {"statusCode": 429, "message": message}, headers)


class Server(Sandbox):
    """The sandbox behind its gate: every call is checked here before its handler runs."""

    # ------------------------------------------------------------------ the gate

    def authenticate(self, service: str, call: Call) -> Reply | None:
        header = call.headers.get("Authorization", "")
        try:
            if not header.lower().startswith("bearer "):
                raise TokenError("Access token is empty.")
            claims = self.tokens.validate(header[7:].strip(), AUDIENCES[service])
            if service == "keyvault":
                if claims.tenant_id != self.world.partner_tenant_id:
                    raise TokenError("The token's tenant is not the vault's tenant.")
            elif claims.app_id != CLIENT_ID:
                raise TokenError("The token was not issued to the partner's application.")
            if service == "partner_center" and claims.tenant_id != self.world.partner_tenant_id:
                raise TokenError("The token's tenant is not the partner tenant.")
            if service == "graph" and claims.tenant_id not in self.world.tenants:
                raise TokenError("The token's tenant does not exist.")
        except TokenError as exc:
            challenge = {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc}"'}
            if service == "keyvault":
                # Key Vault's challenge: where to get a token, and for which resource.
                authority = f"{self.endpoints.base_url}/{self.world.partner_tenant_id}"
                challenge["WWW-Authenticate"] = (
                    f'Bearer authorization="{authority}", resource="{VAULT_AUDIENCE}"'
                )
                reply = kv_error(401, "Unauthorized", f"AKV10000: the request's token is refused. {exc}")
            elif service == "graph":
                reply = graph_error(401, "InvalidAuthenticationToken", str(exc))
            else:
                reply = pc_error(401, 401, f"Unauthorized: {exc}")
            reply.headers.update(challenge)
            return reply
        call.claims = claims
        call.tenant_id = claims.tenant_id
        return None

    def authorize(self, service: str, route: Route[Sandbox], call: Call) -> Reply | None:
        assert call.claims is not None
        if route.app_user_only and call.claims.app_only:
            return pc_error(403, 1002, "This resource can't be accessed by application credentials.")
        if service == "graph" and route.gdap and call.tenant_id != self.world.partner_tenant_id:
            tenant = self.world.tenants[str(call.tenant_id)]
            allowed = WRITE_ROLES if route.gdap == "write" else READ_ROLES
            if not self.world.effective_roles(tenant) & allowed:
                return graph_error(
                    403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
                )
        return None

    def throttle(self, service: str, call: Call, params: dict[str, str]) -> Reply | None:
        if service == "graph" and call.path.lower() == "/v1.0/$batch":
            return None  # a $batch is throttled member by member, not as a whole
        limits = [(service, self.knobs["rate_limits"].get(service))]
        if service == "graph" and call.method in ("POST", "PATCH", "PUT", "DELETE"):
            # Graph's write quota per app and tenant, beside its request quota: 3,000 writes per 2 min 30 s
            # for identity and access (Learn, "Microsoft Graph service-specific throttling limits").
            limits.append(("graph_writes", self.knobs["rate_limits"]["graph_writes"]))
        for name, limit in limits:
            if not limit:
                continue
            key: tuple[str, ...] = (name, str(call.tenant_id))
            if service == "partner_center" and limit.get("scope") == "customer" and "customer_id" in params:
                key = (*key, params["customer_id"].lower())
            retry_after = self.limiter.take(key, int(limit["limit"]), float(limit.get("window_s", 60)))
            if retry_after is not None:
                return throttled(service, retry_after)
        return None

    def take_fault(self, service: str, call: Call) -> Fault | None:
        return next((f for f in self.faults if f.take(service, call.method, call.path)), None)

    def fault_reply(self, service: str, fault: Fault) -> Reply:
        if service == "keyvault":
            code = str(fault.code or ("ServiceUnavailable" if fault.status >= 500 else "Forbidden"))
            reply = kv_error(fault.status, code, "Injected failure from the sandbox.")
        elif service == "graph":
            code = str(fault.code or ("serviceNotAvailable" if fault.status >= 500 else "BadRequest"))
            reply = graph_error(fault.status, code, "Injected failure from the sandbox.")
        elif service == "entra":
            error = str(
                fault.code or ("temporarily_unavailable" if fault.status >= 429 else "invalid_request")
            )
            reply = Reply(
                fault.status, {"error": error, "error_description": "Injected failure from the sandbox."}
            )
        else:
            pc_code = fault.code if fault.code is not None else fault.status
            reply = pc_error(
                fault.status, pc_code, PC_DESCRIPTIONS.get(int(pc_code), "Injected failure from the sandbox.")
            )
        if fault.retry_after is not None:
            reply.headers["Retry-After"] = fault.retry_after
        return reply

    async def serve(self, service: str, router: Router[Sandbox], call: Call, *, inner: bool = False) -> Reply:
        """Run one call through the gate and its handler; ``inner`` is a Graph ``$batch`` member."""
        found = router.match(call.method, call.path)
        if isinstance(found, int):
            status = found
            if service == "graph":
                return graph_error(
                    status,
                    "Request_ResourceNotFound" if status == 404 else "BadRequest",
                    f"Resource not found for the segment '{call.path}'.",
                )
            return pc_error(status, status, "The requested resource was not found.")
        route, params = found
        api = service in ("partner_center", "graph")
        if service == "keyvault":
            denied = self.authenticate(service, call)
            if denied is not None:
                return denied
        if api:
            if not inner:
                denied = self.authenticate(service, call)
                if denied is not None:
                    return denied
            headers_refused = missing_contract_version(call.headers) if service == "partner_center" else None
            if headers_refused is not None:
                return pc_error(400, 400, headers_refused)
            refused = self.authorize(service, route, call) or self.throttle(service, call, params)
            if refused is not None:
                return refused
        if api or service in ("entra", "cert", "keyvault"):
            if self.knobs["latency_ms"] and not inner:
                await asyncio.sleep(self.knobs["latency_ms"] / 1000)
            fault = self.take_fault(service, call)
        else:
            fault = None
        if fault is not None and fault.kind in ("status", "error"):
            return self.fault_reply(service, fault)
        if fault is not None and fault.kind == "drop":
            return Reply(0, drop=True)
        if route.purchase:
            return await self._purchase(service, route, call, params, fault)
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.delay_s)
        reply = await self._run(service, route, call, params)
        reply.drop = fault is not None and fault.kind == "drop_after_commit"
        return reply

    async def _purchase(
        self, service: str, route: Route[Sandbox], call: Call, params: dict[str, str], fault: Fault | None
    ) -> Reply:
        """MS-RequestId idempotency: a repeat gets the first answer; one still running gets 800060."""
        request_id = call.headers.get("MS-RequestId", "")
        key = (call.path.lower(), request_id.lower())
        idempotent = bool(self.knobs["idempotency"] and request_id)
        if idempotent and key in self.responses:
            first = self.responses[key]
            return Reply(first.status, first.body, dict(first.headers))
        if idempotent and key in self.in_flight:
            return pc_error(409, 800060, PC_DESCRIPTIONS[800060])
        cart = params.get("cart_id", "").lower()
        if cart and cart in self.carts_in_flight:
            return pc_error(409, 800064, PC_DESCRIPTIONS[800064])
        generation = self.generation
        self.in_flight.add(key)
        if cart:
            self.carts_in_flight.add(cart)
        try:
            if fault is not None and fault.kind == "delay":
                await asyncio.sleep(fault.delay_s)
            if generation != self.generation:
                return pc_error(503, 503, "The sandbox was reset while this call was in flight.")
            reply = await self._run(service, route, call, params)
        finally:
            self.in_flight.discard(key)
            self.carts_in_flight.discard(cart)
        if idempotent and reply.status < 500:
            self.responses[key] = Reply(reply.status, reply.body, dict(reply.headers))
        reply.drop = fault is not None and fault.kind == "drop_after_commit"
        return reply

    async def _run(self, service: str, route: Route[Sandbox], call: Call, params: dict[str, str]) -> Reply:
        try:
            result = route.handler(self, call, params)
            return await result if inspect.isawaitable(result) else result
        except PartnerCenterError as exc:
            return pc_error(exc.status, exc.code, exc.description, exc.data)
        except GraphError as exc:
            return graph_error(exc.status, exc.code, exc.message, exc.detail)
        except (
            json.JSONDecodeError,
            UnicodeDecodeError,
            ValueError,
            TypeError,
            KeyError,
            AttributeError,
        ) as exc:
            if service == "graph":
                return graph_error(400, "BadRequest", f"Invalid request: {exc.__class__.__name__}")
            if service == "control":
                return Reply(400, {"error": f"{exc.__class__.__name__}: {exc}"})
            if service == "entra":
                return Reply(400, {"error": "invalid_request", "error_description": str(exc)})
            if service == "keyvault":
                return kv_error(400, "BadParameter", f"Invalid request: {exc.__class__.__name__}")
            return pc_error(400, 3000, f"Invalid request: {exc.__class__.__name__}")

    # ------------------------------------------------------------------ aiohttp glue

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        path = request.path
        first, _, rest = path.lstrip("/").partition("/")
        service, router = SERVICES.get(first, ("entra", entra.router))
        sub_path = "/" + rest if service != "entra" else path
        if first in ("cert", "secrets"):
            sub_path = path
        call = Call(request.method, sub_path, request.query, request.headers, await request.read())
        reply = await self.serve(service, router, call)
        if service != "control":
            self.world.ledger.requests.append(
                {
                    "service": service,
                    "method": request.method,
                    "path": path,
                    "status": 0 if reply.drop else reply.status,
                    "latencyMs": round((time.perf_counter() - started) * 1000, 3),
                    "tenantId": call.tenant_id,
                    "at": time.time(),
                }
            )
        if reply.drop:
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        headers = dict(reply.headers)
        if service == "partner_center":
            for name in ("MS-RequestId", "MS-CorrelationId"):
                if name in request.headers:
                    headers[name] = request.headers[name]
            headers["MS-CV"] = uuid.uuid4().hex[:16]
        elif service == "graph":
            headers["request-id"] = str(uuid.uuid4())
            if "client-request-id" in request.headers:
                headers["client-request-id"] = request.headers["client-request-id"]
        if reply.raw is not None:
            return web.Response(
                status=reply.status, body=reply.raw, headers=headers, content_type=reply.content_type
            )
        if reply.body is None:
            return web.Response(status=reply.status, headers=headers)
        return web.Response(
            status=reply.status,
            body=json.dumps(reply.body, separators=(",", ":")).encode(),
            headers=headers,
            content_type="application/json",
        )


def make_app(sandbox: Server) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", sandbox.handle)

    async def start_webhooks(_: web.Application) -> None:
        await sandbox.webhooks.start()

    async def stop_webhooks(_: web.Application) -> None:
        await sandbox.webhooks.stop()

    app.on_startup.append(start_webhooks)
    app.on_cleanup.append(stop_webhooks)
    return app


def server_ssl_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context
