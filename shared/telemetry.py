"""Logs, traces and metrics for Application Insights, through OpenTelemetry and Azure Monitor.

Nothing here imports OpenTelemetry until :func:`configure` finds a connection string (or a test
calls :func:`enable`): a cold start without telemetry pays for none of it, and every call below is
then a flag check. What is recorded is ids, step names, outcomes, durations and counts; never a
token, a secret, a UPN, a user id or a body. The distro's HTTP instrumentations stay off because
they record full URLs, and a Graph path or filter may hold a UPN; our own span per outgoing call
carries the operation's template and its request and correlation ids instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from opentelemetry.metrics import Counter, MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

LOG = logging.getLogger(__name__)
#: The instrumentation scope of our spans and metrics, and the logger tree that is exported.
SCOPE = "csp_transfer"
EXPORTED_LOGGER = "shared"
#: The distro's instrumentations that would record full URLs; the Azure SDK's stays on (storage only).
_URL_RECORDING = ("requests", "urllib", "urllib3", "httpx", "django", "fastapi", "flask", "psycopg2")

Outcome = Literal["done", "waiting", "blocked", "failed", "throttled"]


@dataclass(frozen=True, slots=True)
class _Instruments:
    tracer: Tracer
    purchases: Counter
    license_swaps: Counter
    failures: Counter
    throttling_waits: Counter


_instruments: _Instruments | None = None
_configured = False  # the distro installs global providers: once per process
_lock = threading.Lock()


def configure(connection_string: str | None, *, entra: bool = False, client_id: str | None = None) -> bool:
    """Export to Application Insights when its connection string is set; once per process. With
    ``entra``, ingestion authenticates with the app's managed identity (``client_id``), as the host
    does; otherwise the connection string's key does.

    The exporters send from background threads, so an unreachable endpoint delays nothing here.
    """
    global _configured
    if connection_string is None:
        return False
    with _lock:
        if _configured:
            return True
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(
            connection_string=connection_string,
            credential=_credential(client_id) if entra else None,
            logger_name=EXPORTED_LOGGER,
            instrumentation_options={name: {"enabled": False} for name in _URL_RECORDING},
        )
        exported = logging.getLogger(EXPORTED_LOGGER)
        if exported.level == logging.NOTSET:  # the step records are INFO, whatever the root's level
            exported.setLevel(logging.INFO)
        _enable(None, None)
        _configured = True
    return True


def _credential(client_id: str | None) -> TokenCredential:
    from azure.identity import ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=client_id)


def enable(
    *, tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
) -> None:
    """Record through the given providers, or the global ones :func:`configure` installed."""
    with _lock:
        _enable(tracer_provider, meter_provider)


def disable() -> None:
    """Stop recording: every call below is a no-op again."""
    global _instruments
    with _lock:
        _instruments = None


def _enable(tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None) -> None:
    global _instruments
    from opentelemetry import metrics, trace

    meter = metrics.get_meter(SCOPE, meter_provider=meter_provider)
    _instruments = _Instruments(
        tracer=trace.get_tracer(SCOPE, tracer_provider=tracer_provider),
        purchases=meter.create_counter(
            f"{SCOPE}.purchases", unit="{order}", description="Partner Center orders placed"
        ),
        license_swaps=meter.create_counter(
            f"{SCOPE}.license_swaps", unit="{user}", description="users moved to a replacement license"
        ),
        failures=meter.create_counter(
            f"{SCOPE}.failures", unit="{failure}", description="workflow steps that failed"
        ),
        throttling_waits=meter.create_counter(
            f"{SCOPE}.throttling_waits", unit="{wait}", description="throttled steps put back on the queue"
        ),
    )


@dataclass(slots=True)
class StepRun:
    """The running step's outcome: "done" unless the step says it waits, halts the transfer
    ("blocked", "failed": the alerts in infra/ watch these), or raises."""

    outcome: Outcome = "done"


@contextmanager
def step(transfer_id: str, name: str) -> Iterator[StepRun]:
    """One structured log record (and, when enabled, one span) per workflow step.

    The record's ``extra`` properties are ``transfer_id``, ``step``, ``outcome`` and
    ``duration_ms``; an exception is "failed" unless the caller set another outcome before it
    propagated ("throttled"); its type is named, its message is not: a service's message may quote
    a UPN.
    """
    run = StepRun()
    started = time.perf_counter()
    failure: str | None = None
    with _span(f"step {name}", {"transfer_id": transfer_id, "step": name}) as span:
        try:
            yield run
        except Exception as error:
            if run.outcome == "done":
                run.outcome = "failed"
            failure = type(error).__name__
            raise
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            if span is not None:
                span.set_attribute("outcome", run.outcome)
                if failure and run.outcome == "failed":
                    _mark_failed(span, failure)
            LOG.log(
                logging.WARNING if run.outcome == "failed" else logging.INFO,
                "transfer %s: step %s %s in %.0f ms%s",
                transfer_id,
                name,
                run.outcome,
                duration_ms,
                f" ({failure})" if failure else "",
                extra={
                    "transfer_id": transfer_id,
                    "step": name,
                    "outcome": run.outcome,
                    "duration_ms": duration_ms,
                },
            )


@contextmanager
def _span(name: str, attributes: dict[str, str], *, client: bool = False) -> Iterator[Span | None]:
    """The current span for a block when telemetry is on; exceptions are marked by the caller,
    by type only, because the SDK would record their messages."""
    instruments = _instruments
    if instruments is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    with instruments.tracer.start_as_current_span(
        name,
        kind=SpanKind.CLIENT if client else SpanKind.INTERNAL,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def _mark_failed(span: Span, error_type: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", error_type)
    span.set_status(Status(StatusCode.ERROR, error_type))


class CallSpan:
    """The span of one outgoing call (absent when telemetry is off): its answer is added to it."""

    def __init__(self, span: Span | None) -> None:
        self._span = span

    def answered(self, status: int, request_id: str | None) -> None:
        if self._span is not None:
            self._span.set_attribute("http.response.status_code", status)
            if request_id:
                self._span.set_attribute("csp.request_id", request_id)

    def failed(self, error: BaseException) -> None:
        if self._span is not None:
            _mark_failed(self._span, type(error).__name__)


@contextmanager
def outgoing_call(
    service: str, method: str, template: str, *, request_id: str | None, correlation_id: str | None
) -> Iterator[CallSpan]:
    """A client span per attempt to Partner Center or Graph, under the current step's span.

    It carries the operation's path template (never the URL) and the ``MS-RequestId`` and
    ``MS-CorrelationId`` the call was sent with, so a trace can be matched with the service's logs.
    """
    attributes = {"http.request.method": method, "url.template": template, "csp.service": service}
    if request_id:
        attributes["csp.request_id"] = request_id
    if correlation_id:
        attributes["csp.correlation_id"] = correlation_id
    with _span(f"{service} {method} {template}", attributes, client=True) as span:
        yield CallSpan(span)


def count_purchases(orders: int) -> None:
    """Orders placed with Partner Center."""
    if _instruments is not None and orders > 0:
        _instruments.purchases.add(orders)


def count_license_swaps(users: int) -> None:
    """Users moved from an original license to its replacement."""
    if _instruments is not None and users > 0:
        _instruments.license_swaps.add(users)


def count_failure(step_name: str, *, final: bool) -> None:
    """A step that failed; ``final`` when the transfer was marked failed (no retry left)."""
    if _instruments is not None:
        _instruments.failures.add(1, {"step": step_name, "final": final})


def count_throttling_wait(step_name: str) -> None:
    """A throttled step put back on the queue to run after the service's ``Retry-After``."""
    if _instruments is not None:
        _instruments.throttling_waits.add(1, {"step": step_name})


def original_notice(transfer_id: str, line_id: str, notice: str, lapses_on: datetime) -> None:
    """One structured record per notice about an original bought elsewhere: ``lapse-at-risk`` (its
    line is not moved, its transfer halted), ``renewed`` or ``renewal-reminder``. The alert in
    infra/app/alerts.bicep watches these; its properties are ``transfer_id``, ``line_id`` (the
    source SKU id), ``notice`` and ``lapses_on``."""
    LOG.warning(
        "transfer %s: line %s: original %s, lapses on %s",
        transfer_id,
        line_id,
        notice,
        f"{lapses_on:%Y-%m-%d}",
        extra={
            "transfer_id": transfer_id,
            "line_id": line_id,
            "notice": notice,
            "lapses_on": f"{lapses_on:%Y-%m-%d}",
        },
    )
