"""The error boundary: every exception kind becomes problem+json, none escapes as a bare 500."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from azure.data.tables import TableClient
from azure.storage.queue import QueueClient

from shared.api.problems import ApiResponse, answer, problem_for, quote, retry_after_seconds
from shared.catalog.reference import SkuReferenceError
from shared.clients.errors import (
    CallIds,
    GraphError,
    GraphRetryLaterError,
    NoRelationshipError,
    PartnerCenterError,
    PartnerCenterRetryLaterError,
    TokenAcquisitionError,
)
from shared.domain.events import EventType, TransferEvent
from shared.settings import SettingError, Settings
from shared.store.errors import StorageLimitError, StorageUnavailableError
from shared.store.limits import check_transaction
from shared.store.queue import EventQueue
from shared.store.repository import TransferStore

PROBLEM_FIELDS = {"type", "title", "status", "detail"}


def assert_problem(response: ApiResponse, status: int) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(response.encoded())
    assert response.status == status
    assert response.content_type == "application/problem+json"
    assert body.keys() >= PROBLEM_FIELDS
    assert body["status"] == status
    return body


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [
        (float("inf"), "3600"),
        (float("nan"), "60"),
        (None, "60"),
        (-5.0, "1"),
        (0.2, "1"),
        (30.2, "31"),
        (1e300, "3600"),
    ],
)
def test_throttling_is_a_503_with_a_finite_retry_after(retry_after: float | None, header: str) -> None:
    error = PartnerCenterRetryLaterError("slow down", status=429, retry_after=retry_after)

    response = problem_for(error)

    assert_problem(response, 503)
    assert response.headers["Retry-After"] == header


def test_retry_after_is_always_a_whole_number_from_one_to_an_hour() -> None:
    for seconds in (float("-inf"), -1e308, 0.0, 1.0, 3599.5, 3600.0, 3601.0, 1e308):
        assert 1 <= retry_after_seconds(seconds) <= 3600


def test_throttling_quotes_the_services_ids() -> None:
    error = GraphRetryLaterError("throttled", status=429, code="TooMany", ids=CallIds("req-1", "corr-1"))

    body = assert_problem(problem_for(error), 503)

    assert (body["service"], body["requestId"], body["correlationId"]) == ("Graph", "req-1", "corr-1")


def test_missing_customer_access_stays_a_409_and_other_service_errors_a_502() -> None:
    assert (
        assert_problem(problem_for(NoRelationshipError("no", status=403, code="20002")), 409)["code"]
        == "20002"
    )
    assert (
        assert_problem(problem_for(PartnerCenterError("boom", status=500)), 502)["service"]
        == "Partner Center"
    )
    assert assert_problem(problem_for(GraphError("bad", status=400)), 502)["service"] == "Graph"


def test_a_refused_token_is_a_502_naming_entra_and_not_its_description() -> None:
    error = TokenAcquisitionError(
        "invalid_client",
        "AADSTS7000215: Invalid client secret",
        authority="https://login",
        correlation_id="c-1",
    )

    body = assert_problem(problem_for(error), 502)

    assert (body["service"], body["code"], body["correlationId"]) == ("Entra", "invalid_client", "c-1")
    assert "Entra" in str(body["detail"])
    assert "AADSTS" not in json.dumps(body)


def test_a_setting_error_names_the_setting_but_never_its_value() -> None:
    secret = "c2VjcmV0LWtleQ=="
    settings = Settings({"AzureWebJobsStorage": f"DefaultEndpointsProtocol=http;AccountKey={secret}"})
    with pytest.raises(SettingError) as raised:
        _ = settings.storage

    response = problem_for(raised.value)

    body = assert_problem(response, 503)
    assert body["title"] == "Configuration error"
    assert body["setting"] == "AzureWebJobsStorage"
    assert secret not in response.encoded().decode()


def test_an_unavailable_sku_reference_is_a_503() -> None:
    response = problem_for(SkuReferenceError("no copy of the SKU reference could be loaded"))

    body = assert_problem(response, 503)
    assert body["title"] == "SKU reference unavailable"
    assert "SKU_REFERENCE_URL" in body["detail"]
    assert response.headers["Retry-After"] == "60"


def test_a_storage_limit_is_a_400_from_input_and_a_500_problem_otherwise() -> None:
    with pytest.raises(StorageLimitError) as built:
        check_transaction([{"PartitionKey": "p", "RowKey": "r", "Count": 2**64}])

    assert assert_problem(problem_for(StorageLimitError("key too long", from_input=True)), 400)
    body = assert_problem(problem_for(built.value), 500)
    assert body["title"] == "Storage limit exceeded"


#: A storage account whose every endpoint refuses connections (nothing listens on loopback's port 9).
DOWN = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;"
)


def test_unreachable_table_storage_is_a_503_naming_table_storage() -> None:
    store = TransferStore(TableClient.from_connection_string(DOWN, "nowhere", retry_total=0))
    with pytest.raises(StorageUnavailableError) as raised:
        store.get("0" * 32)

    response = problem_for(raised.value)

    body = assert_problem(response, 503)
    assert (body["title"], body["service"]) == ("Storage unavailable", "Table Storage")
    assert body["detail"] == "Table Storage did not answer; try again later"
    assert response.headers["Retry-After"] == "60"


def test_unreachable_queue_storage_is_a_503_naming_queue_storage() -> None:
    queue = EventQueue(QueueClient.from_connection_string(DOWN, "nowhere", retry_total=0))
    with pytest.raises(StorageUnavailableError) as raised:
        queue.send(TransferEvent(EventType.CONTINUE, "0" * 32, "contoso", "test"))

    response = problem_for(raised.value)

    body = assert_problem(response, 503)
    assert (body["title"], body["service"]) == ("Storage unavailable", "Queue Storage")
    assert body["detail"] == "Queue Storage did not answer; try again later"
    assert response.headers["Retry-After"] == "60"


def test_an_unknown_error_is_a_generic_500_problem_that_is_logged_and_echoes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handler() -> ApiResponse:
        raise RuntimeError("input was <script>alert(1)</script>")

    with caplog.at_level(logging.ERROR, logger="shared.api.problems"):
        response = answer(handler)

    body = assert_problem(response, 500)
    assert "script" not in response.encoded().decode()
    assert body["title"] == "Internal error"
    assert any(record.exc_info for record in caplog.records)


def test_a_recursion_error_is_caught_by_the_boundary() -> None:
    def handler() -> ApiResponse:
        raise RecursionError("maximum recursion depth exceeded")

    assert_problem(answer(handler), 500)


def test_quoted_input_is_bounded_and_keeps_control_characters_visible() -> None:
    quoted = quote("a\n" * 5000)

    assert quoted == repr("a\n" * 50) + "…"  # the first 100 characters of the input, escaped
    assert "\n" not in quoted
    assert quote("short") == "'short'"


def test_a_body_with_a_lone_surrogate_still_encodes_as_json() -> None:
    response = ApiResponse(400, {"detail": "bad \ud800 input"})

    assert json.loads(response.encoded())["detail"] == "bad \ud800 input"
