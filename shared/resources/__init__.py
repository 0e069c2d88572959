"""Partner Center and Microsoft Graph resources as typed values, parsed once at the edge.

Each dataclass mirrors a documented JSON resource (field names in snake case) and has a
``from_json`` that raises :class:`MalformedResourceError` naming the missing or mistyped field,
so nothing deeper in the core ever handles a raw dict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

#: An Entra object id, tenant id or SKU id, as Microsoft writes it.
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class MalformedResourceError(ValueError):
    """A response body did not have the documented shape."""


def field(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...], *, resource: str) -> Any:
    """A required field of the given JSON type, or a clear error naming it."""
    if name not in data or data[name] is None:
        raise MalformedResourceError(f"{resource}: missing field {name!r}")
    value = data[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
        expected = _kind_name(kind)
        raise MalformedResourceError(f"{resource}: field {name!r} should be {expected}, got {value!r}")
    return value


def json_object(data: Any, what: str) -> Mapping[str, Any]:
    """A response body that must be a JSON object."""
    if not isinstance(data, dict):
        raise MalformedResourceError(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


def optional(
    data: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any, *, resource: str
) -> Any:
    """An optional field: its default when absent or null, else checked like :func:`field`."""
    if data.get(name) is None:
        return default
    return field(data, name, kind, resource=resource)


def timestamp(data: Mapping[str, Any], name: str, *, resource: str) -> datetime | None:
    """An optional ISO 8601 timestamp, always timezone-aware (UTC when the text has no offset)."""
    text = optional(data, name, str, None, resource=resource)
    if text is None:
        return None
    return parse_timestamp(text, name=name, resource=resource)


def parse_timestamp(text: str, *, name: str = "timestamp", resource: str = "value") -> datetime:
    cleaned = text.strip()
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    # Partner Center writes seven fractional digits (.NET ticks); Python takes six.
    if "." in cleaned:
        head, _, rest = cleaned.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        cleaned = f"{head}.{digits[:6]}{zone}"
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError as error:
        message = f"{resource}: field {name!r} is not an ISO 8601 time: {text!r}"
        raise MalformedResourceError(message) from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        list: "a list",
        dict: "an object",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def strings(data: Mapping[str, Any], name: str, *, resource: str) -> tuple[str, ...]:
    values = optional(data, name, list, [], resource=resource)
    if not all(isinstance(v, str) for v in values):
        raise MalformedResourceError(f"{resource}: field {name!r} should hold strings")
    return tuple(values)


def objects(data: Mapping[str, Any], name: str, *, resource: str) -> list[Mapping[str, Any]]:
    values = optional(data, name, list, [], resource=resource)
    if not all(isinstance(v, dict) for v in values):
        raise MalformedResourceError(f"{resource}: field {name!r} should hold objects")
    return list(values)


def lowered(value: str | None) -> str | None:
    return value.lower() if value else None
