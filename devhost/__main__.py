"""``python -m devhost [--port N]``: run function_app.py's registrations; print one JSON line when ready."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from devhost.host import DEFAULT_PORT, MESSAGE_LEASE_S, HostError, LocalHost, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--app", default="function_app", help="module holding the FunctionApp")
    parser.add_argument("--host-json", type=Path, default=Path("host.json"))
    parser.add_argument("--local-settings", type=Path, default=Path("local.settings.json"))
    parser.add_argument(
        "--message-lease",
        type=float,
        default=MESSAGE_LEASE_S,
        help="seconds a running queue message stays invisible (renewed); after a crash it reappears then",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("azure").setLevel(logging.WARNING)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        # As the Functions host does, local settings become the worker's environment (which wins).
        os.environ.update(load_settings(os.environ, args.local_settings))
        host = LocalHost(
            args.app,
            settings=os.environ,
            port=args.port,
            host_json=args.host_json,
            message_lease_s=args.message_lease,
        ).start()
    except HostError as error:  # a setting or the app is wrong: say which, in one line
        sys.stderr.write(f"python -m devhost: {error}\n")
        return 2
    try:
        ready = {"url": host.url, "pid": os.getpid(), "functions": sorted(host.functions)}
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        stopping.wait()
    finally:
        host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
