"""Every app setting, typed and validated, read once from the environment.

A setting is parsed the first time it is used and then cached, so a function that never
touches the partner's secrets still starts when they are absent, and a missing or malformed
value fails with a message naming the setting and what it expects.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import ClassVar
from urllib.parse import SplitResult, urlsplit

from shared.clients.http import is_loopback, redacted
from shared.domain.errors import ErrorKind
from shared.domain.regions import UnknownCountryError, region_of
from shared.resources import GUID
from shared.store.connection import StorageConnection
from shared.store.quota import QUOTA_SETTINGS, Quota

#: Microsoft's download of the licensing table, linked from the Learn page
#: ``entra/identity/users/licensing-service-plan-reference``.
MICROSOFT_SKU_REFERENCE_URL = (
    "https://download.microsoft.com/download/e/3/e/e3e9faf2-f28b-490a-9ada-c6089a1fc5b0/"
    "Product%20names%20and%20service%20plan%20identifiers%20for%20licensing.csv"
)
DEVELOPMENT_STORAGE = "UseDevelopmentStorage=true"
_HOST = re.compile(r"^[A-Za-z0-9.-]+(?::\d{1,5})?$")
_ASCII_DIGITS = re.compile(r"[0-9]{1,9}")
_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_PATH = re.compile(r"^/secrets/[0-9A-Za-z-]{1,127}/?$")
#: (default, lowest, highest, unit). EXPIRY_LEAD_DAYS: how long before an original lapses its cutover
#: is due (90: the longest lead a monthly original leaves room for). ORIGINALS_READ_HOURS: how often the
#: originals are read when no stored date asks sooner (0: every scan, for a sandbox's jumping clock).
WHOLE_NUMBERS = {"EXPIRY_LEAD_DAYS": (7, 0, 90, "days"), "ORIGINALS_READ_HOURS": (6, 0, 24, "hours")}
GDAP_AFTER_COMPLETION = ("end", "reduce")


class SettingError(ValueError):
    """A setting is missing or malformed; the message names it and says what is expected.

    ``setting`` is the name alone, so an answer to a caller can say which setting is wrong
    without quoting its value (which may be a secret).
    """

    kind: ClassVar[ErrorKind] = ErrorKind.CONFIGURATION

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        found = _SETTING_NAME.match(message)
        self.setting = setting or (found.group() if found else "unknown")


def whole_number(text: str, low: int, high: int) -> int | None:
    """``text`` as an int from ``low`` to ``high``, or None: ASCII digits only (no "²", no "①",
    no Arabic-Indic digits, no sign, no underscores) and bounded before it is converted."""
    if not _ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


@dataclass(frozen=True)
class AppInsights:
    """Where telemetry goes, and whether ingestion is authenticated with Entra (the app's identity).

    ``APPLICATIONINSIGHTS_AUTHENTICATION_STRING`` (``Authorization=AAD;ClientId=<guid>``) is the
    setting the Functions host and the Azure Monitor exporter both read, so one value serves both.
    """

    connection_string: str = field(repr=False)
    entra: bool = False
    client_id: str | None = None


class Settings:
    """The app settings the README's settings table lists; construct with an environment mapping."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)

    @cached_property
    def partner_center_endpoint(self) -> str:
        return self._url("PARTNER_CENTER_ENDPOINT", "https://api.partnercenter.microsoft.com")

    @cached_property
    def graph_endpoint(self) -> str:
        return self._url("GRAPH_ENDPOINT", "https://graph.microsoft.com")

    @cached_property
    def authority_host(self) -> str:
        return self._url("AUTHORITY_HOST", "https://login.microsoftonline.com")

    @cached_property
    def partner_tenant_id(self) -> str:
        return self._guid("PARTNER_TENANT_ID")

    @cached_property
    def partner_client_id(self) -> str:
        return self._guid("PARTNER_CLIENT_ID")

    @cached_property
    def partner_client_secret(self) -> str:
        return self._required("PARTNER_CLIENT_SECRET", "the app registration's client secret")

    @cached_property
    def partner_refresh_token(self) -> str:
        return self._required("PARTNER_REFRESH_TOKEN", "the consented partner admin's refresh token")

    @cached_property
    def partner_refresh_token_secret_uri(self) -> str | None:
        """Where a rotated refresh token is written back (None: in memory only). Not read from
        ``PARTNER_REFRESH_TOKEN``: once the platform resolves that reference the app sees the token."""
        name = "PARTNER_REFRESH_TOKEN_SECRET_URI"
        raw = self._raw(name)
        if not raw:
            return None
        parts = _split(name, raw)
        wrong_host = parts.scheme != "https" or not _has_valid_host(parts) or "@" in parts.netloc
        if wrong_host or parts.query or parts.fragment or not _SECRET_PATH.match(parts.path):
            raise SettingError(
                f"{name}: expected a versionless Key Vault secret URI (https://VAULT/secrets/NAME), "
                f"got {redacted(raw[:200])!r}",
                setting=name,
            )
        return raw.rstrip("/")

    @cached_property
    def partner_country(self) -> str:
        value = self._required("PARTNER_COUNTRY", "the partner's ISO 3166-1 alpha-2 country code, e.g. US")
        try:
            region_of(value)
        except UnknownCountryError as error:
            raise SettingError(f"PARTNER_COUNTRY: {error}") from None
        return value.strip().upper()

    @cached_property
    def webhook_cert_hosts(self) -> frozenset[str]:
        raw = self._raw("WEBHOOK_CERT_HOSTS") or "3psostorageacct.blob.core.windows.net"
        hosts = frozenset(h.strip().lower() for h in raw.split(",") if h.strip())
        bad = sorted(h for h in hosts if not _HOST.match(h))
        if bad:
            raise SettingError(f"WEBHOOK_CERT_HOSTS: expected comma-separated host names, got {bad}")
        return hosts

    @cached_property
    def webhook_trust_roots(self) -> Path | None:
        raw = self._raw("WEBHOOK_TRUST_ROOTS")
        return _readable_file("WEBHOOK_TRUST_ROOTS", raw, "a PEM bundle file") if raw else None

    @cached_property
    def storage(self) -> StorageConnection:
        return _storage_connection(self._environ)

    @cached_property
    def app_insights(self) -> AppInsights | None:
        """None when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is unset: no telemetry is exported."""
        connection_string = self._raw("APPLICATIONINSIGHTS_CONNECTION_STRING")
        if not connection_string:
            return None
        _check_insights_key(connection_string)
        name = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"
        raw = self._raw(name)
        if not raw:
            return AppInsights(connection_string)
        pairs = _pairs(name, raw, "Authorization=AAD;ClientId=<guid>")
        if pairs.get("authorization") != "AAD":
            raise SettingError(f"{name}: expected Authorization=AAD;ClientId=<guid>", setting=name)
        client_id = pairs.get("clientid") or None
        if client_id is not None and not GUID.match(client_id):
            raise SettingError(f"{name}: ClientId must be the managed identity's client id (a GUID)")
        return AppInsights(connection_string, entra=True, client_id=client_id)

    @cached_property
    def expiry_lead_days(self) -> int:
        return self._whole("EXPIRY_LEAD_DAYS")

    @cached_property
    def originals_read_hours(self) -> int:
        return self._whole("ORIGINALS_READ_HOURS")

    def _whole(self, name: str) -> int:
        default, low, high, unit = WHOLE_NUMBERS[name]
        raw = self._raw(name) or str(default)
        if (found := whole_number(raw, low, high)) is None:
            said = f"expected a whole number of {unit} from {low} to {high}, got {raw[:20]!r}"
            raise SettingError(f"{name}: {said}")
        return found

    @cached_property
    def quotas(self) -> tuple[Quota, Quota]:
        """PARTNER_CENTER_QUOTA and GRAPH_WRITE_QUOTA, calls/seconds: what every host together paces
        its Partner Center calls to, and a cutover its Graph licence writes in one tenant."""
        found = []
        for name, default in QUOTA_SETTINGS:
            raw = self._raw(name)
            quota = Quota.parse(raw) if raw else default
            if quota is None:
                raise SettingError(f"{name}: expected calls/seconds such as {default}, got {raw[:20]!r}")
            found.append(quota)
        return found[0], found[1]

    @cached_property
    def gdap_security_group_id(self) -> str:
        """The partner tenant's security group that the access assignment in each customer's tenant
        names; the partner user whose refresh token the app holds must be a member."""
        return self._guid("GDAP_SECURITY_GROUP_ID")

    @cached_property
    def gdap_after_completion(self) -> str:
        """What becomes of a customer's GDAP relationship once its transfer is done: ``end`` it
        (least privilege) or ``reduce`` (the default) its access assignment to Directory Readers."""
        name = "GDAP_AFTER_COMPLETION"
        value = (self._raw(name) or "reduce").lower()
        if value not in GDAP_AFTER_COMPLETION:
            raise SettingError(f"{name}: expected end or reduce, got {value[:20]!r}", setting=name)
        return value

    @cached_property
    def sku_reference_url(self) -> str:
        name = "SKU_REFERENCE_URL"
        raw = self._raw(name)
        if not raw:
            return MICROSOFT_SKU_REFERENCE_URL
        scheme = _split(name, raw).scheme.lower()
        if scheme == "https":
            return self._url(name, MICROSOFT_SKU_REFERENCE_URL, allow_query=True)
        if scheme in ("", "file") or len(scheme) == 1:  # a path; one letter is a Windows drive
            _refuse_control_characters(name, raw)
            _readable_file(name, urlsplit(raw).path if scheme == "file" else raw, "a readable file")
            return raw
        raise SettingError(f"{name}: expected an https:// URL or a file path, not {scheme}://", setting=name)

    def _raw(self, name: str) -> str:
        """The trimmed value; an unresolved Key Vault reference is an error, never a value."""
        value = self._environ.get(name, "").strip()
        if value.startswith("@Microsoft.KeyVault("):
            raise SettingError(
                f"{name} is an unresolved Key Vault reference: check the secret exists and the app's "
                "identity has the Key Vault Secrets User role"
            )
        return value

    def _required(self, name: str, meaning: str) -> str:
        value = self._raw(name)
        if not value:
            raise SettingError(f"{name} is not set: expected {meaning}")
        return value

    def _guid(self, name: str) -> str:
        value = self._required(name, "a GUID such as 00000000-0000-0000-0000-000000000000")
        if not GUID.match(value):
            raise SettingError(f"{name}: expected a GUID, got {value!r}")
        return value.lower()

    def _url(self, name: str, default: str, *, allow_query: bool = False) -> str:
        value = self._raw(name) or default
        parts = _split(name, value)
        expected = "an https:// URL" if allow_query else "an https:// base URL without query"
        wrong_host = parts.scheme != "https" or not _has_valid_host(parts) or "@" in parts.netloc
        if wrong_host or (parts.query and not allow_query) or parts.fragment or any(map(str.isspace, value)):
            raise SettingError(f"{name}: expected {expected}, got {redacted(value[:200])!r}", setting=name)
        return value.rstrip("/")


def _split(name: str, value: str) -> SplitResult:
    """``urlsplit`` with its ValueError (an unclosed ``[``, a bad port) turned into a SettingError."""
    _refuse_control_characters(name, value)
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises for a port outside 0..65535 or not a number
    except ValueError as error:
        raise SettingError(f"{name}: not a valid URL ({error})", setting=name) from None
    return parts


def _readable_file(name: str, raw: str, expected: str) -> Path:
    """The path, once it opens: a missing file, a folder or one the app may not read is named when
    the setting is first used, instead of failing every request that needs the file."""
    path = Path(raw)
    try:
        with path.open("rb"):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise SettingError(
            f"{name}: expected {expected}, {raw!r} cannot be read ({reason})", setting=name
        ) from None
    return path


def _refuse_control_characters(name: str, value: str) -> None:
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise SettingError(f"{name}: contains control characters", setting=name)


def _has_valid_host(parts: SplitResult) -> bool:
    host = parts.hostname
    if not host:
        return False
    if parts.netloc.rsplit("@", 1)[-1].startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    return bool(_HOST.fullmatch(host)) and parts.port != 0


def _storage_connection(environ: Mapping[str, str]) -> StorageConnection:
    name = "AzureWebJobsStorage"
    direct = environ.get(name, "").strip()
    table_uri = environ.get(f"{name}__tableServiceUri", "").strip() or None
    queue_uri = environ.get(f"{name}__queueServiceUri", "").strip() or None
    if direct:
        _check_connection_string(name, direct)
        return StorageConnection(connection_string=direct)
    if table_uri is None and queue_uri is None:
        return StorageConnection(connection_string=DEVELOPMENT_STORAGE)
    if table_uri is None or queue_uri is None:
        raise SettingError(
            f"{name}: identity-based storage needs both {name}__tableServiceUri and {name}__queueServiceUri"
        )
    for setting, uri in ((f"{name}__tableServiceUri", table_uri), (f"{name}__queueServiceUri", queue_uri)):
        parts = _split(setting, uri)
        if parts.scheme != "https" or not _has_valid_host(parts) or parts.query or parts.fragment:
            raise SettingError(
                f"{setting}: expected an https:// service URI, got {redacted(uri[:200])!r}", setting=setting
            )
    credential = environ.get(f"{name}__credential", "").strip().lower()
    if credential not in ("", "managedidentity"):
        raise SettingError(f"{name}__credential: expected 'managedidentity' or nothing, got {credential!r}")
    client_id = environ.get(f"{name}__clientId", "").strip() or None
    if client_id is not None and not GUID.match(client_id):
        raise SettingError(f"{name}__clientId: expected the managed identity's client id (a GUID)")
    return StorageConnection(
        table_service_uri=table_uri.rstrip("/"),
        queue_service_uri=queue_uri.rstrip("/"),
        credential="managedidentity" if credential else "default",
        client_id=client_id,
    )


def _pairs(name: str, value: str, expected: str) -> dict[str, str]:
    """``Key=Value;...`` as lower-cased keys and their values; a part without a key is refused."""
    pairs = [part.partition("=") for part in value.split(";") if part.strip()]
    if any(not sep or not key.strip() for key, sep, _ in pairs):
        raise SettingError(f"{name}: expected {expected}", setting=name)
    return {key.strip().lower(): item.strip() for key, _, item in pairs}


def _check_insights_key(value: str) -> None:
    """The exporter refuses a connection string without an ``InstrumentationKey`` GUID (a 500 on every
    route when it was first built); the message never quotes the string."""
    name = "APPLICATIONINSIGHTS_CONNECTION_STRING"
    pairs = (part.partition("=") for part in value.split(";"))
    key = next((v.strip() for k, _, v in pairs if k.strip().lower() == "instrumentationkey"), "")
    if not GUID.match(key):
        message = f"{name}: expected Application Insights' connection string (InstrumentationKey=<guid>;...)"
        raise SettingError(message, setting=name)


def _check_connection_string(name: str, value: str) -> None:
    """Plain http is only for the local emulator; the message never quotes the string (it has a key)."""
    if value.replace(" ", "").lower().rstrip(";") == DEVELOPMENT_STORAGE.lower():
        return
    pairs = _pairs(name, value, "a storage connection string (Key=Value;...)")
    signed = {"accountname", "accountkey"} <= pairs.keys() or "sharedaccesssignature" in pairs
    if not signed or not ("accountname" in pairs or {"tableendpoint", "queueendpoint"} <= pairs.keys()):
        raise SettingError(
            f"{name}: a storage connection string needs AccountName and AccountKey, or a "
            "SharedAccessSignature with the account's name or its table and queue endpoints",
            setting=name,
        )
    endpoints = [v for k, v in pairs.items() if k.endswith("endpoint")]
    insecure = pairs.get("defaultendpointsprotocol", "https").lower() == "http" or any(
        v.lower().startswith("http://") for v in endpoints
    )
    if not insecure:
        return
    loopback = bool(endpoints) and all(is_loopback(_split(name, v).hostname) for v in endpoints)
    if not loopback:
        raise SettingError(
            f"{name}: http:// endpoints are only accepted for the local storage emulator "
            "(UseDevelopmentStorage=true or a loopback host); use https",
            setting=name,
        )


@cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings(os.environ)
