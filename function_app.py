"""Every entry point of the product: routes, queues and schedules, each handing off to shared/.

Admin routes need a function key (the app's default auth level); the webhook route also checks
Partner Center's signature; the dashboard's files and the OpenAPI description are anonymous, as are
the answers to a path no route has (404) and to a method a route does not take (405), problems like
every other error (their routes: :mod:`shared.api.routes`). The core is imported on first call, not
at import time, so the worker indexes this module quickly on a cold start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import azure.functions as func

from shared.api.routes import METHODS, unknown_route, wrong_method_route

if TYPE_CHECKING:
    from shared.api.admin import AdminApi
    from shared.api.problems import ApiResponse
    from shared.bootstrap import Services

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="transfers", methods=["POST"])
def start_transfer(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(lambda: _admin().start_transfer(req.get_body()))


@app.route(route="transfers", methods=["GET"])
def list_transfers(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(lambda: _admin().list_transfers(req.params))


@app.route(route="transfers/{id}", methods=["GET"])
def get_transfer(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(lambda: _admin().get_transfer(req.route_params["id"], req.params))


@app.route(route="transfers/{id}/plan", methods=["GET"])
def plan_transfer(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(lambda: _admin().plan_transfer(req.route_params["id"]))


@app.route(route="transfers/{id}/approve", methods=["POST"])
def approve_transfer(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(lambda: _admin().approve(req.route_params["id"], req.get_body()))


@app.route(route="transfers/{id}/retry", methods=["POST"])
def retry_transfer(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(lambda: _admin().retry(req.route_params["id"], req.get_body()))


@app.route(route="transfers/{id}/cancel", methods=["POST"])
def cancel_transfer(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(lambda: _admin().cancel(req.route_params["id"], req.get_body()))


@app.route(route="transfers/{id}/lines/{lineId}/failures", methods=["GET"])
def line_failures(req: func.HttpRequest) -> func.HttpResponse:
    """The line's failed users, named through Graph as the page asks (never stored)."""
    return _respond(lambda: _admin().line_failures(req.route_params["id"], req.route_params["lineId"]))


@app.route(route="tenants", methods=["GET"])
def find_tenant(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(lambda: _admin().tenant(req.params))


@app.route(route="webhooks/partner-center", methods=["POST"])
def partner_center_webhook(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(lambda: _admin().receive_webhook(req.headers, req.get_body()))


@app.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(lambda: _admin().openapi())


@app.route(route="dashboard/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def dashboard(req: func.HttpRequest) -> func.HttpResponse:
    """The page shell only: its data comes from the routes above, with the function key."""
    answer = _services().dashboard.file(
        req.route_params.get("path"), urlsplit(req.url).path, req.headers.get("If-None-Match")
    )
    return func.HttpResponse(
        body=answer.body,
        status_code=answer.status,
        headers=dict(answer.headers),
        mimetype=answer.content_type,
    )


_GET, _POST, _GET_OR_POST = (
    wrong_method_route(allowed) for allowed in (("GET",), ("POST",), ("GET", "POST"))
)


@app.route(route=unknown_route(), methods=list(METHODS), auth_level=func.AuthLevel.ANONYMOUS)
def unknown_path(req: func.HttpRequest) -> func.HttpResponse:
    from shared.api.problems import route_not_found

    return _respond(lambda: route_not_found(urlsplit(req.url).path))


@app.route(route=_GET[0], methods=_GET[1], auth_level=func.AuthLevel.ANONYMOUS)
def get_only(req: func.HttpRequest) -> func.HttpResponse:
    return _wrong_method(req.method, ("GET",))


@app.route(route=_POST[0], methods=_POST[1], auth_level=func.AuthLevel.ANONYMOUS)
def post_only(req: func.HttpRequest) -> func.HttpResponse:
    return _wrong_method(req.method, ("POST",))


@app.route(route=_GET_OR_POST[0], methods=_GET_OR_POST[1], auth_level=func.AuthLevel.ANONYMOUS)
def get_or_post_only(req: func.HttpRequest) -> func.HttpResponse:
    return _wrong_method(req.method, ("GET", "POST"))


@app.queue_trigger(arg_name="msg", queue_name="transfer-events", connection="AzureWebJobsStorage")
def on_transfer_event(msg: func.QueueMessage) -> None:
    _services().runner.handle_message(msg.get_body(), msg.dequeue_count or 1)


@app.timer_trigger(arg_name="timer", schedule="%TRANSFER_SCAN_SCHEDULE%")
def scan_transfers(timer: func.TimerRequest) -> None:
    from shared.workflow.runner import run_scan

    run_scan(_services().timer)


def _services() -> Services:
    from shared.bootstrap import services

    return services()


def _admin() -> AdminApi:
    return _services().admin


def _wrong_method(method: str, allowed: tuple[str, ...]) -> func.HttpResponse:
    from shared.api.problems import method_not_allowed

    return _respond(lambda: method_not_allowed(method, allowed))


def _respond(answer: Callable[[], ApiResponse]) -> func.HttpResponse:
    from shared.api.problems import answer as within_boundary

    response = within_boundary(answer)
    return func.HttpResponse(
        body=response.encoded(),
        status_code=response.status,
        headers=response.sent_headers,
        mimetype=response.content_type,
    )
