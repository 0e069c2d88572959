"""A small app for the local host's tests: a route with parameters, a queue that records, a timer."""

from __future__ import annotations

import json
import os
import threading
import time

import azure.functions as func
from azure.storage.queue import QueueClient

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

received: list[func.QueueMessage] = []
ticks: list[func.TimerRequest] = []
_lock = threading.Lock()


@app.route(route="items/{item}/notes/{note:int}", methods=["GET", "POST"])
@app.queue_output(arg_name="echoed", queue_name="%SAMPLE_QUEUE%-echoed", connection="AzureWebJobsStorage")
def echo(req: func.HttpRequest, echoed: func.Out[str]) -> func.HttpResponse:
    seen = {
        "method": req.method,
        "route": dict(req.route_params),
        "params": dict(req.params),
        "header": req.headers.get("x-sample"),
        "body": req.get_body().decode(),
    }
    if seen["body"]:
        echoed.set(seen["body"])
    return func.HttpResponse(
        json.dumps(seen), status_code=201, headers={"X-Echo": "yes"}, mimetype="application/json"
    )


@app.route(route="broken", methods=["GET"])
def broken(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("this route always fails")


@app.queue_trigger(arg_name="msg", queue_name="%SAMPLE_QUEUE%", connection="AzureWebJobsStorage")
def record(msg: func.QueueMessage) -> None:
    if b"slow" in msg.get_body():
        time.sleep(1)
    with _lock:
        received.append(msg)
    if b"fail" in msg.get_body():
        raise ValueError("a message marked to fail")
    if b"defer" in msg.get_body() and msg.dequeue_count == 1 and msg.id:
        # Hide the message again itself, as a step that waits does: the host must not delete it.
        queue = QueueClient.from_connection_string(
            os.environ["AzureWebJobsStorage"], os.environ["SAMPLE_QUEUE"]
        )
        queue.update_message(msg.id, msg.pop_receipt, visibility_timeout=1)


@app.timer_trigger(arg_name="timer", schedule="%SAMPLE_SCHEDULE%", run_on_startup=False)
def tick(timer: func.TimerRequest) -> None:
    with _lock:
        ticks.append(timer)
