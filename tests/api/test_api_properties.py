"""Every admin route, driven with arbitrary ids, query values and tokens through function_app's
own boundary against Azurite: never a 5xx, every refusal problem+json naming what is wrong."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import function_app
from shared.domain import Change, HistoryEntry, SourceChannel, Transfer, TransferState, new_transfer_id
from shared.store.index import ListQuery
from shared.store.repository import TransferStore

pytestmark = pytest.mark.slow

T0 = datetime(2026, 11, 1, tzinfo=UTC)
PROBLEM_FIELDS = {"type", "title", "status", "detail"}
PARAMETERS = {
    *("state", "stage", "attention", "q", "sort", "order", "format", "pageSize", "continuationToken"),
    *("historyPageSize", "historyContinuationToken"),
}
FAST = settings(
    max_examples=700,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Any code point, lone surrogates and control characters included.
ANY_CHARACTER = st.one_of(st.characters(exclude_categories=()), st.integers(0xD800, 0xDFFF).map(chr))
ANY_TEXT = st.text(ANY_CHARACTER, max_size=60)
DIGITISH = st.one_of(
    st.integers(-5, 2000).map(str),
    st.sampled_from(["²", "①", "٣", "٠١", "1_0", "+5", " 5", "5.0", "0x10", "", "9" * 5000, "1e3"]),
    ANY_TEXT,
)
STATES = st.one_of(st.sampled_from([s.value for s in TransferState]), ANY_TEXT)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def tokens(scopes: list[str], real: list[str]) -> st.SearchStrategy[str]:
    """Tokens the API issued, tampered ones, junk, deep brackets, base64 of anything, and
    well-framed ones with bad positions."""
    framed = st.builds(
        lambda scope, after: b64(f"{scope}\n{after}".encode("utf-8", "surrogatepass")),
        st.sampled_from([*scopes, "active", "transfers:*", ""]),
        st.one_of(ANY_TEXT, st.just(new_transfer_id() + "\n"), st.just("history-0000000001")),
    )
    return st.one_of(
        st.sampled_from(real),
        st.builds(
            lambda token, cut, extra: token[:cut] + extra, st.sampled_from(real), st.integers(0, 60), ANY_TEXT
        ),
        ANY_TEXT,
        st.integers(1, 5000).map(lambda n: "[" * n),
        st.binary(max_size=300).map(b64),
        st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=3).map(
            lambda d: b64(json.dumps(d).encode("utf-8", "surrogatepass"))
        ),
        framed,
    )


def call(
    function: Callable[[func.HttpRequest], func.HttpResponse], params: dict[str, str], **route: str
) -> Any:
    request = func.HttpRequest(method="GET", url="/api/x", body=b"", route_params=route, params=params)
    response = function(request)
    status = response.status_code
    if status == 200 and response.mimetype.startswith("text/csv"):
        return status, response.get_body().decode("utf-8").splitlines()
    body = json.loads(response.get_body())
    assert status < 500, body
    if status >= 400:
        assert response.mimetype == "application/problem+json"
        assert body.keys() >= PROBLEM_FIELDS
        assert body["status"] == status
        assert isinstance(body["detail"], str)
        assert len(body["detail"]) < 2000
        assert body.get("parameter", "state") in PARAMETERS
    else:
        assert response.mimetype == "application/json"
    return status, body


def seed(store: TransferStore, count: int = 3) -> list[str]:
    ids = []
    for _ in range(count):
        transfer = Transfer(
            id=new_transfer_id(),
            customer_tenant_id=str(uuid.uuid4()),
            customer_country="US",
            source_channel=SourceChannel.DIRECT,
            state=TransferState.AWAITING_ACCEPTANCE,
            created_at=T0,
            updated_at=T0,
        )
        record = store.create(transfer, history=HistoryEntry(at=T0, action="created", message="started"))
        notes = tuple(HistoryEntry(at=T0, action="note", message=f"n{i}") for i in range(4))
        store.commit(record, Change(record.transfer, history=notes))
        ids.append(transfer.id)
    return ids


def ids(known: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        ANY_TEXT,
        st.sampled_from(known),
        st.sampled_from(known).map(lambda i: i + "\n"),
        st.sampled_from(known).map(str.upper),
        st.text("0123456789abcdef", min_size=31, max_size=33),
        st.just("x" * 5000),
    )


def test_listing_answers_every_query_with_200_or_a_400_problem(app_store: TransferStore) -> None:
    seed(app_store)
    real = [
        app_store.list_transfers(page_size=1).continuation_token,
        app_store.list_transfers(
            ListQuery(state=TransferState.AWAITING_ACCEPTANCE), page_size=2
        ).continuation_token,
    ]

    @FAST
    @given(
        st.fixed_dictionaries(
            {},
            optional={
                "state": STATES,
                "pageSize": DIGITISH,
                "continuationToken": tokens([], [t for t in real if t]),
                "stage": st.one_of(STATES, st.just("Scheduled")),
                "attention": st.one_of(st.sampled_from(["true", "false"]), ANY_TEXT),
                "q": ANY_TEXT,
                "sort": st.one_of(st.sampled_from(["created", "updated", "next"]), ANY_TEXT),
                "order": st.one_of(st.sampled_from(["asc", "desc"]), ANY_TEXT),
                "format": st.one_of(st.sampled_from(["json", "csv"]), ANY_TEXT),
                "other": ANY_TEXT,
            },
        )
    )
    def check(params: dict[str, str]) -> None:
        status, body = call(function_app.list_transfers, params)

        assert status in (200, 400)
        if status == 400:
            assert body["parameter"] in set(params) - {"other"}

    check()


def test_get_answers_every_id_and_history_query_without_a_5xx(app_store: TransferStore) -> None:
    known = seed(app_store)
    real = [app_store.history(i, page_size=2).continuation_token for i in known]

    @FAST
    @given(
        ids(known),
        st.fixed_dictionaries(
            {},
            optional={
                "historyPageSize": DIGITISH,
                "historyContinuationToken": tokens([f"history:{i}" for i in known], [t for t in real if t]),
            },
        ),
    )
    def check(transfer_id: str, params: dict[str, str]) -> None:
        status, body = call(function_app.get_transfer, params, id=transfer_id)

        assert status in (200, 400, 404)
        if status == 200:
            assert body["id"] == transfer_id
            assert [h["seq"] for h in body["history"]] == sorted(h["seq"] for h in body["history"])

    check()


def test_plan_answers_every_id_without_a_5xx(app_store: TransferStore) -> None:
    known = seed(app_store, 1)

    @FAST
    @given(ids(known))
    def check(transfer_id: str) -> None:
        status, _ = call(function_app.plan_transfer, {}, id=transfer_id)

        assert status in (400, 404, 409)

    check()


@pytest.mark.parametrize(
    ("route", "params"),
    [
        ("list", {"pageSize": "²"}),
        ("list", {"pageSize": "①"}),
        ("list", {"pageSize": "٣"}),
        ("list", {"pageSize": "9" * 5000}),
        ("list", {"continuationToken": "[" * 4096}),
        ("list", {"continuationToken": "\ud800"}),
        ("list", {"continuationToken": b64(b'{"PartitionKey": "a", "RowKey": "b"}')}),
        ("list", {"state": "Accepted\n" + "x" * 5000}),
        ("get", {"historyPageSize": "0"}),
        ("get", {"historyContinuationToken": "[" * 4096}),
    ],
)
def test_hostile_query_values_are_a_400_naming_the_parameter(
    app_store: TransferStore, route: str, params: dict[str, str]
) -> None:
    (transfer_id,) = seed(app_store, 1)
    function = function_app.list_transfers if route == "list" else function_app.get_transfer

    status, body = call(function, params, id=transfer_id)

    assert status == 400
    assert body["parameter"] == next(iter(params))
    assert len(body["detail"]) < 300


def test_an_id_followed_by_a_newline_is_refused(app_store: TransferStore) -> None:
    (transfer_id,) = seed(app_store, 1)

    status, body = call(function_app.get_transfer, {}, id=transfer_id + "\n")

    assert status == 400
    assert body["title"] == "Invalid transfer id"
