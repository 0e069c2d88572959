"""What the workflow exports, read back from the OpenTelemetry SDK's in-memory exporters: a transfer
run against Azurite and the sandbox, with the SDK in place of Azure Monitor."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from devhost.azurite import Azurite
from sandbox.testing import SandboxHandle
from shared import telemetry
from shared.bootstrap import Services
from shared.workflow.runner import StepFailedError
from tests.fixtures.app import pump, routes
from tests.workflow.test_cutover import (
    days_until_lapse,
    on_sandbox_time,
    provisioned,
    timer_on_sandbox_time,
)
from tests.workflow.transfers import (
    acceptance,
    acceptance_message,
    accepted,
    record,
    started,
    started_and_accepted,
)

STEP_PROPERTIES = {"transfer_id", "step", "outcome", "duration_ms"}


@dataclass
class Exported:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    logs: InMemoryLogRecordExporter

    def step_records(self, transfer_id: str) -> list[dict[str, Any]]:
        found = [dict(x.log_record.attributes or {}) for x in self.logs.get_finished_logs()]
        return [a for a in found if a.get("transfer_id") == transfer_id and "step" in a]

    def counter(self, name: str) -> dict[tuple[tuple[str, Any], ...], float]:
        """The counter's sums by attribute set (empty when it never counted)."""
        data = self.metrics.get_metrics_data()
        sums: dict[tuple[tuple[str, Any], ...], float] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == f"{telemetry.SCOPE}.{name}":
                        for point in metric.data.data_points:
                            sums[tuple(sorted((point.attributes or {}).items()))] = point.value  # type: ignore[union-attr]
        return sums

    def text(self) -> str:
        """Everything exported, as the exporters would serialize it."""
        data = self.metrics.get_metrics_data()
        return "\n".join(
            [
                *(x.to_json() for x in self.logs.get_finished_logs()),
                *(x.to_json() for x in self.spans.get_finished_spans()),
                data.to_json() if data else "",
            ]
        )


@pytest.fixture
def exported() -> Iterator[Exported]:
    """The SDK's in-memory exporters behind telemetry and the ``shared`` loggers (through the
    logging handler the distro installs), for one test."""
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]  # the SDK leaves it unannotated
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    meter_provider = MeterProvider(metric_readers=[reader])
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    handler = LoggingHandler(logger_provider=logger_provider)
    logger = logging.getLogger(telemetry.EXPORTED_LOGGER)
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    telemetry.enable(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        yield Exported(spans, reader, logs)
    finally:
        telemetry.disable()
        logger.removeHandler(handler)
        logger.setLevel(level)
        for provider in (tracer_provider, meter_provider, logger_provider):
            provider.shutdown()


def test_a_transfer_exports_one_record_per_step_counts_its_purchases_and_swaps_and_no_secret(
    services: Services, sandbox: SandboxHandle, azurite: Azurite, exported: Exported
) -> None:
    customer = sandbox.customer("fabrikam")
    body = {"customerTenantId": customer, "customerCountry": "US", "sourceChannel": "Direct"}
    body["contactEmail"] = "it@fabrikam.example"  # an address the records must not carry
    answer = routes(services).start_transfer(json.dumps(body).encode())
    transfer_id = answer.body["id"]
    sandbox.accept_invitation(customer)
    accepted(services, answer.body)
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))
    sandbox.advance_clock(days=days_until_lapse(sandbox, record(services, transfer_id)) - 3)
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))

    done = record(services, transfer_id)
    assert done["state"] == "Completed", done["reason"]
    steps = exported.step_records(transfer_id)
    assert all(set(x) >= STEP_PROPERTIES for x in steps)
    assert all(x["outcome"] in ("done", "waiting") and x["duration_ms"] >= 0 for x in steps)
    names = [x["step"] for x in steps]
    assert {"confirm_acceptance", "plan_lines", "create_cart", "check_out", "cut_over", "complete"} <= set(
        names
    )
    step_spans = [s for s in exported.spans.get_finished_spans() if s.name.startswith("step ")]
    assert sorted(s.name for s in step_spans if _attr(s, "transfer_id") == transfer_id) == sorted(
        f"step {name}" for name in names
    )  # one record per step run, each with its span

    orders = {order for line in done["lines"] for order in line["orderIds"]}
    assert exported.counter("purchases") == {(): len(orders)}
    assert exported.counter("license_swaps") == {(): sum(x["licenses"]["moved"] for x in done["lines"])}
    assert exported.counter("failures") == {}

    text = exported.text()
    assert sandbox.client_secret not in text
    assert sandbox.refresh_token not in text
    assert "@" not in text  # no UPN, no contact address, no URL with credentials


def test_every_call_to_partner_center_and_graph_is_a_span_with_its_request_and_correlation_ids(
    services: Services, sandbox: SandboxHandle, azurite: Azurite, exported: Exported
) -> None:
    _, transfer = started_and_accepted(services, sandbox)
    accepted(services, transfer)
    pump(azurite, services)

    spans = exported.spans.get_finished_spans()
    calls = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert {_attr(s, "csp.service") for s in calls} == {"Partner Center", "Graph"}
    assert all(_attr(s, "csp.request_id") and _attr(s, "csp.correlation_id") for s in calls)
    assert all(_attr(s, "http.response.status_code") for s in calls)
    assert not any("url.full" in (s.attributes or {}) for s in calls)  # a template, never the URL
    steps = {s.context.span_id: s for s in spans if s.name.startswith("step ")}
    checkout = [s for s in calls if str(_attr(s, "url.template")).endswith("/checkout")]
    assert checkout
    assert all(s.parent and s.parent.span_id in steps for s in checkout)


def test_a_throttled_step_is_recorded_as_throttled_and_counted_as_a_throttling_wait(
    services: Services, sandbox: SandboxHandle, exported: Exported
) -> None:
    _, transfer = started_and_accepted(services, sandbox)
    sandbox.add_fault(
        "status", service="partner_center", method="POST", path="/carts$", status=429, retry_after="6"
    )
    event = acceptance(transfer)

    services.runner.handle_message(json.dumps(event.to_json()), dequeue_count=1)

    last = exported.step_records(transfer["id"])[-1]
    assert (last["step"], last["outcome"]) == ("create_cart", "throttled")
    assert exported.counter("throttling_waits") == {(("step", "create_cart"),): 1}
    assert exported.counter("failures") == {}


def test_a_cutover_graph_throttles_counts_a_throttling_wait_and_the_users_moved_so_far(
    services: Services, sandbox: SandboxHandle, azurite: Azurite, exported: Exported
) -> None:
    transfer = provisioned(services, sandbox, azurite)
    sandbox.advance_clock(days=days_until_lapse(sandbox, transfer) - 3)
    sandbox.add_fault(
        "error", service="graph", method="POST", path=r"^/v1\.0/users/.*/assignLicense$", status=429,
        code="TooManyRequests", times=-1, skip=1, retry_after="120",
    )  # fmt: skip
    timer_on_sandbox_time(services, sandbox).scan()
    pump(azurite, services, runner=on_sandbox_time(services, sandbox))

    cut_over = [x for x in exported.step_records(transfer["id"]) if x["step"] == "cut_over"]
    assert cut_over[-1]["outcome"] == "waiting"
    assert exported.counter("throttling_waits") == {(("step", "cut_over"),): 1}
    moved = sum(x["licenses"]["moved"] for x in record(services, transfer["id"])["lines"])
    assert exported.counter("license_swaps") == {(): moved}


@pytest.mark.slow
def test_a_failed_step_is_recorded_as_failed_by_its_error_type_and_counted(
    services: Services, sandbox: SandboxHandle, exported: Exported
) -> None:
    _, transfer = started_and_accepted(services, sandbox)
    sandbox.add_fault("status", service="partner_center", method="POST", path="/carts$", status=503, times=-1)
    event = acceptance_message(transfer)

    with pytest.raises(StepFailedError):
        services.runner.handle_message(event, dequeue_count=1)  # the host retries it
    with pytest.raises(StepFailedError):
        services.runner.handle_message(event, dequeue_count=5)  # the last delivery: recorded

    last = exported.step_records(transfer["id"])[-1]
    assert (last["step"], last["outcome"]) == ("create_cart", "failed")
    assert exported.counter("failures") == {
        (("final", False), ("step", "create_cart")): 1,
        (("final", True), ("step", "create_cart")): 1,
    }
    failed = [s for s in exported.spans.get_finished_spans() if s.name == "step create_cart"][-1]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == _attr(failed, "error.type")  # the type, not the message


def _attr(span: ReadableSpan, name: str) -> Any:
    return (span.attributes or {}).get(name)


def test_a_step_that_blocks_the_transfer_is_recorded_as_blocked(
    services: Services, sandbox: SandboxHandle, exported: Exported
) -> None:
    customer = sandbox.customer("fabrikam")
    transfer = started(services, customer)
    sandbox.accept_invitation(customer, approve_gdap=False)
    sandbox.approve_gdap(customer, roles=["Directory Readers", "Cloud Application Administrator"])
    event = acceptance(transfer)  # no License Administrator: the check before planning blocks

    services.runner.handle_message(json.dumps(event.to_json()), dequeue_count=1)

    last = exported.step_records(transfer["id"])[-1]
    assert (last["step"], last["outcome"]) == ("verify_access", "blocked")


NOTICE_PROPERTIES = {"transfer_id", "line_id", "notice", "lapses_on"}  # what the originals alert reads


def test_a_notice_about_an_original_is_exported_with_the_properties_its_alert_reads_and_no_step(
    exported: Exported,
) -> None:
    telemetry.original_notice(
        "0" * 32, "18181a46-0d4e-45cd-891e-60aabd171b4e", "lapse-at-risk", datetime(2031, 5, 6, tzinfo=UTC)
    )

    found = [dict(x.log_record.attributes or {}) for x in exported.logs.get_finished_logs()]
    [notice] = [a for a in found if "notice" in a]
    assert {k: notice[k] for k in NOTICE_PROPERTIES} == {
        "transfer_id": "0" * 32,
        "line_id": "18181a46-0d4e-45cd-891e-60aabd171b4e",
        "notice": "lapse-at-risk",
        "lapses_on": "2031-05-06",
    }
    assert "step" not in notice  # the stuck-transfer alert reads step records only
