"""`make demo`'s ending in a terminal: the dashboard's address and a key that works, until Enter."""

from __future__ import annotations

import re
from contextlib import ExitStack

import pytest
import requests
from rich.console import Console

from devhost import demo
from devhost.azurite import Azurite
from devhost.host import start_local_host
from devhost.run import local_settings
from sandbox.testing import SandboxHandle

pytestmark = pytest.mark.slow


def test_the_demo_keeps_the_host_up_with_the_printed_key_until_enter(
    sandbox: SandboxHandle,
    azurite: Azurite,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = local_settings(sandbox, azurite)
    seen: dict[str, int] = {}

    def enter(prompt: str) -> str:
        out = capsys.readouterr().out
        page = re.search(r"(http://\S+/api/dashboard/)", out)
        key = re.search(r"Function key\s+(\S+)", out)
        assert page
        assert key
        api = page[1].removesuffix("dashboard/") + "transfers"
        seen["page"] = requests.get(page[1], timeout=10).status_code
        seen["without"] = requests.get(api, timeout=10).status_code
        seen["with"] = requests.get(api, headers={"x-functions-key": key[1]}, timeout=10).status_code
        assert "press Enter" in prompt
        return ""

    monkeypatch.setattr("builtins.input", enter)
    with ExitStack() as hosts:
        host = hosts.enter_context(start_local_host(settings))
        demo.show_dashboard(Console(), hosts, settings, host.url)

    assert seen == {"page": 200, "without": 401, "with": 200}
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{host.url}/api/dashboard/", timeout=5)
