"""Telemetry's start-up: nothing imported without a connection string, nothing blocking with one.

Each check runs in a fresh interpreter: what a cold start imports, and what configuring the Azure
Monitor distro does to a process, cannot be seen from inside the test run.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import AppInsights, SettingError, Settings

ROOT = Path(__file__).resolve().parents[1]
CONNECTION_STRING = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
    "IngestionEndpoint=https://127.0.0.1:{port}/;LiveEndpoint=https://127.0.0.1:{port}/"
)
CLIENT_ID = "11111111-2222-3333-4444-555555555555"


def run_python(code: str, env: dict[str, str], timeout: float = 60) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def clean_environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPLICATIONINSIGHTS_", "OTEL_"))}
    env["TMPDIR"] = str(tmp_path)  # where the exporter keeps what it could not send
    return env


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_a_cold_start_without_a_connection_string_imports_no_opentelemetry(tmp_path: Path) -> None:
    code = """
import sys
import function_app
import shared.bootstrap
from shared.settings import get_settings
shared.bootstrap.Services(get_settings())
print(sorted(m for m in sys.modules if m.startswith(("opentelemetry", "azure.monitor"))))
"""
    assert run_python(code, clean_environment(tmp_path)).strip() == "[]"


def test_configuring_with_an_unreachable_endpoint_neither_blocks_nor_crashes_start_up(tmp_path: Path) -> None:
    env = clean_environment(tmp_path)
    env["APPLICATIONINSIGHTS_CONNECTION_STRING"] = CONNECTION_STRING.format(port=closed_port())
    env["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] = f"ClientId={CLIENT_ID};Authorization=AAD"
    code = """
import json, logging, time
started = time.perf_counter()
from shared import bootstrap, telemetry
from shared.settings import get_settings
bootstrap.Services(get_settings())
configured = time.perf_counter() - started
from opentelemetry import metrics, trace
with telemetry.step("0123456789abcdef0123456789abcdef", "check_out"):
    telemetry.count_purchases(1)
logging.getLogger("shared.workflow").warning("recorded while the endpoint is down")
print(json.dumps({
    "configured_s": configured,
    "tracer": type(trace.get_tracer_provider()).__module__,
    "meter": type(metrics.get_meter_provider()).__module__,
    "handlers": [type(h).__name__ for h in logging.getLogger("shared").handlers],
    "level": logging.getLogger("shared.workflow").getEffectiveLevel(),
}))
"""
    result = json.loads(run_python(code, env).strip().splitlines()[-1])  # exits: shutdown does not hang

    assert result["configured_s"] < 10  # imports only: nothing is sent while starting
    assert result["tracer"].startswith("opentelemetry.sdk")
    assert result["meter"].startswith("opentelemetry.sdk")
    assert "LoggingHandler" in result["handlers"]
    assert result["level"] == logging.INFO  # the step records are exported whatever the root's level


INSIGHTS = "InstrumentationKey=00000000-0000-4000-8000-000000000001"


def test_app_insights_is_off_without_a_connection_string() -> None:
    assert Settings({"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=AAD"}).app_insights is None


def test_app_insights_ingests_with_the_identity_named_in_the_authentication_string() -> None:
    settings = Settings(
        {
            "APPLICATIONINSIGHTS_CONNECTION_STRING": INSIGHTS,
            "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": f"ClientId={CLIENT_ID};Authorization=AAD",
        }
    )
    assert settings.app_insights == AppInsights(INSIGHTS, entra=True, client_id=CLIENT_ID)
    assert Settings({"APPLICATIONINSIGHTS_CONNECTION_STRING": INSIGHTS}).app_insights == (
        AppInsights(INSIGHTS)
    )


@pytest.mark.parametrize("value", ["garbage", "InstrumentationKey=x;IngestionEndpoint=https://in.example"])
def test_a_connection_string_without_an_instrumentation_key_names_the_setting(value: str) -> None:
    with pytest.raises(SettingError) as refused:
        _ = Settings({"APPLICATIONINSIGHTS_CONNECTION_STRING": value}).app_insights

    assert refused.value.setting == "APPLICATIONINSIGHTS_CONNECTION_STRING"
    assert "in.example" not in str(refused.value)


@pytest.mark.parametrize("value", ["Authorization=Key", "ClientId=not-a-guid;Authorization=AAD", "AAD"])
def test_a_malformed_authentication_string_names_the_setting(value: str) -> None:
    settings = Settings(
        {
            "APPLICATIONINSIGHTS_CONNECTION_STRING": INSIGHTS,
            "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": value,
        }
    )
    with pytest.raises(SettingError) as refused:
        _ = settings.app_insights
    assert refused.value.setting == "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"
