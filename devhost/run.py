"""`make run`: Azurite, the sandbox and the local host together, for trying the product by hand.

The local host gets the app settings (docs/settings.md) pointing at the sandbox, so every route,
queue and timer of function_app.py talks to the sandbox's Partner Center, Graph and Entra and
stores in Azurite. It prints the sandbox's customers, what each one shows, and three curl lines
that move one of them end to end. With ``DEVHOST_FUNCTION_KEYS`` set the host checks keys as Azure
does, so the webhook is registered with one of them (Partner Center calls it with ``?code=``, as
``ops.register_webhook`` registers it in Azure), and the curl lines send one.
Secret values are never printed, only that they are set.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from urllib.parse import urlencode

from devhost.azurite import Azurite, running_azurite
from devhost.host import (
    DEFAULT_PORT,
    FUNCTION_KEYS_SETTING,
    ROOT,
    LocalHostHandle,
    function_keys,
    load_settings,
    start_local_host,
)
from sandbox.catalog import reference_csv_path
from sandbox.scenarios import OTHER_PARTNER_NAME
from sandbox.testing import SandboxHandle, start_sandbox

#: The timer's schedule where no setting gives one: every five minutes, as in Azure (infra/).
SCAN_SCHEDULE = "0 */5 * * * *"
_SECRET_NAME = re.compile(r"SECRET|TOKEN|KEY|PASSWORD", re.IGNORECASE)
#: What each customer of the ``default`` scenario shows when it is tried (sandbox/README.md has more).
SHOWS = {
    "contoso": "accepted already; one subscription from every channel: direct, EA, another partner, "
    "yours, a trial and a free one",
    "fabrikam": "invitation pending; Office 365 E1 and Microsoft 365 E3 are no longer sold: replaced "
    "by their successors, licences swapped at cutover",
    "adatum": f"invitation pending; sold by {OTHER_PARTNER_NAME}: a partner-to-partner transfer "
    "(source channel OtherPartner)",
    "northwind": "in Germany, outside the partner's CSP region: refused (422)",
    "tailspin": "GDAP without License Administrator: the cutover cannot assign licences and says so",
    "wingtip": "originals in Warning, Suspended and Deleted, and a seat pool already full",
}
#: The customer the three curl lines move end to end, and how far the sandbox's clock moves: its
#: originals lapse in 40 days, so 41 takes them past their end, and the timer then finds them lapsed
#: (the product keeps the real time; only Microsoft's side, the sandbox, moves on).
WALKTHROUGH = "fabrikam"
WALKTHROUGH_DAYS = 41
SHOWN_CUSTOMERS = 12  # the `large` scenario has thousands; the rest are at GET /_sandbox/customers


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
        # The product keeps the real time while the sandbox's clock jumps days ahead: only a read of
        # the tenant on every scan sees the originals lapse, not the stored dates.
        "ORIGINALS_READ_HOURS": "0",
    }


def register_webhook(
    sandbox: SandboxHandle, api_url: str, function_key: str | None = None, *, azurite: Azurite | None = None
) -> str:
    """As the partner does once at setup, with ``ops.register_webhook``'s registration: every event
    the workflow follows, added to the partner's one registration (refused if another tool holds it).

    Where the host checks keys, Partner Center must call the webhook with one, so the URL carries it
    as ``?code=`` (the way ``ops.register_webhook`` registers the deployed app). Given ``azurite``,
    the registration's Partner Center calls take from the quota the hosts share there, as the app's do.
    """
    from ops.register_webhook import register
    from shared.bootstrap import Services
    from shared.settings import Settings
    from shared.workflow.intake import FOLLOWED_EVENTS

    url = f"{api_url}/webhooks/partner-center"
    if function_key:
        url += "?" + urlencode({"code": function_key})
    storage = {"AzureWebJobsStorage": azurite.connection_string} if azurite else {}
    services = Services(Settings(sandbox.env() | storage), verify=sandbox.ca_bundle)
    try:
        register(services.partner_center, url, sorted(FOLLOWED_EVENTS))
    finally:
        services.close()
    return url


@dataclass(frozen=True)
class Running:
    """What `make run` started: the host, its settings, and the named keys it checks (none: any key)."""

    host: LocalHostHandle
    sandbox: SandboxHandle
    azurite: Azurite
    settings: dict[str, str]
    keys: dict[str, str]
    webhook: str


def serve(running: ExitStack, sandbox: SandboxHandle, azurite: Azurite, port: int) -> Running:
    """Start the local host over the sandbox and Azurite and register the webhook, keyed if keys are checked.

    The keys are the host's own: the environment and ``local.settings.json`` as ``python -m devhost``
    reads them, under the settings given here.
    """
    settings = local_settings(sandbox, azurite)
    keys = function_keys(load_settings({**os.environ, **settings}, ROOT / "local.settings.json"))
    host = running.enter_context(start_local_host(settings, port=port))
    first_key = next(iter(keys.values()), None)
    webhook = register_webhook(sandbox, f"{host.url}/api", first_key, azurite=azurite)
    return Running(host, sandbox, azurite, settings, keys, webhook)


def customers_table(sandbox: SandboxHandle) -> list[str]:
    """The scenario's customers: name, tenant id and what each shows."""
    customers = sandbox.customers()
    width = max((len(c["name"]) for c in customers[:SHOWN_CUSTOMERS]), default=0)
    lines = []
    for customer in customers[:SHOWN_CUSTOMERS]:
        shows = SHOWS.get(customer["key"]) or ("accepted" if customer["accepted"] else "invitation pending")
        lines.append(f"  {customer['name']:<{width}}  {customer['tenantId']}  {customer['country']}  {shows}")
    if len(customers) > SHOWN_CUSTOMERS:
        more = len(customers) - SHOWN_CUSTOMERS
        lines.append(f"  ... and {more} more: GET {sandbox.base_url}/_sandbox/customers")
    return lines


def walkthrough(run: Running) -> list[str]:
    """Three curl lines that move one customer end to end: start it, it accepts, its originals lapse."""
    sandbox = run.sandbox
    customer = sandbox.customer(WALKTHROUGH) if WALKTHROUGH in sandbox.ids.customers else None
    if customer is None:
        return []
    key = ["-H", "x-functions-key: $KEY"] if run.keys else []
    as_json = ["-H", "Content-Type: application/json"]
    api = ["curl", "-sS", *as_json, *key]
    control = ["curl", "-sS", "--cacert", sandbox.ca_bundle, *as_json]
    start = {"customerTenantId": customer, "customerCountry": "US", "sourceChannel": "Direct"}
    clock = f"{sandbox.base_url}/_sandbox/clock"

    def line(*words: str) -> str:
        # $KEY stays a variable for the shell to expand: the key itself is never printed.
        return " ".join(f'"{w}"' if "$KEY" in w else shlex.quote(w) for w in words)

    lines = [
        f"Try it: move {WALKTHROUGH} end to end (follow it on the dashboard):",
        "  1. Start the transfer:",
        "     " + line(*api, "-d", json.dumps(start), f"{run.host.url}/api/transfers"),
        "  2. The customer accepts the invitation; the webhook starts the plan and the purchase:",
        "     " + line(*control, "-d", "{}", f"{sandbox.base_url}/_sandbox/customers/{customer}/accept"),
        f"  3. Once it is Provisioned, {WALKTHROUGH_DAYS} days pass, the originals lapse and the timer "
        "runs; the cutover moves the licences:",
        "     "
        + line(*control, "-d", json.dumps({"days": WALKTHROUGH_DAYS}), f"{clock}/advance")
        + " && "
        + line(*api, "-d", json.dumps({"input": ""}), f"{run.host.url}/admin/functions/scan_transfers"),
    ]
    if run.keys:
        lines.insert(1, f"  (first: KEY=<one of the values of {FUNCTION_KEYS_SETTING}>)")
    return lines


def banner(run: Running) -> list[str]:
    """What `make run` prints once everything is up."""
    from shared.clients.http import redacted

    url, sandbox, azurite = run.host.url, run.sandbox, run.azurite
    if run.keys:
        names = ", ".join(sorted(run.keys))
        sign_in = f"keys are checked, as in Azure: sign in with one of {FUNCTION_KEYS_SETTING} ({names})"
        hooked = f"registered with the sandbox's Partner Center, with the key {next(iter(run.keys))}"
    else:
        sign_in = f"any key: no {FUNCTION_KEYS_SETTING}, so the local host checks none, as Core Tools"
        hooked = "registered with the sandbox's Partner Center"
    lines = [
        f"Local host      {url}  (HTTP triggers under {url}/api)",
        f"Dashboard       {url}/api/dashboard/  ({sign_in})",
        f"Functions       {url}/admin/functions  ({', '.join(run.host.info['functions'])})",
        f"Webhook         {redacted(run.webhook)}  ({hooked})",
        f"Host log        {run.host.log}",
        f"Sandbox         {sandbox.base_url}  (control API under /_sandbox, see sandbox/README.md)",
        f"Azurite         queues {azurite.queue_endpoint}, tables {azurite.table_endpoint}",
        "",
        f"The sandbox's customers (scenario {sandbox.ids.name}):",
        *customers_table(sandbox),
        "",
        *walkthrough(run),
        "",
        "Settings in use (the environment and local.settings.json add to them):",
        *(f"  {name} = {shown(name, run.settings[name])}" for name in sorted(run.settings, key=str.lower)),
    ]
    if (ROOT / "local.settings.json").exists():
        lines.append("  (local.settings.json is present: its Values apply where these do not)")
    return lines


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
    run = serve(running, sandbox, azurite, port)
    print("", *banner(run), sep="\n")
    print("\nRunning; Ctrl-C stops everything.", flush=True)
    while run.host.process.poll() is None:
        time.sleep(0.5)
    print(f"The local host exited ({run.host.process.returncode}); see {run.host.log}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
