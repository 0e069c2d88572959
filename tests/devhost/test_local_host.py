"""The local host running tests/devhost/sample_app.py against Azurite, over real sockets."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from devhost.azurite import Azurite
from devhost.host import FUNCTION_KEYS_SETTING, ROOT, HostError, LocalHost, start_local_host
from tests.devhost import sample_app

SAMPLE = "tests.devhost.sample_app"
NEVER = "0 0 0 1 1 *"  # midnight on New Year's Day: never during a test
MAX_DEQUEUE = 3


@pytest.fixture
def host_json(tmp_path: Path) -> Path:
    """Queue semantics shortened so a retry cycle takes about a second."""
    path = tmp_path / "host.json"
    queues = {
        "batchSize": 4,
        "newBatchThreshold": 2,
        "visibilityTimeout": "00:00:01",
        "maxDequeueCount": MAX_DEQUEUE,
        "maxPollingInterval": "00:00:00.200",
        "messageEncoding": "base64",
    }
    path.write_text(
        json.dumps({"version": "2.0", "extensions": {"queues": queues, "http": {"routePrefix": "api"}}})
    )
    return path


@pytest.fixture
def settings(azurite: Azurite) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": azurite.connection_string,
        "SAMPLE_QUEUE": f"sample-{uuid.uuid4().hex[:12]}",
        "SAMPLE_SCHEDULE": NEVER,
    }


@pytest.fixture
def start_host(settings: dict[str, str], host_json: Path) -> Iterator[Callable[..., LocalHost]]:
    started: list[LocalHost] = []

    def start(**overrides: str) -> LocalHost:
        host = LocalHost(SAMPLE, settings={**settings, **overrides}, host_json=host_json, stop_grace_s=2)
        started.append(host.start())
        return host

    sample_app.received.clear()
    sample_app.ticks.clear()
    yield start
    for host in started:
        host.stop()


def queue(settings: dict[str, str], name: str | None = None) -> QueueClient:
    return QueueClient.from_connection_string(
        settings["AzureWebJobsStorage"],
        name or settings["SAMPLE_QUEUE"],
        message_encode_policy=TextBase64EncodePolicy(),
    )


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def bodies() -> list[bytes]:
    return [message.get_body() for message in sample_app.received]


# ---------------------------------------------------------------------------------------- HTTP


def test_http_call_reaches_the_function_with_route_params_query_headers_and_body(start_host):
    host = start_host()
    response = requests.post(
        f"{host.url}/api/items/abc/notes/7?verbose=1", data=b"hello", headers={"X-Sample": "on"}, timeout=5
    )
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Echo"] == "yes"
    assert response.json() == {
        "method": "POST",
        "route": {"item": "abc", "note": "7"},
        "params": {"verbose": "1"},
        "header": "on",
        "body": "hello",
    }


def test_the_request_log_never_holds_a_function_key_given_in_the_url(start_host, caplog):
    host = start_host()
    with caplog.at_level(logging.DEBUG, logger="devhost"):
        response = requests.get(f"{host.url}/api/items/abc/notes/7?code=s3cret-key&verbose=1", timeout=5)

    assert response.status_code == 201
    assert "/api/items/abc/notes/7?code=***&verbose=1" in caplog.text
    assert "s3cret-key" not in caplog.text


def test_queue_output_binding_is_written_after_the_function_returns(start_host, settings):
    host = start_host()
    requests.post(f"{host.url}/api/items/a/notes/1", data=b'{"n": 1}', timeout=5).raise_for_status()
    [written] = queue(settings, settings["SAMPLE_QUEUE"] + "-echoed").peek_messages()
    assert base64.b64decode(written.content) == b'{"n": 1}'


def test_request_outside_the_routes_or_methods_is_not_found(start_host):
    host = start_host()
    assert requests.get(f"{host.url}/api/items/abc/notes/seven", timeout=5).status_code == 404
    assert requests.delete(f"{host.url}/api/items/abc/notes/7", timeout=5).status_code == 404
    assert requests.get(f"{host.url}/items/abc/notes/7", timeout=5).status_code == 404


def test_a_method_the_server_does_not_know_is_not_found_like_any_other_miss(start_host):
    host = start_host()
    for method in ("TRACE", "QUERY", "PROPFIND"):
        assert requests.request(method, f"{host.url}/api/items/abc/notes/7", timeout=5).status_code == 404


def test_given_a_key_the_host_refuses_function_routes_and_its_admin_api_without_it(settings, host_json):
    url = "/api/items/abc/notes/7"
    keyed = {**settings, FUNCTION_KEYS_SETTING: json.dumps({"tests": "k3y"})}
    with LocalHost(SAMPLE, settings=keyed, host_json=host_json, stop_grace_s=2) as host:
        refused = [
            requests.get(f"{host.url}{url}", headers=h, timeout=5) for h in ({}, {"x-functions-key": "k"})
        ]
        admitted = [
            requests.get(f"{host.url}{url}", headers={"x-functions-key": "k3y"}, timeout=5),
            requests.get(f"{host.url}{url}?code=k3y", timeout=5),
        ]
        admin = requests.get(f"{host.url}/admin/functions", timeout=5)

    assert [r.status_code for r in refused] == [401, 401]
    assert [r.status_code for r in admitted] == [201, 201]
    assert admin.status_code == 401


def test_function_that_raises_answers_500_with_a_plain_body(start_host):
    response = requests.get(f"{start_host().url}/api/broken", timeout=5)
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "text/plain"
    assert "this route always fails" not in response.text


# ---------------------------------------------------------------------------------------- queues


def test_queue_message_is_delivered_once_decoded_and_deleted(start_host, settings):
    start_host()
    queue(settings).send_message('{"event": "invitation-accepted"}')
    wait_for(lambda: len(sample_app.received) == 1)
    time.sleep(0.5)  # room for a wrong second delivery
    [message] = sample_app.received
    assert message.get_body() == b'{"event": "invitation-accepted"}'
    assert message.dequeue_count == 1
    assert message.id
    assert message.pop_receipt
    assert message.insertion_time is not None
    assert message.expiration_time is not None
    assert message.insertion_time < message.expiration_time
    wait_for(lambda: queue(settings).get_queue_properties().approximate_message_count == 0)
    assert queue(settings, settings["SAMPLE_QUEUE"] + "-poison").peek_messages() == []


def test_failing_message_is_retried_then_moved_to_the_poison_queue(start_host, settings):
    start_host()
    queue(settings).send_message("please fail")
    poison = queue(settings, settings["SAMPLE_QUEUE"] + "-poison")
    wait_for(lambda: len(poison.peek_messages()) == 1, timeout_s=15)
    assert [m.dequeue_count for m in sample_app.received] == list(range(1, MAX_DEQUEUE + 1))
    assert bodies() == [b"please fail"] * MAX_DEQUEUE
    [moved] = poison.peek_messages()
    assert moved.content == base64.b64encode(b"please fail").decode()  # copied as stored
    assert queue(settings).peek_messages() == []


def test_message_whose_visibility_the_function_changed_is_left_alone(start_host, settings, monkeypatch):
    for name in ("AzureWebJobsStorage", "SAMPLE_QUEUE"):
        monkeypatch.setenv(name, settings[name])
    start_host()
    queue(settings).send_message("defer me")
    wait_for(lambda: len(sample_app.received) == 2)
    assert [m.dequeue_count for m in sample_app.received] == [1, 2]
    wait_for(lambda: queue(settings).get_queue_properties().approximate_message_count == 0)
    assert queue(settings, settings["SAMPLE_QUEUE"] + "-poison").peek_messages() == []


def test_messages_run_concurrently_and_each_once(start_host, settings):
    start_host()
    sender = queue(settings)
    for index in range(6):
        sender.send_message(f"message {index}")
    wait_for(lambda: len(sample_app.received) == 6)
    assert sorted(bodies()) == [f"message {index}".encode() for index in range(6)]


def test_message_not_in_base64_goes_straight_to_poison_without_reaching_the_function(start_host, settings):
    start_host()
    QueueClient.from_connection_string(
        settings["AzureWebJobsStorage"], settings["SAMPLE_QUEUE"]
    ).send_message("not base64!")
    poison = queue(settings, settings["SAMPLE_QUEUE"] + "-poison")
    wait_for(lambda: len(poison.peek_messages()) == 1, timeout_s=2)
    assert sample_app.received == []
    assert queue(settings).peek_messages() == []


def test_stop_lets_a_running_message_finish_and_settle(start_host, settings):
    host = start_host()
    queue(settings).send_message("slow work")
    wait_for(lambda: host.in_flight.count > 0)
    host.stop()
    assert bodies() == [b"slow work"]
    assert queue(settings).get_queue_properties().approximate_message_count == 0


def test_chunked_request_body_reaches_the_function(start_host):
    host = start_host()
    chunks = iter([b"hel", b"lo"])
    response = requests.post(f"{host.url}/api/items/a/notes/1", data=chunks, timeout=5)
    assert response.json()["body"] == "hello"


# ---------------------------------------------------------------------------------------- timers


def test_timer_runs_on_the_schedule_named_by_a_setting(start_host):
    start_host(SAMPLE_SCHEDULE="* * * * * *")  # every second
    wait_for(lambda: len(sample_app.ticks) >= 2, timeout_s=5)
    assert sample_app.ticks[0].past_due is False


def test_missing_schedule_setting_stops_the_start(settings, host_json):
    del settings["SAMPLE_SCHEDULE"]
    with pytest.raises(HostError, match="SAMPLE_SCHEDULE"):
        LocalHost(SAMPLE, settings=settings, host_json=host_json).start()


# ---------------------------------------------------------------------------------------- admin API


def test_admin_lists_every_function_with_its_trigger(start_host, settings):
    listing = requests.get(f"{start_host().url}/admin/functions", timeout=5).json()
    triggers = {item["name"]: item["trigger"] for item in listing}
    assert triggers == {
        "echo": "httpTrigger",
        "broken": "httpTrigger",
        "record": "queueTrigger",
        "tick": "timerTrigger",
    }
    [echo] = [item for item in listing if item["name"] == "echo"]
    assert echo["invoke_url_template"].endswith("/api/items/{item}/notes/{note:int}")
    [record] = [item for item in listing if item["name"] == "record"]
    assert record["config"]["bindings"][0]["queueName"] == "%SAMPLE_QUEUE%"


def test_admin_runs_a_queue_function_with_the_input_as_message_body(start_host, settings):
    host = start_host()
    response = requests.post(f"{host.url}/admin/functions/record", json={"input": '{"id": 1}'}, timeout=5)
    assert response.status_code == 202
    wait_for(lambda: bodies() == [b'{"id": 1}'])
    assert sample_app.received[0].dequeue_count == 1


def test_admin_runs_a_timer_on_demand(start_host):
    host = start_host()
    assert requests.post(f"{host.url}/admin/functions/tick", json={"input": ""}, timeout=5).status_code == 202
    wait_for(lambda: len(sample_app.ticks) == 1)


def test_admin_refuses_unknown_and_http_functions(start_host):
    host = start_host()
    assert requests.post(f"{host.url}/admin/functions/nope", json={"input": ""}, timeout=5).status_code == 404
    assert requests.post(f"{host.url}/admin/functions/echo", json={"input": ""}, timeout=5).status_code == 400


# ---------------------------------------------------------------------------------------- subprocess


def test_subprocess_host_serves_then_stops_cleanly(settings, host_json):
    with start_local_host(settings, app_module=SAMPLE, host_json=host_json) as handle:
        assert requests.get(f"{handle.url}/api/items/a/notes/1", timeout=5).status_code == 201
        assert handle.info["functions"] == ["broken", "echo", "record", "tick"]
    assert handle.process.returncode == 0
    assert not handle.log.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(handle.pid, 0)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("AzureWebJobsStorage", "AccountKey=s3cret;garbage"),
        ("TRANSFER_SCAN_SCHEDULE", "every five minutes"),
        (FUNCTION_KEYS_SETTING, '["s3cret"]'),
    ],
)
def test_a_malformed_setting_stops_the_host_with_one_line_naming_it(settings, setting, value, tmp_path):
    environment = {
        **os.environ,
        "AzureWebJobsStorage": settings["AzureWebJobsStorage"],
        "TRANSFER_SCAN_SCHEDULE": "0 */5 * * * *",
        setting: value,
    }
    command = [
        sys.executable,
        "-m",
        "devhost",
        "--port",
        "0",
        "--local-settings",
        str(tmp_path / "none.json"),
    ]

    ended = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, timeout=60, check=False)

    assert ended.returncode == 2
    assert ended.stdout == b""
    said = ended.stderr.decode()
    assert "Traceback" not in said
    assert setting in said.strip().splitlines()[-1]
    assert "s3cret" not in said


def test_subprocess_host_can_be_killed(settings, host_json):
    handle = start_local_host(settings, app_module=SAMPLE, host_json=host_json)
    handle.kill()
    assert handle.process.returncode == -9
    handle.close()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{handle.url}/admin/functions", timeout=2)
    assert "local host at" in handle.log.read_text()  # kept after a kill, for the post-mortem
    handle.log.unlink()
