"""The dashboard's route as a browser meets it through the local host: files, headers, keys."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest
import requests

from devhost.host import LocalHostHandle
from shared.api.dashboard import ASSETS, CONTENT_SECURITY_POLICY, FOLDER
from tests.dashboard.browsing import KEY

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_the_page_is_served_with_a_strict_policy_and_revalidated(host: LocalHostHandle) -> None:
    page = requests.get(f"{host.url}/api/dashboard/index.html", timeout=10)

    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-cache"
    again = requests.get(
        f"{host.url}/api/dashboard/index.html", headers={"If-None-Match": page.headers["ETag"]}, timeout=10
    )
    assert (again.status_code, again.content) == (304, b"")


def test_each_file_has_its_content_type(host: LocalHostHandle) -> None:
    script = requests.get(f"{host.url}/api/dashboard/app.js", timeout=10)
    style = requests.get(f"{host.url}/api/dashboard/style.css", timeout=10)

    assert (script.status_code, script.headers["Content-Type"]) == (200, "text/javascript; charset=utf-8")
    assert (style.status_code, style.headers["Content-Type"]) == (200, "text/css; charset=utf-8")


def test_the_dashboards_address_with_or_without_slash_leads_to_the_page(host: LocalHostHandle) -> None:
    for address in ("/api/dashboard", "/api/dashboard/", "/api/dashboard//"):
        answer = requests.get(f"{host.url}{address}", allow_redirects=False, timeout=10)

        assert (answer.status_code, answer.headers["Location"]) == (302, "/api/dashboard/index.html"), address


def test_no_path_reaches_anything_but_the_dashboards_files(host: LocalHostHandle) -> None:
    for path in [
        "../function_app.py",
        "..%2Ffunction_app.py",
        "%2e%2e/host.json",
        "../../host.json",
        "/etc/passwd",
        "%2Fetc%2Fpasswd",
        "app.js%00.css",
        "APP.JS",
        "nothing.js",
    ]:
        answer = requests.get(f"{host.url}/api/dashboard/{path}", timeout=10)

        assert answer.status_code == 404, path
        # the dashboard's own answer, or (a path the client resolved out of it) the API's problem
        assert answer.content == b"Not Found" or answer.json()["title"] == "Not found", path


def test_the_context_holds_the_partners_region_and_no_transfer(host: LocalHostHandle) -> None:
    answer = requests.get(f"{host.url}/api/dashboard/context.json", timeout=10)

    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    context = answer.json()
    assert (context["partnerCountry"], context["partnerRegion"]) == ("US", "United States")
    assert context["regions"]["DE"] == "Europe"
    assert context["partnerTransferExpiryDays"] == 30
    assert set(context) == {
        "partnerCountry",
        "partnerRegion",
        "regions",
        "states",
        "sourceChannels",
        "partnerTransferExpiryDays",
    }


def test_the_api_behind_the_page_needs_a_named_key(host: LocalHostHandle) -> None:
    url = f"{host.url}/api/transfers"

    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"x-functions-key": "wrong"}, timeout=10).status_code == 401
    assert requests.get(url, headers={"x-functions-key": KEY}, timeout=10).status_code == 200
    assert requests.get(url, params={"code": KEY}, timeout=10).status_code == 200
    assert requests.get(f"{host.url}/api/openapi.json", timeout=10).status_code == 200


def test_every_dashboard_file_ships_in_the_deployment_package() -> None:
    ignored = [
        line.strip().rstrip("/")
        for line in (ROOT / ".funcignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    files = [path.relative_to(ROOT).as_posix() for path in FOLDER.rglob("*") if path.is_file()]

    assert sorted(ASSETS) == sorted(path.relative_to(FOLDER).as_posix() for path in FOLDER.rglob("*"))
    for name in files:
        parts = name.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        excluded = [p for p in ignored if any(fnmatch.fnmatch(x, p) for x in [*prefixes, parts[-1]])]
        assert not excluded, f"{name} is left out of the package by .funcignore {excluded}"
