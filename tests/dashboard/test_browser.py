"""Finding the browser: a missing one is an error that says how to get one, never a skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from devhost.browser import OVERRIDE, UNPACKED, BrowserMissingError, chromium_executable, launch_environment


def test_a_missing_override_fails_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(BrowserMissingError, match=OVERRIDE):
        chromium_executable({OVERRIDE: str(tmp_path / "no-chromium")})


def test_a_missing_unpacked_browser_fails_saying_which_make_step_unpacks_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("devhost.browser.UNPACKED", tmp_path / "node_modules" / ".cache" / "chromium")

    with pytest.raises(BrowserMissingError, match=r"run `make browser`"):
        chromium_executable({})


def test_only_the_unpacked_browser_gets_the_unpacked_libraries_and_fonts() -> None:
    unpacked = launch_environment(UNPACKED / "chromium", {"LD_LIBRARY_PATH": "/opt/lib"})
    system = launch_environment(Path("/usr/bin/chromium"), {"LD_LIBRARY_PATH": "/opt/lib"})

    assert unpacked["LD_LIBRARY_PATH"] == f"{UNPACKED / 'al2023' / 'lib'}:{UNPACKED}:/opt/lib"
    assert unpacked["FONTCONFIG_FILE"] == str(UNPACKED / "fonts.conf")
    assert system == {"LD_LIBRARY_PATH": "/opt/lib"}
