"""``python -m sandbox --port 0 --scenario NAME``: print one JSON line with the endpoints, then serve."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from .app import Server, make_app, server_ssl_context
from .catalog import load_catalog
from .pki import create_pki
from .routing import Endpoints
from .scenarios import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, SCENARIOS
from .world import partner_group_id


def _params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        params[key] = int(value) if value.isdigit() else value
    return params


def describe(sandbox: Server) -> dict[str, Any]:
    """The start-up line: everything a client or test needs to reach and trust the sandbox."""
    ep = sandbox.endpoints
    host = ep.base_url.split("//", 1)[1]
    return {
        "base_url": ep.base_url,
        "ca_bundle": str(ep.ca_bundle),
        "partner_center_endpoint": ep.partner_center,
        "graph_endpoint": ep.graph,
        "authority_host": ep.base_url,
        "partner_tenant_id": sandbox.world.partner_tenant_id,
        "partner_country": sandbox.world.partner_country,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
        "gdap_security_group_id": partner_group_id(sandbox.world.partner_tenant_id),
        "webhook_cert_hosts": host,
        "webhook_trust_roots": str(ep.ca_bundle),
        "certificate_url": ep.certificate_url,
        "scenario": sandbox.world.scenario,
    }


async def serve(sandbox: Server, sock: socket.socket, cert: Path, key: Path) -> None:
    runner = web.AppRunner(make_app(sandbox), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.SockSite(runner, sock, ssl_context=server_ssl_context(cert, key), backlog=1024)
    await site.start()
    sys.stdout.write(json.dumps(describe(sandbox)) + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--scenario", default="default", choices=sorted(SCENARIOS))
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="scenario parameter"
    )
    parser.add_argument(
        "--sku-csv", default=None, help="licensing CSV (default: $SANDBOX_SKU_CSV, else the bundled subset)"
    )
    parser.add_argument("--state-dir", default=None, help="where to write ca.pem and the server key")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the sandbox only listens on loopback")
    owned = args.state_dir is None
    state_dir = Path(args.state_dir or tempfile.mkdtemp(prefix="csp-sandbox-"))
    try:
        pki = create_pki()
        ca, cert, key = pki.write(state_dir)
        sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        port = sock.getsockname()[1]
        host = f"[{args.host}]" if ":" in args.host else args.host
        endpoints = Endpoints(f"https://{host}:{port}", ca)
        sandbox = Server(endpoints, pki, load_catalog(args.sku_csv), args.scenario, _params(args.param))
        asyncio.run(serve(sandbox, sock, cert, key))
    finally:
        if owned:
            shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
