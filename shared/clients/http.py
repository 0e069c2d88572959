"""Plain HTTP helpers shared by every client: the session (which trusts ``REQUESTS_CA_BUNDLE``),
``Retry-After`` parsing, and the path templates that logs and spans carry instead of ids."""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from shared.clients.calls import MAX_RETRY_AFTER
from shared.proxies import ENVIRONMENT_PROXIES
from shared.resources import GUID

LOG = logging.getLogger("shared.http")


def resolve_verify(verify: bool | str | None) -> bool | str:
    """What to trust: an explicit choice, else ``REQUESTS_CA_BUNDLE``, else the system roots."""
    if verify is not None:
        return verify
    return os.environ.get("REQUESTS_CA_BUNDLE") or True


class _PinnedVerifySession(requests.Session):
    """A session whose trust is fixed at construction.

    ``requests`` lets ``REQUESTS_CA_BUNDLE`` override ``Session.verify`` on every request; msal
    calls through the session without a ``verify`` argument, so without this pin a machine-wide
    bundle would silently replace the one we were given.
    """

    def __init__(self, verify: bool | str) -> None:
        super().__init__()
        self.verify = verify
        self.trust_env = False  # the environment's proxies come once per host (shared.proxies)

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        proxies = {**ENVIRONMENT_PROXIES.for_url(str(url)), **(proxies or {})}
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None or verify is True:
            settings["verify"] = self.verify
        return settings


def make_session(verify: bool | str | None = None, *, pool_size: int = 16) -> requests.Session:
    """One pooled keep-alive session; urllib3's own retries are off because the pipeline retries."""
    session = _PinnedVerifySession(resolve_verify(verify))
    no_retries = Retry(total=False, redirect=False, raise_on_status=False)
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=no_retries)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds, fractional, or an HTTP date).

    Always finite, from 0 to :data:`MAX_RETRY_AFTER`: ``inf``, a 5,000-digit number or a date
    in year 9999 would otherwise overflow a sleep or a ``round()`` further on.
    """
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
            seconds = moment.timestamp() - now()
        except (TypeError, ValueError, OverflowError, OSError):
            return None
    if math.isnan(seconds):
        return None  # no instruction
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


_TENANT_SKU = re.compile(r"^[0-9a-fA-F-]{36}_[0-9a-fA-F-]{36}$")


_LONG_TOKEN = re.compile(r"^(?=.*\d)[A-Za-z0-9_\-.=~+]{24,}$")


def path_template(path: str) -> str:
    """A URL path with every id replaced, for logs of calls whose template is unknown.

    Ids are GUIDs, numbers, anything with ``@`` (a UPN) and long opaque tokens; the literal path
    words stay, so the log still says which operation ran.
    """
    segments = []
    for raw in path.split("/"):
        segments.append("{id}" if _is_id(raw) else raw)
    return "/".join(segments)


def _is_id(segment: str) -> bool:
    if GUID.match(segment) or _TENANT_SKU.match(segment) or segment.isdigit():
        return True
    return "@" in segment or "%40" in segment.lower() or bool(_LONG_TOKEN.match(segment))


def expand(template: str, params: Mapping[str, str]) -> str:
    """Fill a path template, escaping each value so an id can never change the path's shape."""
    return template.format_map({name: quote(str(value), safe="") for name, value in params.items()})


_USER_INFO = re.compile(r"(?<=//)[^/?#\s]*@")


_SECRET_QUERY_VALUE = re.compile(
    r"([?&;][^=&#\s]*(?:code|sig|key|pass|pwd|secret|token|credential)[^=&#\s]*=)[^&#\s'\"]*", re.IGNORECASE
)


def redacted(text: str) -> str:
    """``text`` (a URL, or a line holding some) fit for a log or a message: a URL's user info and the
    value of every query parameter named like a secret (a function key's ``code``, a SAS ``sig``, a
    ``key``, a ``password``...) become ``***``; the rest still says which address it was."""
    return _SECRET_QUERY_VALUE.sub(r"\1***", _USER_INFO.sub("***@", text))


def is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
