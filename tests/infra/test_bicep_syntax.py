"""Syntax and whole-file rules for every infra/**/*.bicep, read with tree-sitter-bicep.

These stand in for `bicep build` / `bicep lint`, which need the Bicep CLI. They cannot catch semantic
errors (a wrong module parameter name, an unknown function); `az deployment sub validate` does that.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("tree_sitter", reason="tree-sitter not installed (pip install -r requirements-dev.txt)")
pytest.importorskip(
    "tree_sitter_bicep", reason="tree-sitter-bicep not installed (pip install -r requirements-dev.txt)"
)

from tests.infra.bicep_model import (
    CLOUD_SPECIFIC_HOSTS,
    INFRA,
    bicep_files,
    called_functions,
    object_keys,
    string_literals,
    syntax_errors,
)

FILES = bicep_files()
IDS = [str(p.relative_to(INFRA)) for p in FILES]

# Settings the Flex Consumption plan deprecates: the runtime comes from functionAppConfig and the package
# from the deployment container.
DEPRECATED_ON_FLEX = (
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "FUNCTIONS_WORKER_PROCESS_COUNT",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
)

# Bicep linter rules that catch leaked secrets, hard-coded cloud URLs and dead code (Learn, "Add linter
# settings in the Bicep config file"), all as errors.
REQUIRED_LINTER_ERRORS = (
    "no-hardcoded-env-urls",
    "outputs-should-not-contain-secrets",
    "secure-parameter-default",
    "no-unused-params",
    "no-unused-vars",
    "no-unnecessary-dependson",
    "prefer-interpolation",
    "simplify-interpolation",
    "use-recent-api-versions",
    "use-secure-value-for-secure-inputs",
    "no-hardcoded-location",
    "explicit-values-for-loc-params",
)


def test_infra_has_the_expected_bicep_files():
    assert {"main.bicep", "app/api.bicep", "app/rbac.bicep"} <= set(IDS)


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_bicep_file_has_no_syntax_errors(path):
    assert syntax_errors(path.read_text()) == []


def test_syntax_check_catches_a_misspelt_keyword():
    assert syntax_errors("parm location string\n") != []


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_no_list_function_reads_keys(path):
    """listKeys()/listSecrets() would put a key or secret into the deployment; the identity replaces them."""
    assert [name for name in called_functions(path.read_text()) if name.lower().startswith("list")] == []


def test_list_function_scan_sees_method_and_plain_calls():
    source = (
        "var a = stg.listKeys().keys[0].value\n"
        "var b = listSecrets(x, '2020-01-01')\n"
        "// listAll( only a comment\n"
    )
    assert called_functions(source) == ["listKeys", "listSecrets"]


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_no_cloud_specific_host_is_hardcoded(path):
    """Mirrors no-hardcoded-env-urls: storage and login hosts come from environment() so any cloud works."""
    hits = [s for s in string_literals(path.read_text()) for host in CLOUD_SPECIFIC_HOSTS if host in s]
    assert hits == []


def test_hardcoded_host_scan_reads_around_interpolations():
    literals = string_literals("var d = 'https://${n}.blob.core.windows.net'\n")
    assert any("core.windows.net" in s for s in literals)


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_no_setting_deprecated_on_flex_is_declared(path):
    assert object_keys(path.read_text()) & set(DEPRECATED_ON_FLEX) == set()


def test_setting_scan_finds_quoted_and_bare_keys():
    assert object_keys("var c = { FUNCTIONS_WORKER_RUNTIME: 'python', 'x-y': 1 }\n") == {
        "FUNCTIONS_WORKER_RUNTIME",
        "x-y",
    }


def test_bicepconfig_turns_the_recommended_linter_rules_into_errors():
    rules = json.loads((INFRA / "bicepconfig.json").read_text())["analyzers"]["core"]["rules"]
    assert {name: rules.get(name, {}).get("level") for name in REQUIRED_LINTER_ERRORS} == dict.fromkeys(
        REQUIRED_LINTER_ERRORS, "error"
    )
