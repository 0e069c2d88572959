"""The environment's proxies, read once per host instead of on every request."""

from __future__ import annotations

import pytest

from shared.proxies import EnvironmentProxies


def test_a_host_gets_the_environments_proxy_unless_no_proxy_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "graph.example")
    proxies = EnvironmentProxies()

    assert proxies.for_url("https://partner.example/v1/customers")["https"] == "http://proxy.example:3128"
    assert proxies.for_url("https://graph.example/v1.0/users") == {}


def test_the_environment_is_read_once_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    proxies = EnvironmentProxies()
    monkeypatch.setenv("HTTPS_PROXY", "http://first.example:3128")
    first = proxies.for_url("https://partner.example/a")
    monkeypatch.setenv("HTTPS_PROXY", "http://second.example:3128")

    assert proxies.for_url("https://partner.example/b") == first
    assert proxies.for_url("https://other.example/")["https"] == "http://second.example:3128"
