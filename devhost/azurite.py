"""Azurite, the storage emulator, started on free loopback ports for tests and the demo.

Ports are chosen by Azurite itself (port 0) and read back from its start-up lines, so two
runs side by side never collide; the data lives in memory and disappears with the process.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The documented development account; public by design, it only opens the local emulator.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at (http://\S+)")


@dataclass(frozen=True)
class Azurite:
    """A running emulator: its endpoints and the connection string the SDKs take."""

    blob_endpoint: str
    queue_endpoint: str
    table_endpoint: str

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};QueueEndpoint={self.queue_endpoint};"
            f"TableEndpoint={self.table_endpoint};"
        )


class AzuriteNotInstalledError(RuntimeError):
    """npm has not installed Azurite into node_modules (run `make test` or `npm ci`)."""


def azurite_binary() -> Path:
    binary = ROOT / "node_modules" / ".bin" / "azurite"
    if not binary.exists():
        found = shutil.which("azurite")
        if found is None:
            raise AzuriteNotInstalledError(f"{binary} is missing: run `npm ci` in {ROOT}")
        return Path(found)
    return binary


@contextmanager
def running_azurite(start_timeout: float = 60.0, *, debug_log: Path | None = None) -> Iterator[Azurite]:
    """Start Azurite in memory on free loopback ports; stop it (and its children) on exit.

    ``debug_log`` makes Azurite write every request it serves there (benchmarks count them).
    """
    workdir = tempfile.mkdtemp(prefix="azurite-")
    command = [
        str(azurite_binary()),
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--loose",
        *("--blobHost", "127.0.0.1", "--blobPort", "0"),
        *("--queueHost", "127.0.0.1", "--queuePort", "0"),
        *("--tableHost", "127.0.0.1", "--tablePort", "0"),
        *(("--debug", str(debug_log)) if debug_log is not None else ()),
    ]
    process = subprocess.Popen(
        command,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        endpoints = _read_endpoints(process, start_timeout)
        assert process.stdout is not None
        # Keep draining its output so a chatty emulator never blocks on a full pipe.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        yield Azurite(
            blob_endpoint=f"{endpoints['Blob']}/{ACCOUNT}",
            queue_endpoint=f"{endpoints['Queue']}/{ACCOUNT}",
            table_endpoint=f"{endpoints['Table']}/{ACCOUNT}",
        )
    finally:
        _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def _read_endpoints(process: subprocess.Popen[str], timeout: float) -> dict[str, str]:
    assert process.stdout is not None
    endpoints: dict[str, str] = {}
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        for line in process.stdout:
            seen.append(line.rstrip())
            match = _LISTENING.search(line)
            if match:
                endpoints[match.group(1)] = match.group(2)
            if len(endpoints) == 3:
                return endpoints
            if time.monotonic() > deadline:
                break
    finally:
        timer.cancel()
    raise RuntimeError("Azurite did not start; its output was:\n" + "\n".join(seen[-20:]))


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, 15)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, 9)
        except ProcessLookupError:
            return
        process.wait(timeout=5)
