"""A headless Chromium for the dashboard's browser tests and screenshots, driven by Playwright.

The binary is the one the npm package ``@sparticuz/chromium`` ships, unpacked by
``devhost/unpack-chromium.mjs`` (``make browser``, a step of ``make test``) into ``node_modules/.cache/``;
``DASHBOARD_CHROMIUM`` may name another Chromium instead (a system one, for instance). No browser
means a clear error saying how to get one, never a silent skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Error, sync_playwright

from devhost.host import ROOT

OVERRIDE = "DASHBOARD_CHROMIUM"
UNPACKED = ROOT / "node_modules" / ".cache" / "chromium"
ARGS = (
    "--no-sandbox",  # root in CI containers; the pages are our own, over loopback
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
)


class BrowserMissingError(RuntimeError):
    """No Chromium to run: the message says how to get one."""


def chromium_executable(environ: Mapping[str, str] = os.environ) -> Path:
    chosen = environ.get(OVERRIDE)
    path = Path(chosen) if chosen else UNPACKED / "chromium"
    if not (path.is_file() and os.access(path, os.X_OK)):
        how = (
            f"{OVERRIDE} names {chosen!r}, which is not an executable file"
            if chosen
            else f"{path} is missing: run `make browser` (part of `make test`; it runs `npm ci` "
            "first), or set DASHBOARD_CHROMIUM to a Chromium binary (e.g. Debian's "
            "`apt-get install chromium`, then /usr/bin/chromium)"
        )
        raise BrowserMissingError(f"no Chromium for the dashboard tests: {how}")
    return path


def launch_environment(
    executable: Path, environ: Mapping[str, str] = os.environ
) -> dict[str, str | float | bool]:
    """The browser's environment: the unpacked libraries and fonts when it is the unpacked binary."""
    env: dict[str, str | float | bool] = dict(environ)
    if executable.parent == UNPACKED:
        libraries = [str(UNPACKED / "al2023" / "lib"), str(UNPACKED)]
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            [*libraries, *filter(None, [environ.get("LD_LIBRARY_PATH")])]
        )
        env["FONTCONFIG_FILE"] = str(UNPACKED / "fonts.conf")
    return env


@contextmanager
def chromium() -> Iterator[Browser]:
    """One headless browser, closed afterwards."""
    executable = chromium_executable()
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=executable,
                headless=True,
                args=list(ARGS),
                env=launch_environment(executable),
                timeout=60_000,
            )
        except Error as error:
            raise BrowserMissingError(
                f"Chromium at {executable} did not start ({error.message.splitlines()[0]}); set "
                f"{OVERRIDE} to a Chromium that runs on this machine"
            ) from error
        try:
            yield browser
        finally:
            browser.close()
