"""A small router: services register plain functions on path patterns and get a parsed :class:`Call`.

Handlers stay free of aiohttp so Graph's ``$batch`` can run its inner requests through the very
same functions, with the same checks, that serve top-level calls. A router is generic in what its
handlers are handed first (the running sandbox, :class:`sandbox.state.Sandbox`), so this module
knows nothing above it and every service module imports it, never the other way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from .tokens import Claims

S = TypeVar("S")
"""What a router's handlers are handed first: the running sandbox."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the sandbox answers, one prefix per service, and the CA bundle that trusts its TLS."""

    base_url: str
    ca_bundle: Path

    @property
    def partner_center(self) -> str:
        return f"{self.base_url}/partnercenter"

    @property
    def graph(self) -> str:
        return f"{self.base_url}/graph"

    @property
    def certificate_url(self) -> str:
        return f"{self.base_url}/cert/pcnotifications-dispatch.microsoft.com.cer"


@dataclass(slots=True)
class Call:
    method: str
    path: str
    """Path below the service prefix, e.g. ``/v1/customers/{id}``."""
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    claims: Claims | None = None
    tenant_id: str | None = None

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        return json.loads(self.body)


@dataclass(slots=True)
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json"
    drop: bool = False
    """Close the connection without answering (a dropped response)."""


def lookup(data: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """Partner Center accepts both ``lineItems`` and ``LineItems``: look a key up case-insensitively."""
    lowered = name.lower()
    for key, value in data.items():
        if key.lower() == lowered:
            return value
    return default


Handler = Callable[[S, Call, dict[str, str]], Reply | Awaitable[Reply]]
H = TypeVar("H", bound=Callable[..., Reply | Awaitable[Reply]])


@dataclass(frozen=True, slots=True)
class Route(Generic[S]):
    method: str
    pattern: re.Pattern[str]
    handler: Handler[S]
    app_user_only: bool = False
    gdap: str | None = None
    """Graph only: "read" or "write", the GDAP role class a call into a customer tenant needs."""
    purchase: bool = False
    """Partner Center purchases: MS-RequestId idempotency and "order in progress" apply."""


class Router(Generic[S]):
    def __init__(self, *parts: Router[S]) -> None:
        """An empty router, or one serving ``parts``' routes in their order (a service written in
        more than one module, each registering on its own router)."""
        self.routes: list[Route[S]] = [route for part in parts for route in part.routes]

    def route(
        self,
        method: str,
        template: str,
        *,
        app_user_only: bool = False,
        gdap: str | None = None,
        purchase: bool = False,
    ) -> Callable[[H], H]:
        parts = re.split(r"\{(\w+)\}", template)
        regex = "".join(
            re.escape(part) if n % 2 == 0 else f"(?P<{part}>[^/']+)" for n, part in enumerate(parts)
        )
        pattern = re.compile(f"^{regex}/?$", re.IGNORECASE)

        def register(handler: H) -> H:
            self.routes.append(Route(method, pattern, handler, app_user_only, gdap, purchase))
            return handler

        return register

    def match(self, method: str, path: str) -> tuple[Route[S], dict[str, str]] | int:
        """The route and its path parameters, or the status to answer: 404, or 405 for a wrong method."""
        path_known = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict()
            path_known = True
        return 405 if path_known else 404
