"""Reads infra/**/*.bicep without the Bicep CLI, which this machine and CI lack.

tree-sitter-bicep answers "is it valid syntax" and finds calls and literals anywhere; pycep-parser turns
a file into a JSON-like tree the convention checks can walk. Both are optional imports so that a machine
without them skips these checks instead of failing (requirements-dev.txt installs them for CI).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"

# Hosts the Bicep linter's no-hardcoded-env-urls rule rejects by default: they differ per cloud and must
# come from environment() instead.
CLOUD_SPECIFIC_HOSTS = (
    "management.core.windows.net",
    "gallery.azure.com",
    "management.azure.com",
    "database.windows.net",
    "core.windows.net",
    "login.microsoftonline.com",
    "graph.windows.net",
    "trafficmanager.net",
    "vault.azure.net",
    "datalake.azure.net",
    "azuredatalakestore.net",
    "azuredatalakeanalytics.net",
    "api.loganalytics.io",
    "asazure.windows.net",
    "batch.core.windows.net",
)


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


# ---- tree-sitter: syntax and whole-file scans -----------------------------------------------------------


@cache
def _tree_sitter_parser() -> Any:
    import tree_sitter_bicep
    from tree_sitter import Language, Parser

    return Parser(Language(tree_sitter_bicep.language()))


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    for child in node.children:
        yield from _nodes(child)


def syntax_errors(source: str) -> list[str]:
    """Line:column of every place tree-sitter could not parse (it recovers, so all are reported)."""
    root = _tree_sitter_parser().parse(source.encode()).root_node
    return [
        f"{n.start_point[0] + 1}:{n.start_point[1] + 1} "
        + (f"missing {n.type}" if n.is_missing else "unexpected")
        for n in _nodes(root)
        if n.type == "ERROR" or n.is_missing
    ]


def called_functions(source: str) -> list[str]:
    """Names of every function or method called, e.g. listKeys for stg.listKeys()."""
    root = _tree_sitter_parser().parse(source.encode()).root_node
    names = []
    for node in _nodes(root):
        if node.type != "call_expression":
            continue
        callee = node.children[0]
        if callee.type == "member_expression":
            callee = callee.children[-1]
        names.append(callee.text.decode())
    return names


def string_literals(source: str) -> list[str]:
    """Literal text of every string (interpolations left out), never comments."""
    root = _tree_sitter_parser().parse(source.encode()).root_node
    return [n.text.decode() for n in _nodes(root) if n.type == "string_content"]


def object_keys(source: str) -> set[str]:
    """Every property name written in an object literal anywhere in the file."""
    root = _tree_sitter_parser().parse(source.encode()).root_node
    keys = set()
    for node in _nodes(root):
        if node.type == "object_property":
            key = node.children[0]
            keys.add(key.text.decode().strip("'"))
    return keys


# ---- pycep: structure --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """One parsed .bicep file; pycep writes a reference to a symbol as the bare symbol name."""

    path: Path
    tree: Mapping[str, Any]

    def section(self, name: str) -> Mapping[str, Any]:
        return self.tree.get(name) or {}

    def registry_modules(self) -> dict[str, Mapping[str, Any]]:
        return {k: m for k, m in self.section("modules").items() if m["type"].startswith("bicep_registry")}

    def module_using(self, path: str) -> dict[str, Any]:
        """The params of the one module whose source path is `path` (a registry path or a local file)."""
        found = [m for m in self.section("modules").values() if m["detail"]["path"] == path]
        assert len(found) == 1, f"{self.path.name}: expected one module from {path}, found {len(found)}"
        return dict(body(found[0])["params"])

    def resources_of_type(self, resource_type: str) -> dict[str, Mapping[str, Any]]:
        return {
            name: res
            for name, res in self.section("resources").items()
            if res["type"].lower() == resource_type.lower()
        }


def parse_template(path: Path, source: str | None = None) -> Template:
    from pycep import BicepParser

    text = path.read_text() if source is None else source
    return Template(path, BicepParser().parse(text=text))


def body(declaration: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object a resource or module declares, without its `for` loop or `if` condition wrapper."""
    config: Mapping[str, Any] = declaration["config"]
    while "config" in config and ("loop_type" in config or "condition" in config):
        config = config["config"]
    return config


def is_function(expression: Any, name: str) -> bool:
    return isinstance(expression, dict) and expression.get("function", {}).get("type") == name


Binding = tuple[Template, Any]


def object_entries(template: Template, expression: Any, arguments: Mapping[str, Binding]) -> dict[str, Any]:
    """The key/value pairs an object expression can produce, following variables, union() and ?: branches.

    `arguments` maps a parameter of `template` to the caller's template and expression, so settings built
    in main.bicep and passed into a module are followed across the file boundary.
    """
    variables = template.section("variables")
    if isinstance(expression, str):
        if expression in variables:
            return object_entries(template, variables[expression]["value"], arguments)
        if expression in arguments:
            caller, passed = arguments[expression]
            return object_entries(caller, passed, {})
        return {}
    if not isinstance(expression, dict):
        return {}
    if is_function(expression, "union"):
        merged: dict[str, Any] = {}
        for argument in expression["function"]["parameters"].values():
            merged.update(object_entries(template, argument, arguments))
        return merged
    if set(expression) == {"operator"}:
        operator = expression["operator"]
        if operator["type"] != "conditional":
            return {}
        operands = operator["operands"]
        return {
            **object_entries(template, operands["false_value"], arguments),
            **object_entries(template, operands["true_value"], arguments),
        }
    if set(expression) == {"function"}:
        return {}
    return {key.strip("'"): value for key, value in expression.items()}


def documented_setting_names(page: str) -> list[str]:
    """Setting names in the first column of the page's "## App settings" table."""
    match = re.search(r"^## App settings.*?$(.*?)(?=^## |\Z)", page, flags=re.MULTILINE | re.DOTALL)
    assert match, "the page has no '## App settings' section"
    names = []
    for line in match.group(1).splitlines():
        cells = line.split("|")
        if len(cells) > 2 and "`" in cells[1]:
            names.extend(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", cells[1]))
    return names
