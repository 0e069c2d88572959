"""The OpenAPI description stays true: a valid document that documents every registered route and
the contract's answers, whose examples and the API's real answers all fit its schemas."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from shared import bootstrap
from shared.api.admin import AdminApi
from shared.api.openapi import openapi_document
from shared.api.problems import ApiResponse, answer
from shared.catalog.deciding import plan_transfer
from shared.catalog.inventory import Inventory
from shared.catalog.offers import Catalog, CatalogItem
from shared.domain import (
    Change,
    HistoryEntry,
    Line,
    LineState,
    Refund,
    RefundItem,
    Replacement,
    SourceChannel,
    Transfer,
    TransferOptions,
    TransferState,
    UserFailure,
    new_transfer_id,
)
from shared.store.repository import TransferStore
from tests.catalog.builders import (
    BUSINESS_STANDARD,
    FLOW_FREE,
    O365_E1,
    O365_E3,
    O365_E3_NO_TEAMS,
    PARTNER_TENANT,
    TEAMS_ENTERPRISE,
    offer,
    subscribed_sku,
    subscription,
    subset_reference,
)

DOCUMENT = openapi_document()
BASE_URI = "urn:csp-transfer:openapi"
REGISTRY: Registry[Any] = Registry().with_resource(
    BASE_URI, Resource.from_contents(DOCUMENT, default_specification=DRAFT202012)
)
ROOT = Path(__file__).resolve().parents[2]
INDEX_SCRIPT = (
    "import json, function_app; functions = function_app.app.get_functions(); "
    "print(json.dumps([json.loads(f.get_function_json())['bindings'] for f in functions]))"
)
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
NOT_API = {"dashboard/{*path}"}  # the dashboard's page and files, for a browser; not part of the API

# The routes the design promises, with every status each one answers.
CONTRACT: dict[tuple[str, str], set[str]] = {
    ("get", "/transfers"): {"200", "400", "401", "503"},
    ("post", "/transfers"): {"201", "400", "401", "409", "422", "502", "503"},
    ("get", "/transfers/{id}"): {"200", "400", "401", "404", "503"},
    ("get", "/transfers/{id}/plan"): {"200", "400", "401", "404", "409", "502", "503"},
    ("post", "/transfers/{id}/approve"): {"200", "400", "401", "404", "409", "503"},
    ("post", "/transfers/{id}/retry"): {"202", "400", "401", "404", "409", "503"},
    ("post", "/transfers/{id}/cancel"): {"200", "400", "401", "404", "409", "502", "503"},
    ("get", "/transfers/{id}/lines/{lineId}/failures"): {"200", "400", "401", "404", "409", "502", "503"},
    ("get", "/tenants"): {"200", "400", "401", "404", "502", "503"},
    ("post", "/webhooks/partner-center"): {"200", "400", "401", "413", "503"},
    ("get", "/openapi.json"): {"200"},
}


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def resolve(node: Any) -> Any:
    """A Reference Object's target (references in this document are all local)."""
    if isinstance(node, dict) and "$ref" in node:
        return REGISTRY.resolver(BASE_URI).lookup(BASE_URI + node["$ref"]).contents
    return node


def validator_at(pointer: str) -> Draft202012Validator:
    """Validates against the schema at ``pointer``, its ``$ref``s resolved inside the document."""
    return Draft202012Validator(
        {"$ref": f"{BASE_URI}#{pointer}"},
        registry=REGISTRY,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def walk(node: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """Every node with its JSON pointer, without descending into example values."""
    yield pointer, node
    if isinstance(node, dict):
        for key, child in node.items():
            if key not in ("example", "examples"):
                yield from walk(child, f"{pointer}/{escape(key)}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from walk(child, f"{pointer}/{index}")


def documented_examples() -> Iterator[tuple[str, str, Any]]:
    """(where, schema pointer, value) for every example of a media type, parameter, header or schema."""
    for pointer, node in walk(DOCUMENT):
        if not isinstance(node, dict):
            continue
        if "schema" in node:
            if "example" in node:
                yield f"{pointer}/example", f"{pointer}/schema", node["example"]
            for name, example in node.get("examples", {}).items():
                yield f"{pointer}/examples/{name}", f"{pointer}/schema", resolve(example)["value"]
        elif isinstance(node.get("examples"), list):
            for index, value in enumerate(node["examples"]):
                yield f"{pointer}/examples/{index}", pointer, value


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOCUMENT["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


@cache
def registered_routes() -> list[tuple[str, str, str]]:
    """(method, OpenAPI path, auth level) for every HTTP route function_app registers.

    Indexed in a fresh interpreter, as the worker does: ``get_functions()`` refuses to run twice in
    one process, and tests/test_function_app.py runs it too.
    """
    indexed = subprocess.run(
        [sys.executable, "-c", INDEX_SCRIPT], cwd=ROOT, check=True, capture_output=True, text=True
    )
    routes: list[tuple[str, str, str]] = []
    for bindings in json.loads(indexed.stdout):
        trigger = next((b for b in bindings if b["type"] == "httpTrigger"), None)
        if trigger is None or trigger["route"] in NOT_API or trigger["route"].startswith("{*"):
            continue  # not the API: the dashboard, and the answers to what no route takes (404, 405)
        assert trigger.get("methods"), f"route {trigger['route']} must name its HTTP methods"
        path = "/" + re.sub(r"\{(\w+)(?::[^}?]*)?\??\}", r"{\1}", trigger["route"])
        routes.extend((method.lower(), path, trigger["authLevel"]) for method in trigger["methods"])
    return routes


def test_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"].startswith("3.1.")
    validate_openapi(dict(DOCUMENT))


def test_document_is_loaded_once_and_serves_as_json() -> None:
    assert openapi_document() is DOCUMENT
    assert json.loads(ApiResponse(200, openapi_document()).encoded()) == DOCUMENT


def test_server_url_is_the_hosts_route_prefix() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    prefix = host.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    assert [server["url"] for server in DOCUMENT["servers"]] == [f"/{prefix}"]


def test_version_is_the_projects() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert DOCUMENT["info"]["version"] == project["version"]


def test_every_registered_http_route_is_documented() -> None:
    routes = registered_routes()
    assert routes, "function_app registers no HTTP route"
    undocumented = [(m, p) for m, p, _ in routes if m not in DOCUMENT["paths"].get(p, {})]
    assert not undocumented, f"document these routes in shared/api/openapi.json: {undocumented}"


def test_documented_security_matches_each_routes_auth_level() -> None:
    schemes = DOCUMENT["components"]["securitySchemes"]
    key_schemes = {
        name
        for name, scheme in schemes.items()
        if (scheme.get("in"), scheme.get("name", "").lower())
        in {("header", "x-functions-key"), ("query", "code")}
    }
    assert key_schemes, "the function key is not documented as a security scheme"
    for method, path, auth_level in registered_routes():
        security = DOCUMENT["paths"][path][method].get("security", DOCUMENT["security"])
        needs_key = bool(security) and all(key_schemes & requirement.keys() for requirement in security)
        assert needs_key == (auth_level != "ANONYMOUS"), (method, path, auth_level, security)


def test_webhook_is_documented_as_verified_by_its_signature() -> None:
    operation = DOCUMENT["paths"]["/webhooks/partner-center"]["post"]
    schemes = DOCUMENT["components"]["securitySchemes"]
    for requirement in operation["security"]:
        assert any(schemes[name].get("name") == "Authorization" for name in requirement), requirement
    headers = {p["name"] for p in map(resolve, operation["parameters"]) if p["in"] == "header"}
    assert "X-MS-Certificate-Url" in headers


def test_documented_operations_are_the_contracts_with_their_statuses() -> None:
    documented = {(method, path): set(op["responses"]) for method, path, op in operations()}
    assert documented == CONTRACT
    throttled = resolve(DOCUMENT["paths"]["/transfers/{id}/plan"]["get"]["responses"]["503"])
    assert "Retry-After" in throttled["headers"]


def test_every_error_is_a_problem_and_every_success_is_json() -> None:
    """Except the host's own 401 for a missing or wrong function key (no body), and the list's CSV."""
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for method, path, operation in operations():
        for status, response in operation["responses"].items():
            content = resolve(response).get("content", {})
            if response == {"$ref": "#/components/responses/Unauthorized"}:
                assert content == {}, (method, path)
            elif int(status) >= 400:
                assert set(content) == {"application/problem+json"}, (method, path, status)
                assert content["application/problem+json"]["schema"] == problem_ref, (method, path, status)
            else:
                extra = {"text/csv"} if (method, path) == ("get", "/transfers") else set()
                assert set(content) == {"application/json", *extra}, (method, path, status)


def test_every_key_protected_operation_lists_401_and_every_one_that_reads_storage_503() -> None:
    for method, path, operation in operations():
        security = operation.get("security", DOCUMENT["security"])
        if security:
            assert {"401", "503"} <= set(operation["responses"]), (method, path)
    unavailable = resolve({"$ref": "#/components/responses/Unavailable"})
    assert "Retry-After" in unavailable["headers"]


def test_every_request_and_response_has_an_example() -> None:
    for method, path, operation in operations():
        bodies = [("request", resolve(operation["requestBody"]))] if "requestBody" in operation else []
        bodies += [(status, resolve(response)) for status, response in operation["responses"].items()]
        for what, body in bodies:
            for media_type, media in body.get("content", {}).items():
                has_example = media.get("example") is not None or media.get("examples")
                assert has_example, f"{method} {path} {what} {media_type} has no example"


def test_every_operation_id_is_unique() -> None:
    ids = [op["operationId"] for _, _, op in operations()]
    assert len(ids) == len(set(ids))


def test_every_shared_example_is_used() -> None:
    referenced = {
        example["$ref"].rpartition("/")[2]
        for _, node in walk(DOCUMENT)
        if isinstance(node, dict) and isinstance(node.get("examples"), dict)
        for example in node["examples"].values()
        if "$ref" in example
    }
    assert referenced == set(DOCUMENT["components"]["examples"])


@pytest.mark.parametrize(
    ("schema", "value"),
    [pytest.param(schema, value, id=where) for where, schema, value in documented_examples()],
)
def test_documented_example_fits_its_schema(schema: str, value: Any) -> None:
    validator_at(schema).validate(value)


def test_examples_are_checked_with_formats_and_closed_objects() -> None:
    """A wrong example is caught, so the example test can fail."""
    record = validator_at("/components/schemas/TransferRecord")
    example = resolve({"$ref": "#/components/examples/TransferCreated"})["value"]
    record.validate(example)
    for broken in (
        {**example, "customerTenantId": "contoso"},
        {**example, "createdAt": "yesterday"},
        {**example, "surprise": 1},
        {key: value for key, value in example.items() if key != "state"},
    ):
        assert not record.is_valid(broken)


# -- the real answers ----------------------------------------------------------------------------

T0 = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def assert_documented(method: str, path: str, response: ApiResponse) -> None:
    status = str(response.status)
    operation = DOCUMENT["paths"].get(path, {}).get(method)
    assert operation, f"{method} {path} is not documented"
    responses = operation["responses"]
    assert status in responses, f"{method} {path} answered an undocumented {status}"
    pointer = f"/paths/{escape(path)}/{method}/responses/{status}"
    if "$ref" in responses[status]:
        pointer = responses[status]["$ref"].removeprefix("#")
    assert response.content_type in resolve(responses[status])["content"]
    validator_at(f"{pointer}/content/{escape(response.content_type)}/schema").validate(response.body)


def started(store: TransferStore, **fields: Any) -> Transfer:
    transfer = Transfer(
        id=new_transfer_id(),
        customer_tenant_id=str(uuid.uuid4()),
        customer_country="US",
        source_channel=SourceChannel.DIRECT,
        state=TransferState.AWAITING_ACCEPTANCE,
        created_at=T0,
        updated_at=T0,
        **fields,
    )
    record = store.create(
        transfer, history=HistoryEntry(at=T0, action="created", message="started", actor="api")
    )
    return record.transfer


def blocked_with_lines(store: TransferStore) -> str:
    """A transfer with lines in several states, blocked with a reason: every optional field filled."""
    transfer = started(
        store,
        contact_email="it@contoso.example",
        invitation_url="https://admin.microsoft.com/Adminportal/Home?invType=ResellerRelationship",
        options=TransferOptions(term_duration="P3Y", billing_cycle="triennial"),
    )
    record = store.get(transfer.id)
    accepted, entry = record.transfer.move(TransferState.ACCEPTED, at=T0, actor="workflow")
    ordered = Line(
        transfer_id=transfer.id,
        source_sku_id=O365_E3,
        source_sku_part_number="ENTERPRISEPACK",
        quantity=25,
        state=LineState.ORDERED,
        original_expires=datetime(2026, 12, 31, tzinfo=UTC),
        decision="equivalent",
        replacements=(Replacement("CFQ7TTC046C3:0001:CFQ7TTC0KA85", O365_E3_NO_TEAMS, 25, "P1Y", "monthly"),),
        original_subscription_ids=(str(uuid.uuid4()),),
        explanation="Office 365 E3 is not sold in US; its successor replaces it.",
        order_ids=("b1c2d3e4",),
        subscription_ids=(str(uuid.uuid4()),),
        users_to_move=25,
        users_moved=3,
        users_failed=1,
        user_failures=(UserFailure(str(uuid.uuid4()), "no usage location", "group g: CountViolation", "g"),),
        groups_to_verify=(str(uuid.uuid4()),),
        cancellation_windows=((str(uuid.uuid4()), "2026-11-08T12:00:00+00:00"),),
        reminded_for=datetime(2026, 12, 24, tzinfo=UTC),
    )
    waiting, line_entry = Line(
        transfer_id=transfer.id, source_sku_id=O365_E1, source_sku_part_number="STANDARDPACK", quantity=4
    ).move(LineState.NEEDS_APPROVAL, at=T0, actor="workflow")
    record = store.commit(record, Change(accepted, lines=(ordered, waiting), history=(entry, line_entry)))
    halted, entry = record.transfer.move(
        TransferState.BLOCKED, at=T0, actor="workflow", reason="GDAP does not grant License Administrator"
    )
    at_risk = replace(halted, lapse_risk_on=datetime(2026, 12, 31, tzinfo=UTC))
    store.commit(record, Change(at_risk, history=(entry,)))
    return transfer.id


def test_listed_transfers_match_the_documented_page(app_store: TransferStore) -> None:
    started(app_store)
    started(app_store, contact_email="it@fabrikam.example")
    blocked_with_lines(app_store)
    admin = bootstrap.services().admin

    first = admin.list_transfers({"pageSize": "2"})
    rest = admin.list_transfers({"pageSize": "2", "continuationToken": first.body["continuationToken"]})

    assert (len(first.body["items"]), len(rest.body["items"])) == (2, 1)
    for page in (first, rest, admin.list_transfers({"state": "Blocked"})):
        assert_documented("get", "/transfers", page)


def test_a_full_record_matches_the_documented_record(app_store: TransferStore) -> None:
    transfer_id = blocked_with_lines(app_store)

    response = bootstrap.services().admin.get_transfer(transfer_id)

    assert response.status == 200
    assert {line["state"] for line in response.body["lines"]} == {"Ordered", "NeedsApproval"}
    assert response.body["resumeState"] == "Accepted"
    assert response.body["lapseRiskOn"] == "2026-12-31T00:00:00Z"
    assert_documented("get", "/transfers/{id}", response)


def test_a_record_cancelled_for_a_refund_matches_the_documented_record(app_store: TransferStore) -> None:
    record = app_store.get(started(app_store).id)
    cancelled, entry = record.transfer.cancel((), at=T0, actor="api", refunded=True)
    items = (
        RefundItem(str(uuid.uuid4()), str(uuid.uuid4()), "cancelled"),
        RefundItem(str(uuid.uuid4()), str(uuid.uuid4()), "refused", "Partner Center 400 3000: too late"),
    )
    app_store.commit(
        record, Change(replace(cancelled, refund=Refund(T0.isoformat(), items)), history=(entry,))
    )

    response = bootstrap.services().admin.get_transfer(record.transfer.id)

    assert [s["status"] for s in response.body["refund"]["subscriptions"]] == ["cancelled", "refused"]
    assert_documented("get", "/transfers/{id}", response)


@pytest.mark.parametrize(
    ("method", "path", "call"),
    [
        ("get", "/transfers/{id}", lambda admin: admin.get_transfer("x/..")),
        ("get", "/transfers/{id}", lambda admin: admin.get_transfer(new_transfer_id())),
        ("get", "/transfers/{id}/plan", lambda admin: admin.plan_transfer(new_transfer_id())),
        ("get", "/transfers", lambda admin: admin.list_transfers({"state": "Sleeping"})),
        ("get", "/transfers", lambda admin: admin.list_transfers({"pageSize": "0"})),
        ("get", "/transfers", lambda admin: admin.list_transfers({"continuationToken": "bm90LWEtdG9rZW4"})),
    ],
    ids=["bad-id", "unknown-id", "plan-of-unknown-id", "bad-state", "bad-page-size", "bad-token"],
)
def test_refusals_match_the_documented_problems(
    app_store: TransferStore, method: str, path: str, call: Callable[[AdminApi], ApiResponse]
) -> None:
    response = answer(lambda: call(bootstrap.services().admin))

    assert response.status in (400, 404)
    assert_documented(method, path, response)


def test_plan_refused_before_acceptance_matches_the_documented_problem(app_store: TransferStore) -> None:
    response = answer(lambda: bootstrap.services().admin.plan_transfer(started(app_store).id))

    assert response.status == 409
    assert_documented("get", "/transfers/{id}/plan", response)


def sold(*items: CatalogItem, country: str = "US") -> Catalog:
    return Catalog(country, items)


def owned(*skus: tuple[str, str, int], trial: tuple[str, str] | None = None) -> Inventory:
    reference = subset_reference()
    subscriptions = [subscription(sku, part, seats) for sku, part, seats in skus]
    if trial:
        subscriptions.append(subscription(*trial, 25, trial=True))
    pools = [subscribed_sku(reference, sku) for sku in {s.sku_id for s in subscriptions}]
    return Inventory.from_graph(subscriptions, pools, PARTNER_TENANT)


E3_TEAMS_PAIR = (
    offer(O365_E3_NO_TEAMS, "Office 365 E3 (no Teams)"),
    offer(TEAMS_ENTERPRISE, "Teams Enterprise"),
)


@pytest.mark.parametrize(
    ("inventory", "catalog", "decisions"),
    [
        pytest.param(
            lambda: owned(
                (O365_E3, "ENTERPRISEPACK", 25),
                (BUSINESS_STANDARD, "O365_BUSINESS_PREMIUM", 9),
                (FLOW_FREE, "FLOW_FREE", 10000),
                trial=(O365_E1, "STANDARDPACK"),
            ),
            lambda: sold(
                offer(O365_E3, "Office 365 E3"),
                offer(BUSINESS_STANDARD, "Microsoft 365 Business Standard"),
                offer(O365_E1, "Office 365 E1"),
            ),
            {"identical", "skipped"},
            id="identical-renamed-skipped",
        ),
        pytest.param(
            lambda: owned((O365_E3, "ENTERPRISEPACK", 25)),
            lambda: sold(*E3_TEAMS_PAIR),
            {"equivalent"},
            id="equivalent-successor",
        ),
        pytest.param(
            lambda: owned((O365_E3, "ENTERPRISEPACK", 40)),
            lambda: sold(E3_TEAMS_PAIR[0]),
            {"equivalent"},
            id="equivalent-losing-data",
        ),
        pytest.param(
            lambda: owned((O365_E1, "STANDARDPACK", 12)),
            lambda: sold(offer(O365_E3, "Office 365 E3"), E3_TEAMS_PAIR[1]),
            {"equivalent"},
            id="equivalent-by-higher-tiers",
        ),
        pytest.param(
            lambda: owned((O365_E3, "ENTERPRISEPACK", 5)),
            lambda: sold(offer(FLOW_FREE, "Power Automate Free")),
            {"blocked"},
            id="blocked",
        ),
    ],
)
def test_plans_match_the_documented_plan(
    inventory: Callable[[], Inventory], catalog: Callable[[], Catalog], decisions: set[str]
) -> None:
    """The route answers ``{transferId, **plan.to_json()}``; plans of every kind fit the schema."""
    plan = plan_transfer(inventory(), catalog(), subset_reference(), TransferOptions("P1Y", "annual"))
    body = {"transferId": new_transfer_id(), **plan.to_json()}

    assert {line["decision"] for line in body["lines"]} == decisions
    assert_documented("get", "/transfers/{id}/plan", ApiResponse(200, body))
