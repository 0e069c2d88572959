"""The proxies the environment sets (``HTTPS_PROXY``, ``NO_PROXY``...), read once per host.

``requests`` looks them up on every request, twice (for its settings, then for the send), and each
look reads every environment variable: with the few hundred settings of a Functions host that is a
millisecond of CPU per call, more than a transfer's own work between its calls. The environment
does not change while the process runs, so each host's answer is kept. Sessions that use this set
``trust_env`` off and pass these proxies themselves.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

from requests.utils import get_environ_proxies


class EnvironmentProxies:
    """Each scheme and host's proxies as the environment sets them (none when ``NO_PROXY`` says so)."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, str], dict[str, str]] = {}
        self._lock = threading.Lock()

    def for_url(self, url: str) -> dict[str, str]:
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        with self._lock:
            found = self._found.get(key)
        if found is None:
            found = dict(get_environ_proxies(url, no_proxy=None))
            with self._lock:
                self._found[key] = found
        return dict(found)


#: One per process: every session and transport of the app asks it.
ENVIRONMENT_PROXIES = EnvironmentProxies()
