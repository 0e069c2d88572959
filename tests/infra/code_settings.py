"""The app settings the Python code reads, found in its source so infra checks never hand-copy the list.

shared/settings.py reads each setting through one of a few helpers (``self._url("NAME", ...)``,
``environ.get(f"{name}__clientId")``, ...); the first argument of those calls, with a local
``name = "..."`` substituted into f-strings and bare names, is the setting. function_app.py names
settings in binding expressions such as ``schedule="%TRANSFER_SCAN_SCHEDULE%"``.
"""

from __future__ import annotations

import ast
import re

# The helpers of shared/settings.py whose first argument is a setting name; plus .get on the environment.
READERS = frozenset({"_url", "_guid", "_required", "_raw"})
ENVIRONMENTS = frozenset({"environ", "_environ"})
_SETTING = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BINDING_EXPRESSION = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)%")


def _local_strings(function: ast.AST) -> dict[str, str]:
    """Names a function binds to a string literal (``name = "AzureWebJobsStorage"``)."""
    found = {}
    for node in ast.walk(function):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value.value
    return found


def _text(argument: ast.expr, local: dict[str, str]) -> str | None:
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return argument.value
    if isinstance(argument, ast.Name):
        return local.get(argument.id)
    if isinstance(argument, ast.JoinedStr):
        parts = []
        for value in argument.values:
            if isinstance(value, ast.FormattedValue):
                part = _text(value.value, local)
                if part is None:
                    return None
                parts.append(part)
            else:
                parts.append(_text(value, local) or "")
        return "".join(parts)
    return None


def settings_read_by(source: str) -> set[str]:
    """Every setting name passed as the first argument of a reader call in ``source``."""
    names = set()
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef):
            continue
        local = _local_strings(function)
        for call in ast.walk(function):
            if not (isinstance(call, ast.Call) and call.args and isinstance(call.func, ast.Attribute)):
                continue
            receiver = call.func.value
            receiver_name = receiver.id if isinstance(receiver, ast.Name) else getattr(receiver, "attr", None)
            if call.func.attr not in READERS and not (
                call.func.attr == "get" and receiver_name in ENVIRONMENTS
            ):
                continue
            text = _text(call.args[0], local)
            if text is not None and _SETTING.fullmatch(text):
                names.add(text)
    return names


def binding_expression_settings(source: str) -> set[str]:
    """Settings named as ``%NAME%`` in string literals (trigger and binding arguments)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.update(_BINDING_EXPRESSION.findall(node.value))
    return names
