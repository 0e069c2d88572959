"""The app may write back one secret only, its rotated refresh token (pycep's reading of infra/)."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("pycep", reason="pycep-parser not installed (pip install -r requirements-dev.txt)")

from tests.infra.bicep_model import INFRA, Template, body, is_function, parse_template

SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
SECRET = "Microsoft.KeyVault/vaults/secrets"


def _read(name: str) -> Template:
    try:
        return parse_template(INFRA / name)
    except Exception as error:
        pytest.skip(f"pycep-parser cannot read {name}: {type(error).__name__}")


def _grants_officer(template: Template, properties: Any) -> bool:
    """Whether ``roleDefinitionId`` names Secrets Officer: literally, or through a variable."""
    variables = template.section("variables")
    names = [n for n, v in variables.items() if v.get("value") == SECRETS_OFFICER]
    names += [n for n, v in variables.get("roles", {}).get("value", {}).items() if v == SECRETS_OFFICER]
    text = json.dumps(properties["roleDefinitionId"])
    return SECRETS_OFFICER in text or any(f'"{name}"' in text for name in names)


def test_the_rotation_role_is_scoped_to_the_refresh_token_secret_not_the_vault():
    secrets, main = _read("app/secrets.bicep"), _read("main.bicep")
    resources = secrets.section("resources")
    rotation = [
        body(r)
        for r in secrets.resources_of_type("Microsoft.Authorization/roleAssignments").values()
        if body(r)["properties"]["principalId"] == "identityPrincipalId"
    ]
    assert len(rotation) == 1
    (grant,) = rotation
    assert _grants_officer(secrets, grant["properties"])
    assert is_function(grant["name"], "guid")
    scope = resources[grant["scope"]]
    assert scope["type"] == SECRET
    assert body(scope)["name"] == "refreshTokenName"
    passed = main.module_using("app/secrets.bicep")
    assert "refreshToken" in json.dumps(passed["refreshTokenName"])


def test_the_app_holds_secrets_officer_on_no_vault():
    for name in ("app/rbac.bicep", "app/secrets.bicep"):
        template = _read(name)
        for resource in template.resources_of_type("Microsoft.Authorization/roleAssignments").values():
            properties = body(resource)["properties"]
            if properties["principalId"] == "identityPrincipalId" and _grants_officer(template, properties):
                assert template.section("resources")[body(resource)["scope"]]["type"] == SECRET, name


def test_the_app_is_told_which_secret_to_write_back():
    main = _read("main.bicep")
    settings = main.section("variables")["productSettings"]["value"]
    uri = settings["PARTNER_REFRESH_TOKEN_SECRET_URI"]
    assert uri in settings["PARTNER_REFRESH_TOKEN"]  # the very secret the app reads its token from
    assert "secretNames.refreshToken" in json.dumps(uri)
