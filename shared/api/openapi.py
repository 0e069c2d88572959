"""The app's OpenAPI 3.1 description, hand-written in ``openapi.json`` beside this module.

Hand-written so it reads as the contract, not as a by-product of the code; tests/api/test_openapi.py
keeps it true (every registered route documented, every example and real answer valid).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import Any


@cache
def openapi_document() -> Mapping[str, Any]:
    """The document, read once per process; callers must not change it."""
    document: dict[str, Any] = json.loads(files("shared.api").joinpath("openapi.json").read_text("utf-8"))
    return document
