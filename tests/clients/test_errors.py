"""How error responses become typed exceptions (pure: bodies in, exceptions out)."""

import json

import pytest

from shared.clients.errors import (
    AppUserRequiredError,
    CallIds,
    CartAlreadySubmittedError,
    CartBusyError,
    DeadlineExceededError,
    GdapRoleMissingError,
    GraphError,
    GroupInheritedLicenseError,
    MutuallyExclusivePlansError,
    NoRelationshipError,
    OfferNotAvailableInCountryError,
    OrderInProgressError,
    OutOfLicensesError,
    PartnerCenterError,
    PartnerNotOnboardedInCountryError,
    RetryLaterError,
    ServiceError,
    TokenAcquisitionError,
    TokenRetryLaterError,
    UnauthorizedError,
    UsageLocationMissingError,
    graph_error,
    partner_center_error,
)

IDS = CallIds(request_id="req-1", correlation_id="corr-1")


def pc_body(code: int, description: str = "text") -> bytes:
    return json.dumps({"code": code, "description": description, "data": [], "source": "PartnerFD"}).encode()


def graph_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (403, 20002, NoRelationshipError),
        (403, 2030, PartnerNotOnboardedInCountryError),
        (400, 800070, OfferNotAvailableInCountryError),
        (409, 800060, OrderInProgressError),
        (400, 60012, OutOfLicensesError),
        (409, 800064, CartBusyError),
        (400, 800065, CartAlreadySubmittedError),
    ],
)
def test_partner_center_codes_get_their_named_error(status, code, kind):
    error = partner_center_error(status, pc_body(code), IDS)

    assert isinstance(error, kind)
    assert isinstance(error, PartnerCenterError)
    assert (error.status, error.code, error.request_id, error.correlation_id) == (
        status,
        str(code),
        "req-1",
        "corr-1",
    )


def test_partner_center_error_keeps_code_and_description():
    error = partner_center_error(400, pc_body(800009, "Error in Cart item(s)"), IDS)

    assert type(error) is PartnerCenterError
    assert error.description == "Error in Cart item(s)"
    assert "800009" in str(error)
    assert "req-1" in str(error)
    assert error.retryable is False


def test_order_in_progress_is_worth_retrying_later():
    assert partner_center_error(409, pc_body(800060), IDS).retryable is True


def test_throttling_becomes_retry_later_with_its_wait():
    body = json.dumps(
        {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}
    ).encode()

    error = partner_center_error(429, body, IDS, retry_after=57.0)

    assert isinstance(error, RetryLaterError)
    assert isinstance(error, PartnerCenterError)
    assert error.retry_after == 57.0
    assert error.retryable is True
    assert "Rate limit" in error.description


def test_server_errors_are_retryable_and_client_errors_are_not():
    assert partner_center_error(503, b"", IDS).retryable is True
    assert partner_center_error(404, b"not json", IDS).retryable is False


def test_app_only_refusal_names_the_missing_app_user_flow():
    body = pc_body(1002, "This resource can't be accessed by application credentials.")

    assert isinstance(partner_center_error(403, body, IDS), AppUserRequiredError)


def test_gdap_refusal_is_gdap_role_missing():
    error = graph_error(403, graph_body("Authorization_RequestDenied", "Insufficient privileges."), IDS)

    assert isinstance(error, GdapRoleMissingError)
    assert isinstance(error, GraphError)
    assert error.code == "Authorization_RequestDenied"
    assert error.message == "Insufficient privileges."


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (
            "License assignment cannot be done for user with invalid usage location.",
            UsageLocationMissingError,
        ),
        (
            "User license is inherited from group membership and cannot be removed directly from the user.",
            GroupInheritedLicenseError,
        ),
        (
            "License assignment failed because service plans EXCHANGE_S_STANDARD and EXCHANGE_S_DESKLESS "
            "are mutually exclusive.",
            MutuallyExclusivePlansError,
        ),
        ("Subscription with SKU 6fd2c87f does not have any available licenses.", OutOfLicensesError),
    ],
)
def test_graph_license_failures_get_their_named_error(message, kind):
    error = graph_error(400, graph_body("Request_BadRequest", message), IDS)

    assert isinstance(error, kind)
    assert isinstance(error, GraphError)
    assert error.status == 400


def test_out_of_licenses_is_one_kind_for_both_services():
    from_pc = partner_center_error(400, pc_body(60012), IDS)
    from_graph = graph_error(
        400, graph_body("Request_BadRequest", "does not have any available licenses"), IDS
    )

    assert isinstance(from_pc, OutOfLicensesError)
    assert isinstance(from_graph, OutOfLicensesError)
    assert isinstance(from_pc, PartnerCenterError)
    assert isinstance(from_graph, GraphError)


def test_refused_token_is_unauthorized_for_both_services():
    assert isinstance(partner_center_error(401, b"", IDS), UnauthorizedError)
    assert isinstance(
        graph_error(401, graph_body("InvalidAuthenticationToken", "expired"), IDS), UnauthorizedError
    )


def test_unknown_graph_error_is_plain_graph_error():
    error = graph_error(400, graph_body("Request_BadRequest", "Something else."), IDS)

    assert type(error) is GraphError


def test_token_errors_belong_to_the_one_hierarchy():
    refused = TokenAcquisitionError("invalid_client", "bad secret", authority="https://login/t", status=401)
    throttled = TokenRetryLaterError(
        "temporarily_unavailable", "slow down", authority="https://login/t", status=429, retry_after=7
    )

    assert isinstance(refused, ServiceError)
    assert (refused.service, refused.code, refused.retryable) == ("Entra", "invalid_client", False)
    assert isinstance(throttled, RetryLaterError)
    assert (throttled.retryable, throttled.retry_after) == (True, 7)
    assert str(refused).startswith("Entra 401 invalid_client:")


def test_a_deadline_is_a_retry_later_for_whichever_service_ran_out():
    error = DeadlineExceededError("GET /x: no time left", service="Graph", retry_after=3)

    assert isinstance(error, RetryLaterError)
    assert (error.service, error.retryable, error.retry_after) == ("Graph", True, 3)
    assert ServiceError.service == "service"  # the instance's name never leaks into the class
