"""The optional App Service Authentication before the dashboard and the admin API (infra/app/api.bicep)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("pycep", reason="pycep-parser not installed (pip install -r requirements-dev.txt)")

from tests.infra.bicep_model import INFRA, body, parse_template

API = parse_template(INFRA / "app" / "api.bicep")
MAIN = parse_template(INFRA / "main.bicep")


def auth_settings() -> tuple[dict[str, Any], dict[str, Any]]:
    (declaration,) = API.resources_of_type("Microsoft.Web/sites/config").values()
    return dict(declaration), dict(body(declaration))


def test_authentication_is_on_only_when_an_app_registration_is_given() -> None:
    declaration, settings = auth_settings()

    assert settings["name"] == "authsettingsV2"
    condition = declaration["config"]["condition"]["operator"]
    assert condition["type"] == "not"
    assert condition["operands"]["bool_value"]["function"] == {
        "type": "empty",
        "parameters": {"item_to_test": "authClientId"},
    }
    assert API.section("parameters")["authClientId"]["default"] == ""
    assert MAIN.module_using("app/api.bicep")["authClientId"] == "dashboardAuthClientId"


def test_everything_but_the_webhook_and_the_openapi_description_needs_an_entra_sign_in() -> None:
    _, settings = auth_settings()
    properties = settings["properties"]
    validation = properties["globalValidation"]

    assert properties["platform"]["enabled"] is True
    assert validation["requireAuthentication"] is True
    assert validation["unauthenticatedClientAction"] == "RedirectToLoginPage"
    excluded = API.section("variables")[validation["excludedPaths"]]["value"]
    assert excluded == ["/api/webhooks/partner-center", "/api/openapi.json"]
    entra = properties["identityProviders"]["azureActiveDirectory"]
    assert entra["enabled"] is True
    assert entra["registration"]["clientId"] == "authClientId"
    assert properties["httpSettings"]["requireHttps"] is True
