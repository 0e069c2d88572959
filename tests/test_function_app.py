"""function_app.py through its real entry points, with the store on Azurite."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from functools import cache
from typing import Any

import azure.functions as func
import pytest

import function_app
from devhost.host import RouteTemplate
from shared.api.routes import METHODS, ROUTES, unknown_route, wrong_method_route
from shared.domain import Change, HistoryEntry, SourceChannel, Transfer, TransferState, new_transfer_id
from shared.store.repository import TransferStore
from tests.fixtures.app import clear_process_caches

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@cache
def indexed() -> list[tuple[str, dict[str, Any]]]:
    """Each function's name and trigger, as the worker indexes them (once: a second indexing fails)."""
    return [
        (
            str(f.get_function_name()),
            next(b for b in json.loads(f.get_function_json())["bindings"] if b["type"].endswith("Trigger")),
        )
        for f in function_app.app.get_functions()
    ]


def test_app_indexes_every_entry_point_with_unique_names_and_function_keys() -> None:
    names = [name for name, _ in indexed()]
    triggers = dict(indexed())

    assert len(names) == len(set(names))
    routes = {
        name: (t["route"], t["methods"], t["authLevel"])
        for name, t in triggers.items()
        if t["type"] == "httpTrigger"
    }
    assert routes == {
        "start_transfer": ("transfers", ["POST"], "FUNCTION"),
        "list_transfers": ("transfers", ["GET"], "FUNCTION"),
        "get_transfer": ("transfers/{id}", ["GET"], "FUNCTION"),
        "plan_transfer": ("transfers/{id}/plan", ["GET"], "FUNCTION"),
        "approve_transfer": ("transfers/{id}/approve", ["POST"], "FUNCTION"),
        "retry_transfer": ("transfers/{id}/retry", ["POST"], "FUNCTION"),
        "cancel_transfer": ("transfers/{id}/cancel", ["POST"], "FUNCTION"),
        "line_failures": ("transfers/{id}/lines/{lineId}/failures", ["GET"], "FUNCTION"),
        "find_tenant": ("tenants", ["GET"], "FUNCTION"),
        "partner_center_webhook": ("webhooks/partner-center", ["POST"], "FUNCTION"),
        "openapi_document": ("openapi.json", ["GET"], "ANONYMOUS"),
        "dashboard": ("dashboard/{*path}", ["GET"], "ANONYMOUS"),
        "unknown_path": (unknown_route(), list(METHODS), "ANONYMOUS"),
        **{
            name: (*wrong_method_route(allowed), "ANONYMOUS")
            for name, allowed in (
                ("get_only", ("GET",)),
                ("post_only", ("POST",)),
                ("get_or_post_only", ("GET", "POST")),
            )
        },
    }
    taken: dict[str, set[str]] = {}
    for name, (template, methods, _) in routes.items():
        if name != "unknown_path" and not name.endswith("_only"):
            taken.setdefault(template, set()).update(methods)
    assert taken == {template: set(methods) for template, methods in ROUTES}  # the table is the app's
    queue = triggers["on_transfer_event"]
    assert (queue["type"], queue["queueName"], queue["connection"]) == (
        "queueTrigger",
        "transfer-events",
        "AzureWebJobsStorage",
    )
    assert triggers["scan_transfers"]["schedule"] == "%TRANSFER_SCAN_SCHEDULE%"


SOME_ID = "019a7c3e5f2b4c8d9e0f1a2b3c4d5e6f"
SOME_LINE = "6fd2c87f-b296-42f0-b197-1e91e994b900"
KNOWN_PATHS = [
    template.replace("{id}", SOME_ID).replace("{lineId}", SOME_LINE).replace("{*path}", "index.html")
    for template, _ in ROUTES
] + ["dashboard", "dashboard/", "dashboard/a/b.css", "transfers/", "Transfers/" + SOME_ID]
UNKNOWN_PATHS = [
    "nope",
    "transfer",
    "tenants/x",
    "openapi.jsonx",
    "webhooks",
    "webhooks/partner-center/x",
    f"transfers/{SOME_ID}/nope",
    f"transfers/{SOME_ID}/plan/x",
    f"transfers/{SOME_ID}/lines/{SOME_LINE}",
    f"transfers/{SOME_ID}/lines/{SOME_LINE}/failures/x",
    "transfers/a/b/c/d/e/f",
    "api/transfers",
]


def test_every_path_and_method_has_exactly_one_function_to_answer_it() -> None:
    """The Functions host tries routes in the order it registered them, not by ASP.NET's
    precedence: no request may match two functions, or the answer would depend on that order."""
    routes = [
        (name, RouteTemplate.parse(trigger["route"]), trigger["methods"])
        for name, trigger in indexed()
        if trigger["type"] == "httpTrigger"
    ]
    allowed = {t.replace("{*path}", "index.html"): m for t, m in ROUTES}

    for path in KNOWN_PATHS + UNKNOWN_PATHS:
        for method in METHODS:
            owners = [
                name for name, route, methods in routes if method in methods and route.match(path) is not None
            ]
            assert len(owners) == 1, (method, path, owners)
            if path in UNKNOWN_PATHS:
                assert owners == ["unknown_path"], (method, path)
            elif path in allowed and method not in allowed[path]:
                assert owners[0].endswith("_only"), (method, path, owners)


def start(store: TransferStore, state: TransferState = TransferState.AWAITING_ACCEPTANCE) -> Transfer:
    transfer = Transfer(
        id=new_transfer_id(),
        customer_tenant_id=str(uuid.uuid4()),
        customer_country="US",
        source_channel=SourceChannel.OPEN,
        state=state,
        created_at=T0,
        updated_at=T0,
        contact_email="it@fabrikam.example",
    )
    return store.create(transfer, history=HistoryEntry(at=T0, action="created", message="started")).transfer


def call(function: object, url: str, **route: str) -> tuple[int, str, dict[str, Any]]:
    request = func.HttpRequest(
        method="GET",
        url=url,
        body=b"",
        route_params=route,
        params=dict(p.split("=", 1) for p in url.partition("?")[2].split("&") if p),
    )
    response = function(request)  # type: ignore[operator]
    return response.status_code, response.mimetype, json.loads(response.get_body())


def test_get_transfer_returns_header_lines_and_history(app_store: TransferStore) -> None:
    transfer = start(app_store)

    status, mimetype, body = call(function_app.get_transfer, f"/api/transfers/{transfer.id}", id=transfer.id)

    assert (status, mimetype) == (200, "application/json")
    assert body["id"] == transfer.id
    assert body["state"] == "AwaitingAcceptance"
    assert body["lines"] == []
    assert [h["action"] for h in body["history"]] == ["created"]
    assert body["historyContinuationToken"] is None


def test_unknown_transfer_is_a_404_problem(app_store: TransferStore) -> None:
    missing = new_transfer_id()

    status, mimetype, body = call(function_app.get_transfer, f"/api/transfers/{missing}", id=missing)

    assert (status, mimetype) == (404, "application/problem+json")
    assert body["title"] == "Transfer not found"
    assert missing in body["detail"]


def test_malformed_transfer_id_is_a_400_problem(app_store: TransferStore) -> None:
    status, mimetype, body = call(function_app.get_transfer, "/api/transfers/x%2F..", id="x/..")

    assert (status, mimetype) == (400, "application/problem+json")
    assert "32 lowercase hex digits" in body["detail"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("state=Sleeping", "state"),
        ("pageSize=0", "pageSize"),
        ("pageSize=ten", "pageSize"),
        ("continuationToken=bm90LWEtdG9rZW4", "continuationToken"),
    ],
)
def test_malformed_list_filter_is_a_400_problem_naming_the_parameter(
    app_store: TransferStore, query: str, parameter: str
) -> None:
    status, mimetype, body = call(function_app.list_transfers, f"/api/transfers?{query}")

    assert (status, mimetype) == (400, "application/problem+json")
    assert body["parameter"] == parameter


def test_list_filters_by_state_and_pages_with_a_continuation_token(app_store: TransferStore) -> None:
    waiting = sorted(start(app_store).id for _ in range(5))
    for _ in range(2):
        record = app_store.get(start(app_store).id)
        moved, entry = record.transfer.move(TransferState.ACCEPTED, at=T0, actor="test")
        app_store.commit(record, Change(moved, history=(entry,)))

    seen: list[str] = []
    url = "/api/transfers?state=AwaitingAcceptance&pageSize=2"
    while True:
        status, _, body = call(function_app.list_transfers, url)
        assert status == 200
        seen.extend(item["id"] for item in body["items"])
        if not body["continuationToken"]:
            break
        token = body["continuationToken"]
        url = f"/api/transfers?state=AwaitingAcceptance&pageSize=2&continuationToken={token}"

    assert seen == waiting[::-1]  # newest first


@pytest.mark.slow
def test_a_long_history_is_paged_not_returned_in_one_body(app_store: TransferStore) -> None:
    transfer = start(app_store)
    for _ in range(50):  # 1 + 50 x 99 = 4,951 history rows
        record = app_store.get(transfer.id)
        notes = tuple(HistoryEntry(at=T0, action="note", message="x" * 300) for _ in range(99))
        app_store.commit(record, Change(record.transfer, history=notes))

    status, _, first = call(function_app.get_transfer, f"/api/transfers/{transfer.id}", id=transfer.id)
    seqs = [h["seq"] for h in first["history"]]
    token = first["historyContinuationToken"]
    while token:
        url = f"/api/transfers/{transfer.id}?historyPageSize=1000&historyContinuationToken={token}"
        status, _, page = call(function_app.get_transfer, url, id=transfer.id)
        assert status == 200
        assert len(page["history"]) <= 1000
        seqs.extend(h["seq"] for h in page["history"])
        token = page["historyContinuationToken"]

    assert len(first["history"]) == 100
    assert seqs == list(range(1, 4952))


def test_a_broken_storage_setting_is_a_503_problem_naming_it(
    app_store: TransferStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "c2VjcmV0LWFjY291bnQta2V5"
    monkeypatch.setenv(
        "AzureWebJobsStorage",
        f"DefaultEndpointsProtocol=http;AccountName=a;AccountKey={key};EndpointSuffix=x.net",
    )
    clear_process_caches()

    request = func.HttpRequest(method="GET", url="/api/transfers", body=b"", params={})
    response = function_app.list_transfers(request)
    body = json.loads(response.get_body())

    assert (response.status_code, response.mimetype) == (503, "application/problem+json")
    assert (body["title"], body["setting"]) == ("Configuration error", "AzureWebJobsStorage")
    assert key not in response.get_body().decode()


@pytest.mark.parametrize(
    ("function", "url", "status"),
    [
        (function_app.list_transfers, "/api/transfers", 200),
        (function_app.list_transfers, "/api/transfers?pageSize=0", 400),
        (function_app.get_transfer, f"/api/transfers/{'0' * 32}", 404),
        (function_app.openapi_document, "/api/openapi.json", 200),
    ],
)
def test_every_api_answer_is_neither_sniffed_nor_cached(
    app_store: TransferStore, function: object, url: str, status: int
) -> None:
    query = url.partition("?")[2]
    params = dict(p.split("=", 1) for p in query.split("&") if p)
    request = func.HttpRequest(method="GET", url=url, body=b"", route_params={"id": "0" * 32}, params=params)
    response = function(request)  # type: ignore[operator]

    assert response.status_code == status
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Cache-Control") == "no-store"
