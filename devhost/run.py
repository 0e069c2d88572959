"""`make run`: Azurite, the sandbox and the local host together, for trying the product by hand.

The local host gets the sandbox's settings (design.md ★), so every route, queue and timer of
function_app.py talks to the sandbox's Partner Center, Graph and Entra and stores in Azurite.
Secret values are never printed, only that they are set.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import time
from contextlib import ExitStack

from devhost.azurite import Azurite, running_azurite
from devhost.host import DEFAULT_PORT, ROOT, start_local_host
from sandbox.catalog import reference_csv_path
from sandbox.testing import SandboxHandle, start_sandbox

#: The timer's schedule where no setting gives one: every five minutes, as in Azure (infra/).
SCAN_SCHEDULE = "0 */5 * * * *"
_SECRET_NAME = re.compile(r"SECRET|TOKEN|KEY|PASSWORD", re.IGNORECASE)


def shown(name: str, value: str) -> str:
    """A setting as printed: secrets (by name, or a connection string with a key) only as set."""
    if _SECRET_NAME.search(name) or "accountkey=" in value.lower():
        return "(secret, set)"
    return value


def local_settings(sandbox: SandboxHandle, azurite: Azurite) -> dict[str, str]:
    """The app settings that point the product at the sandbox and Azurite (demo, `make run`, tests)."""
    return {
        **sandbox.env(),
        "AzureWebJobsStorage": azurite.connection_string,
        "SKU_REFERENCE_URL": str(reference_csv_path()),
        "TRANSFER_SCAN_SCHEDULE": SCAN_SCHEDULE,
    }


def register_webhook(sandbox: SandboxHandle, api_url: str) -> str:
    """As the partner does once at setup, with ``ops.register_webhook``'s registration: every event
    the workflow follows, added to the partner's one registration (refused if another tool holds it)."""
    from ops.register_webhook import register
    from shared.bootstrap import Services
    from shared.settings import Settings
    from shared.workflow.intake import FOLLOWED_EVENTS

    url = f"{api_url}/webhooks/partner-center"
    services = Services(Settings(sandbox.env()), verify=sandbox.ca_bundle)
    try:
        register(services.partner_center, url, sorted(FOLLOWED_EVENTS))
    finally:
        services.close()
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost.run", description=__doc__)
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="the local host's port (0: a free one)"
    )
    parser.add_argument("--scenario", default="default", help="the sandbox's scenario")
    args = parser.parse_args(argv)
    for signum in (signal.SIGINT, signal.SIGTERM):  # also when started with SIGINT ignored
        signal.signal(signum, interrupt)
    try:
        with ExitStack() as running:
            return _run(running, args.port, args.scenario)
    except KeyboardInterrupt:
        print("\nStopped.", flush=True)
        return 0


def interrupt(signum: int, frame: object) -> None:
    """A signal handler that unwinds like Ctrl-C, so every `with` stops what it started."""
    raise KeyboardInterrupt


def _run(running: ExitStack, port: int, scenario: str) -> int:
    print("Starting Azurite, the sandbox and the local host...", flush=True)
    azurite = running.enter_context(running_azurite())
    sandbox = running.enter_context(start_sandbox(scenario))
    settings = local_settings(sandbox, azurite)
    host = running.enter_context(start_local_host(settings, port=port))
    webhook = register_webhook(sandbox, f"{host.url}/api")
    print(f"\nLocal host      {host.url}  (HTTP triggers under {host.url}/api)")
    print(f"Dashboard       {host.url}/api/dashboard/  (any key: the local host checks none, as Core Tools)")
    print(f"Functions       {host.url}/admin/functions  ({', '.join(host.info['functions'])})")
    print(f"Webhook         {webhook}  (registered with the sandbox's Partner Center)")
    print(f"Host log        {host.log}")
    print(f"Sandbox         {sandbox.base_url}  (control API under /_sandbox, see sandbox/README.md)")
    print(f"Azurite         queues {azurite.queue_endpoint}, tables {azurite.table_endpoint}")
    print("\nSettings in use (the environment and local.settings.json add to them):")
    for name in sorted(settings, key=str.lower):
        print(f"  {name} = {shown(name, settings[name])}")
    if (ROOT / "local.settings.json").exists():
        print("  (local.settings.json is present: its Values apply where these do not)")
    print("\nRunning; Ctrl-C stops everything.", flush=True)
    while host.process.poll() is None:
        time.sleep(0.5)
    print(f"The local host exited ({host.process.returncode}); see {host.log}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
