"""The security and wiring conventions of infra/, checked on pycep-parser's reading of each file.

A file pycep cannot parse (it lags Bicep: spread, union literal types, resourceInput<>) skips the
checks that need it, naming the file; tree-sitter still guards its syntax in test_bicep_syntax.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

pytest.importorskip("pycep", reason="pycep-parser not installed (pip install -r requirements-dev.txt)")

from tests.infra.bicep_model import (
    INFRA,
    REPO,
    Template,
    bicep_files,
    body,
    documented_setting_names,
    is_function,
    object_entries,
    parse_template,
)
from tests.infra.code_settings import binding_expression_settings, settings_read_by

# The product's settings (docs/settings.md's table, a stable contract). AzureWebJobsStorage is met
# by its identity-based form.
DESIGN_SETTINGS = (
    "PARTNER_CENTER_ENDPOINT",
    "GRAPH_ENDPOINT",
    "AUTHORITY_HOST",
    "PARTNER_TENANT_ID",
    "PARTNER_CLIENT_ID",
    "PARTNER_CLIENT_SECRET",
    "PARTNER_REFRESH_TOKEN",
    "PARTNER_COUNTRY",
    "WEBHOOK_CERT_HOSTS",
    "WEBHOOK_TRUST_ROOTS",
    "AzureWebJobsStorage",
    "EXPIRY_LEAD_DAYS",
    "ORIGINALS_READ_HOURS",
    "SKU_REFERENCE_URL",
)
IDENTITY_STORAGE_SETTINGS = tuple(
    f"AzureWebJobsStorage__{suffix}"
    for suffix in ("credential", "clientId", "blobServiceUri", "queueServiceUri", "tableServiceUri")
)
KEY_VAULT_REFERENCE = re.compile(r"^@Microsoft\.KeyVault\(SecretUri=\$\{[^}]+\}secrets/\$\{[^}]+\}\)$")
ROLE = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
}
# Read by the telemetry setup (azure-monitor-opentelemetry), not through shared/settings.py.
TELEMETRY_SETTINGS = ("APPLICATIONINSIGHTS_CONNECTION_STRING",)
# The structured properties of a workflow step's log record (shared/telemetry.py) the alerts query.
STEP_PROPERTIES = ("transfer_id", "step", "outcome", "duration_ms")
# ... and of a notice about an original subscription (telemetry.original_notice).
NOTICE_PROPERTIES = ("transfer_id", "line_id", "notice", "lapses_on")
SCHEDULED_QUERY_RULE = "avm/res/insights/scheduled-query-rule"


@pytest.fixture(scope="module")
def parsed() -> dict[str, Template | str]:
    """Each file's parse, or why pycep could not read it (it raises lark's many exception types)."""
    result: dict[str, Template | str] = {}
    for path in bicep_files():
        try:
            result[str(path.relative_to(INFRA))] = parse_template(path)
        except Exception as error:
            result[str(path.relative_to(INFRA))] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
    return result


@pytest.fixture(scope="module")
def templates(parsed) -> dict[str, Template]:
    """The files pycep could read; checks over all files assert on these, then report the rest as skipped."""
    return {name: t for name, t in parsed.items() if isinstance(t, Template)}


def _template(parsed: dict[str, Template | str], name: str) -> Template:
    found = parsed[name]
    if isinstance(found, str):
        pytest.skip(f"pycep-parser cannot read {name}: {found}")
    return found


def _skip_if_any_unread(parsed: dict[str, Template | str]) -> None:
    unread = sorted(name for name, t in parsed.items() if isinstance(t, str))
    if unread:
        pytest.skip(f"checked the files pycep-parser reads; it cannot read {unread}")


@pytest.fixture(scope="module")
def main(parsed) -> Template:
    return _template(parsed, "main.bicep")


@pytest.fixture(scope="module")
def api(parsed) -> Template:
    return _template(parsed, "app/api.bicep")


@pytest.fixture(scope="module")
def rbac(parsed) -> Template:
    return _template(parsed, "app/rbac.bicep")


@pytest.fixture(scope="module")
def alerts(parsed) -> Template:
    return _template(parsed, "app/alerts.bicep")


@pytest.fixture(scope="module")
def site(api: Template) -> dict[str, Any]:
    return api.module_using("avm/res/web/site")


@pytest.fixture(scope="module")
def app_settings(main, api, site) -> dict[str, Any]:
    """Every app setting the function app gets, following main.bicep's values into api.bicep."""
    passed = {name: (main, value) for name, value in main.module_using("app/api.bicep").items()}
    (config,) = [c for c in site["configs"] if c["name"] == "appsettings"]
    return object_entries(api, config["properties"], passed)


def _scalar(template: Template, value: Any) -> Any:
    """A literal, or the default of the parameter it names (pycep writes references as bare names)."""
    parameters = template.section("parameters")
    if isinstance(value, str) and value in parameters:
        return parameters[value].get("default")
    return value


# ---- storage, plan, site ---------------------------------------------------------------------------------


def test_storage_account_accepts_only_entra_id(main):
    storage = main.module_using("avm/res/storage/storage-account")
    assert storage["allowSharedKeyAccess"] is False
    assert storage["allowBlobPublicAccess"] is False
    assert storage["minimumTlsVersion"] == "TLS1_2"


def test_storage_account_serves_queues_tables_and_the_deployment_container(main):
    storage = main.module_using("avm/res/storage/storage-account")
    assert "queueServices" in storage
    assert "tableServices" in storage
    assert [c["name"] for c in storage["blobServices"]["containers"]] == ["deploymentStorageContainerName"]


def test_plan_is_flex_consumption_fc1(main):
    plan = main.module_using("avm/res/web/serverfarm")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["reserved"] is True  # Linux


def test_function_app_runs_python_311_on_linux(site):
    assert site["kind"] == "functionapp,linux"
    assert site["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}


def test_function_app_deploys_and_reads_key_vault_with_its_user_assigned_identity(site):
    storage = site["functionAppConfig"]["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityResourceId",
    }
    assert site["keyVaultAccessIdentityResourceId"] == "identityResourceId"
    assert site["managedIdentities"] == {"userAssignedResourceIds": ["identityResourceId"]}


def test_function_app_scales_with_2048_mb_instances_by_default(api, site):
    scale = site["functionAppConfig"]["scaleAndConcurrency"]
    assert _scalar(api, scale["instanceMemoryMB"]) == 2048
    assert 40 <= _scalar(api, scale["maximumInstanceCount"]) <= 1000


def test_application_insights_refuses_key_based_ingestion(main):
    assert main.module_using("avm/res/insights/component")["disableLocalAuth"] is True


def test_key_vault_authorizes_by_rbac_without_access_policies(main):
    vault = main.module_using("avm/res/key-vault/vault")
    assert vault["enableRbacAuthorization"] is True
    assert "accessPolicies" not in vault


# ---- app settings ----------------------------------------------------------------------------------------


def test_app_settings_cover_every_design_setting(app_settings):
    missing = [
        name
        for name in DESIGN_SETTINGS
        if name not in app_settings and not any(s.startswith(f"{name}__") for s in app_settings)
    ]
    assert missing == []


def test_storage_setting_is_identity_based(app_settings):
    assert "AzureWebJobsStorage" not in app_settings  # a connection string would need a key
    assert set(IDENTITY_STORAGE_SETTINGS) <= set(app_settings)
    assert app_settings["AzureWebJobsStorage__credential"] == "managedidentity"


def test_telemetry_and_sdk_credentials_use_the_identity(app_settings):
    assert {"APPLICATIONINSIGHTS_CONNECTION_STRING", "AZURE_CLIENT_ID"} <= set(app_settings)
    assert app_settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"].endswith("Authorization=AAD")


def test_partner_secrets_are_key_vault_references(app_settings):
    for name in ("PARTNER_CLIENT_SECRET", "PARTNER_REFRESH_TOKEN"):
        assert KEY_VAULT_REFERENCE.match(app_settings[name]), name


def _code_settings() -> set[str]:
    """What the deployed code reads: shared/settings.py's reads, function_app.py's %NAME% bindings."""
    return (
        settings_read_by((REPO / "shared" / "settings.py").read_text())
        | binding_expression_settings((REPO / "function_app.py").read_text())
        | set(TELEMETRY_SETTINGS)
    )


def _is_provided(name: str, app_settings: dict[str, Any]) -> bool:
    """Set by name, or (AzureWebJobsStorage) by its identity-based form `NAME__*`."""
    return name in app_settings or any(s.startswith(f"{name}__") for s in app_settings)


def test_every_setting_the_code_reads_is_set_by_the_template(app_settings):
    assert sorted(n for n in _code_settings() if not _is_provided(n, app_settings)) == []


def test_code_settings_include_the_settings_module_reads_and_the_timer_schedule():
    found = _code_settings()
    assert {"PARTNER_TENANT_ID", "SKU_REFERENCE_URL", "AzureWebJobsStorage__clientId"} <= found
    assert "TRANSFER_SCAN_SCHEDULE" in found


def test_settings_scan_reads_helpers_environment_gets_and_fstrings():
    source = """
def f(self, environ, pairs):
    name = "STORE"
    self._url("URL_SETTING", "https://x")
    self._raw(name)
    environ.get(f"{name}__clientId", "")
    pairs.get("defaultendpointsprotocol")
    other("NOT_A_SETTING")
"""
    assert settings_read_by(source) == {"URL_SETTING", "STORE", "STORE__clientId"}
    assert binding_expression_settings('t(schedule="%SCAN%", path="a%b")') == {"SCAN"}


def test_app_settings_declare_no_runtime_settings_deprecated_on_flex(app_settings):
    assert {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"} & set(app_settings) == set()


def test_settings_walk_follows_variables_unions_and_both_branches(tmp_path):
    source = """
param extra object = {}
var base = { A: 'a' }
module site 'br/public:avm/res/web/site:0.16.0' = {
  name: 'site'
  params: {
    configs: [{ name: 'appsettings', properties: union(base, extra, empty(base) ? { B: 'b' } : { C: 'c' }) }]
  }
}
"""
    callee = parse_template(tmp_path / "api.bicep", source)
    caller = parse_template(tmp_path / "main.bicep", "var more = { D: 'd' }\n")
    (config,) = callee.module_using("avm/res/web/site")["configs"]
    assert set(object_entries(callee, config["properties"], {"extra": (caller, "more")})) == {
        "A",
        "B",
        "C",
        "D",
    }


def test_every_setting_on_the_settings_page_is_provided_by_infra(app_settings):
    """When docs/settings.md's app settings table gains a setting, this fails until infra/ provides it too."""
    documented = documented_setting_names((REPO / "docs" / "settings.md").read_text())
    assert set(DESIGN_SETTINGS) <= set(documented)
    missing = [
        name
        for name in documented
        if name not in app_settings and not any(s.startswith(f"{name}__") for s in app_settings)
    ]
    assert missing == []


# ---- modules, role assignments, outputs ------------------------------------------------------------------


def test_every_registry_module_is_an_avm_module_pinned_to_an_exact_version(parsed, templates):
    modules = {
        f"{file}:{name}": module["detail"]
        for file, template in templates.items()
        for name, module in template.registry_modules().items()
    }
    loose = {
        key: detail["full"]
        for key, detail in modules.items()
        if not (detail["path"].startswith("avm/res/") and re.fullmatch(r"\d+\.\d+\.\d+", detail["tag"]))
    }
    assert loose == {}
    _skip_if_any_unread(parsed)
    assert modules, "expected AVM modules"


def test_every_role_assignment_is_named_with_guid(parsed, templates):
    assignments = {
        f"{file}:{name}": body(resource)["name"]
        for file, template in templates.items()
        for name, resource in template.resources_of_type("Microsoft.Authorization/roleAssignments").items()
    }
    assert {key for key, name in assignments.items() if not is_function(name, "guid")} == set()
    _skip_if_any_unread(parsed)
    assert assignments, "expected role assignments"


def test_identity_holds_each_role_the_app_needs(rbac):
    role_ids = set(rbac.section("variables")["roles"]["value"].values())
    assert set(ROLE.values()) <= role_ids
    granted_to_identity = [
        body(resource)["properties"]
        for resource in rbac.resources_of_type("Microsoft.Authorization/roleAssignments").values()
        if body(resource)["properties"]["principalId"] == "identityPrincipalId"
    ]
    assert {p["principalType"] for p in granted_to_identity} == {"ServicePrincipal"}
    assert len(granted_to_identity) == 3  # storage roles (one looped declaration), telemetry, secrets


def test_developer_roles_apply_only_when_a_principal_is_given(rbac):
    for name, resource in rbac.resources_of_type("Microsoft.Authorization/roleAssignments").items():
        if body(resource)["properties"]["principalId"] != "developerPrincipalId":
            continue
        config = resource["config"]
        guarded = config.get("condition") or json.dumps(config.get("loop_type", {})).count("hasDeveloper")
        assert guarded, name


def test_function_app_waits_for_its_roles_and_secrets(main):
    """Otherwise its first start races the Key Vault Secrets User grant and the Key Vault references fail."""
    (api,) = [m for m in main.section("modules").values() if m["detail"]["path"] == "app/api.bicep"]
    assert {"rbac", "secrets"} <= set(body(api).get("dependsOn", []))


# An output named like a credential; "key" is allowed only as part of "Key Vault".
SECRET_OUTPUT_NAME = re.compile(r"secret|password|token|connection_?string|key(?!_?vault)", re.IGNORECASE)
# A value read from a property or function that yields a credential.
SECRET_OUTPUT_VALUE = re.compile(
    r"connectionstring|secret|password|token|primarykey|secondarykey|accesskey|instrumentationkey|\"list",
    re.IGNORECASE,
)


def secret_outputs(template: Template) -> list[str]:
    """Outputs that are, or are computed from, a secret: by name, by what they read, or a @secure() param."""
    secure = {n for n, p in template.section("parameters").items() if {"type": "secure"} in p["decorators"]}
    found = []
    for name, output in template.section("outputs").items():
        text = json.dumps(output["value"])
        if (
            SECRET_OUTPUT_NAME.search(name)
            or SECRET_OUTPUT_VALUE.search(text)
            or any(re.search(rf"\b{p}\b", text) for p in secure)
        ):
            found.append(name)
    return found


def test_outputs_reveal_no_secret(parsed, templates):
    assert {f"{file}:{name}" for file, t in templates.items() for name in secret_outputs(t)} == set()
    _skip_if_any_unread(parsed)
    assert any(t.section("outputs") for t in templates.values()), "expected outputs"


def test_secret_output_check_catches_keys_connection_strings_and_secure_params(tmp_path):
    source = """
@secure()
param pass string
output AZURE_KEY_VAULT_NAME string = vault.outputs.name
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
output storageKey string = stg.listKeys().keys[0].value
output endpoint string = 'https://${pass}@x'
output name string = stg.outputs.primaryKey
"""
    found = secret_outputs(parse_template(tmp_path / "t.bicep", source))
    assert sorted(found) == ["APPLICATIONINSIGHTS_CONNECTION_STRING", "endpoint", "name", "storageKey"]


# ---- alerts ----------------------------------------------------------------------------------------------


def _alert_rules(alerts: Template) -> dict[str, dict[str, Any]]:
    return {
        name: dict(body(module)["params"])
        for name, module in alerts.section("modules").items()
        if module["detail"]["path"] == SCHEDULED_QUERY_RULE
    }


def _queries(rule: dict[str, Any]) -> list[str]:
    return [criterion["query"] for criterion in rule["criterias"]["allOf"]]


def test_main_deploys_the_alerts_on_the_apps_application_insights(main):
    params = main.module_using("app/alerts.bicep")
    assert params["alertEmail"] == "alertEmail"
    assert (
        main.section("parameters")["alertEmail"].get("default") is None
    )  # every deployment names a recipient
    watched = json.dumps(params["appInsightsResourceId"])
    assert '"monitoring"' in watched
    assert '"resourceId"' in watched


def test_action_group_emails_the_alert_email_parameter(alerts):
    group = alerts.module_using("avm/res/insights/action-group")
    assert [r["emailAddress"] for r in group["emailReceivers"]] == ["alertEmail"]
    assert len(_scalar(alerts, group["groupShortName"])) <= 12


def test_every_alert_notifies_the_action_group(alerts):
    rules = _alert_rules(alerts)
    assert len(rules) == 4
    actions = alerts.section("variables")["actions"]["value"]
    assert "actionGroup" in json.dumps(actions["actionGroupResourceIds"])
    assert {name: rule["actions"] for name, rule in rules.items()} == dict.fromkeys(rules, "actions")


def test_step_alerts_query_the_apps_application_insights_traces(alerts):
    rules = _alert_rules(alerts)
    for name in ("stuckTransferAlert", "throttlingAlert", "originalsAlert"):
        assert rules[name]["scopes"] == ["appInsightsResourceId"], name
        assert all(q.startswith("traces | ") for q in _queries(rules[name])), name


def test_poison_queue_alert_watches_writes_to_the_work_queues_poison_queue(main, alerts):
    queue = re.search(r'queue_name="([^"]+)"', (REPO / "function_app.py").read_text())
    assert queue, "function_app.py has no queue trigger"
    assert _scalar(alerts, "workQueueName") == queue.group(1)
    assert alerts.section("variables")["poisonQueueName"]["value"] == "${workQueueName}-poison"
    rule = _alert_rules(alerts)["poisonQueueAlert"]
    assert rule["scopes"] == ["logAnalyticsWorkspaceResourceId"]
    (query,) = _queries(rule)
    assert query.startswith("StorageQueueLogs | ")
    assert 'OperationName == "PutMessage"' in query
    assert '"/${poisonQueueName}/"' in query
    # ... and the queue service sends those writes to the workspace the rule reads.
    storage = main.module_using("avm/res/storage/storage-account")
    (setting,) = storage["queueServices"]["diagnosticSettings"]
    assert setting["logCategoriesAndGroups"] == [{"category": "StorageWrite"}]
    passed = main.module_using("app/alerts.bicep")["logAnalyticsWorkspaceResourceId"]
    assert json.dumps(setting["workspaceResourceId"]) == json.dumps(passed)


def test_stuck_transfer_alert_reads_each_transfers_latest_outcome_against_the_threshold(alerts):
    (query,) = _queries(_alert_rules(alerts)["stuckTransferAlert"])
    assert "arg_max(timestamp, outcome) by transferId" in query
    assert '"failed"' in query
    assert "ago(${stuckTransferHours}h)" in query
    assert "stuckTransferHours" in alerts.section("parameters")


def test_throttling_alert_counts_throttled_steps_over_a_window(alerts):
    rule = _alert_rules(alerts)["throttlingAlert"]
    (query,) = _queries(rule)
    assert '== "throttled"' in query
    (criterion,) = rule["criterias"]["allOf"]
    assert criterion["threshold"] == "throttledStepsThreshold"
    assert rule["windowSize"] == "throttlingWindow"


def test_alert_queries_read_only_the_step_and_notice_records_properties(alerts):
    used = {
        p
        for r in _alert_rules(alerts).values()
        for q in _queries(r)
        for p in re.findall(r"customDimensions\.(\w+)", q)
    }
    assert used
    assert used <= {*STEP_PROPERTIES, *NOTICE_PROPERTIES}


def test_stuck_transfer_alert_reads_step_records_only_not_a_notice_about_the_same_transfer(alerts):
    (query,) = _queries(_alert_rules(alerts)["stuckTransferAlert"])
    assert query.startswith(
        "traces | where isnotempty(customDimensions.transfer_id) and isnotempty(customDimensions.step) |"
    )


def test_originals_alert_fires_on_each_notice_per_transfer_and_kind(alerts):
    rule = _alert_rules(alerts)["originalsAlert"]
    (query,) = _queries(rule)
    assert "isnotempty(customDimensions.notice)" in query
    (criterion,) = rule["criterias"]["allOf"]
    assert [d["name"] for d in criterion["dimensions"]] == ["transferId", "notice"]
    assert (criterion["operator"], criterion["threshold"]) == ("GreaterThan", 0)


def test_parameters_file_feeds_only_declared_parameters_and_every_required_one(main):
    supplied = set(json.loads((INFRA / "main.parameters.json").read_text())["parameters"])
    declared = main.section("parameters")
    required = {name for name, p in declared.items() if "default" not in p}
    assert supplied - set(declared) == set()
    assert required - supplied == set()
