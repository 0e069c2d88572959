"""The composition root: every service the triggers need, built once per process from the settings.

Each part is built on first use, so a route that only lists transfers starts without the partner's
secrets, and a cold start imports nothing it does not call. Tests build their own ``Services``
from a settings mapping instead of patching anything.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .settings import Settings, get_settings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from .api import AdminApi
    from .auth import PartnerCredential
    from .catalog import CatalogCache, SkuReferenceLoader
    from .events import EventQueue
    from .graph import GraphClient
    from .partner_center import PartnerCenterClient
    from .planning import Planner
    from .secrets import RefreshTokenRotation
    from .store import TransferStore
    from .timer import Timer
    from .webhooks import WebhookVerifier
    from .workflow import Workflow

T = TypeVar("T")


class Services:
    def __init__(
        self,
        settings: Settings,
        *,
        verify: bool | str | None = None,
        vault_credential: TokenCredential | None = None,
    ) -> None:
        """``vault_credential`` reaches Key Vault; by default the app's managed identity."""
        self.settings = settings
        self._verify = verify
        self._vault_credential = vault_credential
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()
        from . import telemetry

        telemetry.configure(settings)  # once per process; imports nothing without a connection string

    def _once(self, name: str, build: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._built:
                self._built[name] = build()
            value: T = self._built[name]
            return value

    @property
    def store(self) -> TransferStore:
        def build() -> TransferStore:
            from .store import TransferStore

            store = TransferStore.connect(self.settings.storage)
            store.ensure_table()
            return store

        return self._once("store", build)

    @property
    def queue(self) -> EventQueue:
        from .events import EventQueue

        return self._once("queue", lambda: EventQueue.connect(self.settings.storage))

    @property
    def credential(self) -> PartnerCredential:
        """One credential for both services: one token cache, one rotated refresh token."""

        def build() -> PartnerCredential:
            from .auth import PartnerCredential
            from .transport import make_session

            s = self.settings
            return PartnerCredential(
                tenant_id=s.partner_tenant_id,
                client_id=s.partner_client_id,
                client_secret=s.partner_client_secret,
                refresh_token=s.partner_refresh_token,
                authority_host=s.authority_host,
                session=make_session(self._verify),
                on_refresh_token=self.token_rotation,
            )

        return self._once("credential", build)

    @property
    def token_rotation(self) -> RefreshTokenRotation | None:
        """Writes rotated refresh tokens back to Key Vault; None when no secret URI is set."""

        def build() -> RefreshTokenRotation | None:
            uri = self.settings.partner_refresh_token_secret_uri
            if uri is None:
                return None
            from .secrets import KeyVaultRefreshTokenStore, RefreshTokenRotation

            credential = self._vault_credential or self.settings.storage.identity()
            return RefreshTokenRotation(KeyVaultRefreshTokenStore(uri, credential, verify=self._verify))

        return self._once("token_rotation", build)

    @property
    def partner_center(self) -> PartnerCenterClient:
        from .partner_center import PartnerCenterClient

        endpoint = self.settings.partner_center_endpoint
        return self._once(
            "partner_center", lambda: PartnerCenterClient(endpoint, self.credential, verify=self._verify)
        )

    @property
    def graph(self) -> GraphClient:
        from .graph import GraphClient

        endpoint = self.settings.graph_endpoint
        return self._once("graph", lambda: GraphClient(endpoint, self.credential, verify=self._verify))

    @property
    def catalogs(self) -> CatalogCache:
        from .catalog import CatalogCache

        return self._once("catalogs", lambda: CatalogCache(self.partner_center))

    @property
    def sku_reference(self) -> SkuReferenceLoader:
        from .catalog import SkuReferenceLoader

        return self._once("sku_reference", lambda: SkuReferenceLoader(self.settings.sku_reference_url))

    @property
    def planner(self) -> Planner:
        def build() -> Planner:
            from .planning import Planner

            return Planner(self.graph, self.catalogs, self.sku_reference, self.settings.partner_tenant_id)

        return self._once("planner", build)

    @property
    def workflow(self) -> Workflow:
        return self._once("workflow", self.new_workflow)

    def new_workflow(self, **options: Any) -> Workflow:
        """A workflow over these services; ``options`` (a clock, a poll interval, a planner) are for tests."""
        from .workflow import Workflow

        return Workflow(
            store=self.store,
            partner_center=self.partner_center,
            graph=self.graph,
            queue=self.queue,
            partner_tenant_id=self.settings.partner_tenant_id,
            partner_country=self.settings.partner_country,
            expiry_lead_days=self.settings.expiry_lead_days,
            **{"planner": lambda: self.planner, "max_dequeue_count": max_dequeue_count(), **options},
        )

    @property
    def timer(self) -> Timer:
        return self._once("timer", self.new_timer)

    def new_timer(self, **options: Any) -> Timer:
        """The timer over these services; ``options`` (a clock, thresholds) are for tests."""
        from datetime import UTC, datetime, timedelta

        from .timer import Timer

        return Timer(
            store=self.store,
            partner_center=self.partner_center,
            graph=self.graph,
            queue=self.queue,
            **{
                "clock": lambda: datetime.now(UTC),
                "cutover_lead": timedelta(days=self.settings.expiry_lead_days),
                **options,
            },
        )

    @property
    def webhooks(self) -> WebhookVerifier:
        from .webhooks import verifier_from_settings

        return self._once("webhooks", lambda: verifier_from_settings(self.settings))

    @property
    def admin(self) -> AdminApi:
        from .api import AdminApi

        return self._once(
            "admin",
            lambda: AdminApi(
                self.store,
                workflow=lambda: self.workflow,
                planner=lambda: self.planner,
                webhooks=lambda: self.webhooks,
            ),
        )

    def close(self) -> None:
        with self._lock:
            for name in ("partner_center", "graph", "queue", "token_rotation"):
                part = self._built.pop(name, None)
                if part is not None:
                    part.close()
            self._built.clear()


@cache
def max_dequeue_count() -> int:
    """host.json's ``maxDequeueCount``: on that delivery the workflow records the failure."""
    host = json.loads((Path(__file__).resolve().parents[1] / "host.json").read_text())
    return int(host.get("extensions", {}).get("queues", {}).get("maxDequeueCount", 5))


@cache
def services() -> Services:
    """The process-wide services over the environment's settings."""
    return Services(get_settings())
