"""Key Vault secrets at the root (``/secrets/...``), enough for the product's refresh-token write-back.

Paths and bodies as the Key Vault REST API documents them (Set Secret, Get Secret); a request
without a bearer token gets Key Vault's 401 challenge naming the authority and the resource, so the
azure-keyvault-secrets SDK authenticates exactly as it does against a real vault. Secret ids sit at
the root because the SDK parses them as ``{vault}/secrets/{name}/{version}``.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from .routing import Call, Reply, Router
from .state import Sandbox

router: Router[Sandbox] = Router()
_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")


def kv_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})


def _bundle(sb: Sandbox, name: str, version: dict[str, Any]) -> dict[str, Any]:
    body = {
        "value": version["value"],
        "id": f"{sb.endpoints.base_url}/secrets/{name}/{version['version']}",
        "attributes": {
            "enabled": True,
            "created": version["created"],
            "updated": version["created"],
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": 90,
        },
        "tags": version["tags"],
    }
    if version["contentType"] is not None:
        body["contentType"] = version["contentType"]
    return body


def _check(call: Call, name: str) -> Reply | None:
    if not call.query.get("api-version"):
        return kv_error(400, "BadParameter", "The api-version query parameter is required.")
    if not _NAME.match(name):
        return kv_error(400, "BadParameter", "The secret name is not valid: 1-127 letters, digits or dashes.")
    return None


@router.route("PUT", "/secrets/{name}")
def set_secret(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    name = p["name"]
    refused = _check(call, name)
    if refused is not None:
        return refused
    body = call.json()
    if not isinstance(body.get("value"), str):
        return kv_error(400, "BadParameter", "The request body must carry the secret's value.")
    version = {
        "value": body["value"],
        "version": uuid.uuid4().hex,
        "created": int(time.time()),
        "contentType": body.get("contentType"),
        "tags": body.get("tags") or {},
    }
    sb.vault.secrets.setdefault(name.lower(), []).append(version)
    return Reply(200, _bundle(sb, name, version))


@router.route("GET", "/secrets/{name}")
def get_latest(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    return get_secret(sb, call, {"name": p["name"], "version": ""})


@router.route("GET", "/secrets/{name}/{version}")
def get_secret(sb: Sandbox, call: Call, p: dict[str, str]) -> Reply:
    name, wanted = p["name"], p["version"].lower()
    refused = _check(call, name)
    if refused is not None:
        return refused
    versions = sb.vault.secrets.get(name.lower(), [])
    found = versions[-1:] if not wanted else [v for v in versions if v["version"] == wanted]
    if not found:
        message = f"A secret with (name/id) {name} was not found in this key vault."
        return kv_error(404, "SecretNotFound", message)
    return Reply(200, _bundle(sb, name, found[0]))
