"""What every handler is handed: the running sandbox's state, one floor below the server.

The service modules (``control``, ``entra``, ``graph``, ``keyvault``, ``partner_center``,
``transfers``) import :class:`Sandbox` from here and ``app.py`` imports them, so imports run one
way: routing and the world at the bottom, this state above them, the services above it, and the
server (the gate and the aiohttp glue) on top. The one thing a handler needs of the gate, Graph's
``$batch`` running each member through it, is the abstract :meth:`Sandbox.serve`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from .catalog import Catalog
from .knobs import DEFAULTS, Fault, RateLimiter, merge
from .pki import Pki
from .routing import Call, Endpoints, Reply, Router
from .scenarios import REFRESH_TOKEN, build
from .tokens import TokenIssuer
from .webhooks import Webhooks
from .world import World


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    """What the partner admin consented to at ``/authorize``; redeemed once at the token endpoint."""

    tenant: str
    redirect_uri: str
    code_challenge: str


@dataclass(slots=True)
class Vault:
    """Key Vault: every version of every secret, oldest first."""

    secrets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def clear(self) -> None:
        self.secrets.clear()


class Sandbox(ABC):
    """The running sandbox: world, knobs, faults, tokens, webhooks and the idempotency store."""

    def __init__(
        self, endpoints: Endpoints, pki: Pki, catalog: Catalog, scenario: str, params: dict[str, Any]
    ) -> None:
        self.endpoints = endpoints
        self.pki = pki
        self._catalog = catalog
        self.tokens = TokenIssuer(endpoints.base_url)
        self.limiter = RateLimiter()
        self.refresh_tokens: set[str] = {REFRESH_TOKEN}
        self.authorization_codes: dict[str, AuthorizationCode] = {}
        self.webhooks = Webhooks(self)
        self.vault = Vault()
        self.generation = 0
        self.world: World
        self.knobs: dict[str, Any]
        self.faults: list[Fault] = []
        self.responses: dict[tuple[str, str], Reply] = {}
        self.in_flight: set[tuple[str, str]] = set()
        self.carts_in_flight: set[str] = set()
        self.reset(scenario, params)

    @property
    def catalog(self) -> Catalog:
        """The offers on sale in the current world, under the availability ids of the clock's month."""
        self.world.catalog.rotate(self.world.clock.now())
        return self.world.catalog

    def reset(self, scenario: str, params: dict[str, Any] | None = None) -> None:
        # Each world gets its own offers, so an offer withdrawn in one test is back after a reset.
        self.world, scenario_knobs = build(scenario, self._catalog.for_new_world(), params)
        self.world.catalog.rotate(self.world.clock.now())  # its ids are this month's from now on
        self.knobs = merge(DEFAULTS, scenario_knobs)
        self.generation += 1
        self.faults.clear()
        self.limiter.reset()
        self.responses.clear()
        self.in_flight.clear()
        self.carts_in_flight.clear()
        self.authorization_codes.clear()
        self.webhooks.reset()
        self.vault.clear()

    @abstractmethod
    async def serve(self, service: str, router: Router[Sandbox], call: Call, *, inner: bool = False) -> Reply:
        """Run one call through the gate and its handler; ``inner`` is a Graph ``$batch`` member."""
