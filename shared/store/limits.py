"""Azure Table Storage's limits, checked before any request (Azurite enforces none of them)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from azure.data.tables import EdmType, EntityProperty
from azure.data.tables._serialize import _add_entity_properties

from shared.store.errors import StorageLimitError

MAX_TRANSACTION_OPERATIONS = 100


MAX_TRANSACTION_BYTES = 4 * 1024 * 1024


MAX_ENTITY_BYTES = 1024 * 1024


MAX_CUSTOM_PROPERTIES = 252


#: PartitionKey and RowKey: "up to 1 KiB in size" (Table service data model), counted in UTF-16
#: like every string Azure stores, so at most 512 characters of the Basic Multilingual Plane.
MAX_KEY_BYTES = 1024


MAX_STRING_BYTES = 64 * 1024


MIN_INT32, MAX_INT32 = -(2**31), 2**31 - 1


MIN_INT64, MAX_INT64 = -(2**63), 2**63 - 1


#: A transaction's payload also carries, per operation, a multipart boundary, part headers and
#: the request line; 512 bytes covers them (the keys in the URL are counted separately).
OPERATION_OVERHEAD_BYTES = 512


_FORBIDDEN_KEY_CHARACTERS = frozenset("/\\#?") | {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))}


_SYSTEM_PROPERTIES = frozenset({"PartitionKey", "RowKey", "Timestamp", "etag"})


#: A long text is stored in parts of at most this many characters: 64 KiB in UTF-16 even if every
#: character needed a surrogate pair.
TEXT_PART_CHARS = MAX_STRING_BYTES // 4


def spread_texts(entity: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """``entity`` with each text property of ``names`` longer than one string may be (a line of a
    20,000-seat tenant lists over a hundred replacements) spread over ``Name``, ``Name2``, ``Name3``...;
    the entity's 1 MiB and 252 properties still bound the whole, and :func:`check_entity` says so."""
    spread = dict(entity)
    for name in names:
        text = spread.get(name)
        if isinstance(text, str) and len(text) > TEXT_PART_CHARS:
            parts = [text[i : i + TEXT_PART_CHARS] for i in range(0, len(text), TEXT_PART_CHARS)]
            spread.update({name if n == 0 else f"{name}{n + 1}": part for n, part in enumerate(parts)})
    return spread


def gather_texts(row: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The row with each text :func:`spread_texts` spread joined again under its own name."""
    gathered = dict(row)
    for name in names:
        part = 2
        while f"{name}{part}" in gathered:
            gathered[name] += gathered.pop(f"{name}{part}")
            part += 1
    return gathered


def check_key(value: str, *, name: str = "key", from_input: bool = False) -> None:
    if not value:
        raise StorageLimitError(f"{name} must not be empty", from_input=from_input)
    if not _is_unicode(value):
        raise StorageLimitError(f"{name} is not valid Unicode text", from_input=from_input)
    size = _utf16_bytes(value)
    if size > MAX_KEY_BYTES:
        raise StorageLimitError(
            f"{name} is {size} bytes in UTF-16; Azure allows {MAX_KEY_BYTES} (1 KiB)", from_input=from_input
        )
    bad = sorted({c for c in value if c in _FORBIDDEN_KEY_CHARACTERS})
    if bad:
        raise StorageLimitError(
            f"{name} {value[:100]!r} contains characters Azure Tables forbid in keys: {bad}",
            from_input=from_input,
        )


def is_valid_key(value: str) -> bool:
    try:
        check_key(value)
    except StorageLimitError:
        return False
    return True


def encode_key(value: str) -> str:
    """An external id made safe for a key: forbidden characters and '%' percent-encoded."""
    return "".join(f"%{ord(c):02X}" if c in _FORBIDDEN_KEY_CHARACTERS or c == "%" else c for c in value)


def entity_size(entity: Mapping[str, Any]) -> int:
    """Bytes Azure counts for an entity (its documented formula: UTF-16 strings, fixed-size scalars)."""
    size = 4 + _utf16_bytes(str(entity["PartitionKey"])) + _utf16_bytes(str(entity["RowKey"]))
    for name, value in entity.items():
        if name in _SYSTEM_PROPERTIES:
            continue
        size += 8 + 2 * len(name) + _value_size(value)
    return size


def check_entity(entity: Mapping[str, Any]) -> None:
    check_key(str(entity["PartitionKey"]), name="PartitionKey")
    check_key(str(entity["RowKey"]), name="RowKey")
    custom = [name for name in entity if name not in _SYSTEM_PROPERTIES]
    where = f"entity {entity['PartitionKey']}/{entity['RowKey']}"
    if len(custom) > MAX_CUSTOM_PROPERTIES:
        raise StorageLimitError(f"{where} has {len(custom)} properties; Azure allows {MAX_CUSTOM_PROPERTIES}")
    for name in custom:
        value = entity[name]
        if isinstance(value, str) and not _is_unicode(value):
            raise StorageLimitError(f"{where}: property {name} is not valid Unicode text")
        if isinstance(value, str) and _utf16_bytes(value) > MAX_STRING_BYTES:
            raise StorageLimitError(f"{where}: property {name} is over Azure's 64 KiB string limit")
        if isinstance(value, int) and not isinstance(value, bool) and not MIN_INT64 <= value <= MAX_INT64:
            raise StorageLimitError(f"{where}: property {name} is outside Azure's 64-bit integer range")
    size = entity_size(entity)
    if size > MAX_ENTITY_BYTES:
        raise StorageLimitError(f"{where} is {size} bytes; Azure allows {MAX_ENTITY_BYTES} (1 MiB)")


def check_transaction(entities: Iterable[Mapping[str, Any]]) -> None:
    batch = list(entities)
    if len(batch) > MAX_TRANSACTION_OPERATIONS:
        raise StorageLimitError(
            f"a transaction of {len(batch)} operations; Azure allows {MAX_TRANSACTION_OPERATIONS}"
        )
    if len({e["PartitionKey"] for e in batch}) > 1:
        raise StorageLimitError("a transaction must stay inside one partition")
    keys = [e["RowKey"] for e in batch]
    if len(keys) != len(set(keys)):
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        raise StorageLimitError(f"a transaction may touch each entity once; repeated: {repeated}")
    for entity in batch:
        check_entity(entity)
    total = sum(wire_size(e) for e in batch)
    if total > MAX_TRANSACTION_BYTES:
        raise StorageLimitError(
            f"a transaction of {total} bytes; Azure allows {MAX_TRANSACTION_BYTES} (4 MiB)"
        )


def wire_size(entity: Mapping[str, Any]) -> int:
    """Bytes one operation adds to a transaction's payload, measured as the SDK sends it: JSON
    with every non-ASCII character escaped (``é`` is six bytes, an emoji twelve), the keys
    percent-encoded in the request URL, and the multipart framing."""
    body = json.dumps(_add_entity_properties(typed_entity(entity)))
    keys = quote(str(entity["PartitionKey"]), safe="") + quote(str(entity["RowKey"]), safe="")
    return len(body) + len(keys) + OPERATION_OVERHEAD_BYTES


def typed_entity(entity: Mapping[str, Any]) -> dict[str, Any]:
    """The entity as the SDK must get it: it sends a plain int as Int32, so wider ones say Int64."""
    return {
        name: EntityProperty(value, EdmType.INT64)
        if isinstance(value, int) and not isinstance(value, bool) and not MIN_INT32 <= value <= MAX_INT32
        else value
        for name, value in entity.items()
    }


def stored_int(value: Any) -> int:
    """A stored integer: Int64 properties come back wrapped in an ``EntityProperty``."""
    return int(value.value if isinstance(value, EntityProperty) else value)


def _value_size(value: Any) -> int:
    if isinstance(value, bool):
        return 1
    if isinstance(value, int):
        return 4 if -(2**31) <= value < 2**31 else 8
    if isinstance(value, float | datetime):
        return 8
    if isinstance(value, bytes):
        return 4 + len(value)
    if value is None:
        return 0
    return 4 + _utf16_bytes(str(value))


def _utf16_bytes(text: str) -> int:
    return len(text.encode("utf-16-le", errors="surrogatepass"))


def _is_unicode(text: str) -> bool:
    """False for a lone surrogate, which no storage request can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_page_size(page_size: int) -> None:
    if not 1 <= page_size <= 1000:
        raise ValueError("page_size must be from 1 to 1000")
