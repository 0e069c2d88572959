"""The composition root: every service the triggers need, built once per process from the settings.

Each part is built on first use, so a route that only lists transfers starts without the partner's
secrets, and a cold start imports nothing it does not call. Tests build their own ``Services``
from a settings mapping instead of patching anything.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from shared.settings import Settings, get_settings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.api.admin import AdminApi
    from shared.api.dashboard import Dashboard
    from shared.api.webhooks import WebhookVerifier
    from shared.clients.auth import PartnerCredential
    from shared.clients.delegated_admin import DelegatedAdminClient
    from shared.clients.graph import GraphClient
    from shared.clients.partner_center import PartnerCenterClient
    from shared.clients.secrets import RefreshTokenRotation
    from shared.store.queue import EventQueue
    from shared.store.repository import TransferStore
    from shared.workflow.context import StepContext
    from shared.workflow.intake import Intake
    from shared.workflow.planning import Planner
    from shared.workflow.runner import Runner
    from shared.workflow.sources import CatalogCache, SkuReferenceLoader
    from shared.workflow.timer import Timer

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
        from shared import telemetry

        insights = settings.app_insights  # once per process; imports nothing without a connection string
        if insights is not None:
            telemetry.configure(
                insights.connection_string, entra=insights.entra, client_id=insights.client_id
            )

    def _once(self, name: str, build: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._built:
                self._built[name] = build()
            value: T = self._built[name]
            return value

    @property
    def store(self) -> TransferStore:
        def build() -> TransferStore:
            from shared.clients.calls import call_timeouts
            from shared.store.repository import TransferStore

            store = TransferStore.connect(self.settings.storage, budget=call_timeouts)
            store.ensure_table()
            return store

        return self._once("store", build)

    @property
    def queue(self) -> EventQueue:
        """Bounded, as the store is, by the deadline of the route or step that sends."""
        from shared.clients.calls import call_timeouts
        from shared.store.queue import EventQueue

        return self._once("queue", lambda: EventQueue.connect(self.settings.storage, budget=call_timeouts))

    @property
    def credential(self) -> PartnerCredential:
        """One credential for both services: one token cache, one rotated refresh token."""

        def build() -> PartnerCredential:
            from shared.clients.auth import PartnerCredential
            from shared.clients.http import make_session

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
            from shared.clients.secrets import KeyVaultRefreshTokenStore, RefreshTokenRotation

            credential = self._vault_credential or self.settings.storage.identity()
            return RefreshTokenRotation(KeyVaultRefreshTokenStore(uri, credential, verify=self._verify))

        return self._once("token_rotation", build)

    @property
    def partner_center(self) -> PartnerCenterClient:
        from shared.clients.partner_center import PartnerCenterClient

        def build() -> PartnerCenterClient:
            from shared.clients.calls import call_timeouts
            from shared.store.connection import TABLE_STORAGE, client_options
            from shared.store.quota import SharedQuota
            from shared.store.repository import TABLE_NAME

            s = self.settings  # the bucket's storage is asked once a call, no retries: it never holds one up
            table = s.storage.table(
                TABLE_NAME, **client_options(TABLE_STORAGE, call_timeouts) | {"retry_total": 0}
            )
            pacer = SharedQuota(table, "partner-center", s.quotas[0])
            return PartnerCenterClient(
                s.partner_center_endpoint, self.credential, verify=self._verify, pacer=pacer
            )

        return self._once("partner_center", build)

    @property
    def graph(self) -> GraphClient:
        from shared.clients.graph import GraphClient

        endpoint = self.settings.graph_endpoint
        return self._once("graph", lambda: GraphClient(endpoint, self.credential, verify=self._verify))

    @property
    def delegated_admin(self) -> DelegatedAdminClient:
        """GDAP from the partner's own tenant: relationships and access assignments."""
        from shared.clients.delegated_admin import DelegatedAdminClient

        s = self.settings
        return self._once(
            "delegated_admin",
            lambda: DelegatedAdminClient(
                s.graph_endpoint, self.credential, partner_tenant_id=s.partner_tenant_id, verify=self._verify
            ),
        )

    @property
    def catalogs(self) -> CatalogCache:
        from shared.workflow.sources import CatalogCache

        return self._once("catalogs", lambda: CatalogCache(self.partner_center))

    @property
    def sku_reference(self) -> SkuReferenceLoader:
        from shared.workflow.sources import SkuReferenceLoader

        return self._once("sku_reference", lambda: SkuReferenceLoader(self.settings.sku_reference_url))

    @property
    def planner(self) -> Planner:
        def build() -> Planner:
            from shared.workflow.planning import Planner

            return Planner(
                self.graph,
                self.catalogs,
                self.sku_reference,
                self.settings.partner_tenant_id,
                qualifications=self.partner_center,
            )

        return self._once("planner", build)

    @property
    def context(self) -> StepContext:
        """What every step is handed (and the admin use cases): stores, clients, planner, clock."""
        return self._once("context", self.step_context)

    def step_context(self, **overrides: Any) -> StepContext:
        """A step context over these services; ``overrides`` (a clock, a planner, a poll interval)
        are for tests."""
        from shared.workflow.context import Access, Partner, StepContext

        s = self.settings
        built = StepContext(
            store=self.store,
            partner_center=self.partner_center,
            graph=self.graph,
            queue=self.queue,
            planner=self.planner,
            partner=Partner(s.partner_tenant_id, s.partner_country),
            delegated_admin=self.delegated_admin,
            access=Access(s.gdap_security_group_id, s.partner_client_id, s.gdap_after_completion),
            cutover_lead=timedelta(days=s.expiry_lead_days),
            graph_write_quota=s.quotas[1],
        )
        return replace(built, **overrides) if overrides else built

    @property
    def runner(self) -> Runner:
        return self._once("runner", self.new_runner)

    def new_runner(self, **overrides: Any) -> Runner:
        """The queue trigger's runner; ``overrides`` of its context are for tests."""
        from shared.workflow.runner import Runner

        return Runner(self.step_context(**overrides), max_dequeue_count=max_dequeue_count())

    @property
    def timer(self) -> Timer:
        return self._once("timer", self.new_timer)

    def new_timer(
        self,
        *,
        stuck_after: timedelta | None = None,
        point_reads_up_to: int = 50,
        originals_read_every: timedelta | None = None,
        **overrides: Any,
    ) -> Timer:
        """The timer; its thresholds and ``overrides`` of its context (a clock) are for tests."""
        from shared.workflow.timer import Timer

        if originals_read_every is None:
            originals_read_every = timedelta(hours=self.settings.originals_read_hours)
        return Timer(
            self.step_context(**overrides),
            stuck_after=stuck_after or timedelta(minutes=30),
            point_reads_up_to=point_reads_up_to,
            originals_read_every=originals_read_every,
        )

    @property
    def intake(self) -> Intake:
        """Webhooks into queue messages: the store and the queue only, no client or secret."""
        from shared.workflow.intake import Intake

        return self._once("intake", lambda: Intake(self.store, self.queue))

    @property
    def webhooks(self) -> WebhookVerifier:
        from shared.api.webhooks import WebhookVerifier

        s = self.settings
        return self._once("webhooks", lambda: WebhookVerifier(s.webhook_cert_hosts, s.webhook_trust_roots))

    @property
    def admin(self) -> AdminApi:
        from shared.api.admin import AdminApi

        return self._once(
            "admin",
            lambda: AdminApi(
                self.store,
                context=lambda: self.context,
                intake=lambda: self.intake,
                webhooks=lambda: self.webhooks,
                attention_lead=timedelta(days=self.settings.expiry_lead_days),
            ),
        )

    @property
    def dashboard(self) -> Dashboard:
        """The dashboard's files; the start form checks the region against the partner's country,
        which stays unset (the API checks) when the setting is missing."""
        from shared.api.dashboard import Dashboard
        from shared.settings import SettingError

        try:
            country: str | None = self.settings.partner_country
        except SettingError:
            country = None
        return self._once("dashboard", lambda: Dashboard(country))

    def close(self) -> None:
        with self._lock:
            for name in ("partner_center", "graph", "delegated_admin", "queue", "token_rotation"):
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
