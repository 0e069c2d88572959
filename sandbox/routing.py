"""A small router: services register plain functions on path patterns and get a parsed :class:`Call`.

Handlers stay free of aiohttp so Graph's ``$batch`` can run its inner requests through the very
same functions, with the same checks, that serve top-level calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .app import Sandbox
    from .tokens import Claims


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


Handler = Callable[["Sandbox", Call, dict[str, str]], Reply | Awaitable[Reply]]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    app_user_only: bool = False
    gdap: str | None = None
    """Graph only: "read" or "write", the GDAP role class a call into a customer tenant needs."""
    purchase: bool = False
    """Partner Center purchases: MS-RequestId idempotency and "order in progress" apply."""


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

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

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | int:
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
