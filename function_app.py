"""Every entry point of the product: routes, queues and schedules, each handing off to shared/.

Admin routes need a function key (the app's default auth level). The core is imported on first
call, not at import time, so the worker indexes this module quickly on a cold start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import azure.functions as func

if TYPE_CHECKING:
    from shared.api import AdminApi
    from shared.problems import ApiResponse

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="transfers", methods=["GET"])
def list_transfers(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(lambda: _admin().list_transfers(req.params))


@app.route(route="transfers/{id}", methods=["GET"])
def get_transfer(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(lambda: _admin().get_transfer(req.route_params["id"], req.params))


@app.route(route="transfers/{id}/plan", methods=["GET"])
def plan_transfer(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(lambda: _admin().plan_transfer(req.route_params["id"]))


def _admin() -> AdminApi:
    from shared.api import admin_api

    return admin_api()


def _respond(handler: Callable[[], ApiResponse]) -> func.HttpResponse:
    """Every route answers through here: what the handler raises becomes a problem, never a bare 500."""
    from shared.problems import answer

    response = answer(handler)
    return func.HttpResponse(
        body=response.encoded(),
        status_code=response.status,
        headers=dict(response.headers),
        mimetype=response.content_type,
    )
