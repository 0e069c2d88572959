"""`make demo`: a transfer run against Azurite and the local sandbox, step by step.

Everything goes through the product's own code over real sockets: the store on Azurite, the
Partner Center and Graph clients (msal included) against the sandbox's HTTPS endpoints, the
matching engine, and the admin API's handlers. The sandbox plays Microsoft and the customer.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime

from devhost.azurite import running_azurite
from sandbox.catalog import reference_csv_path
from sandbox.testing import SandboxHandle, start_sandbox

CUSTOMER = "fabrikam"  # a US customer with direct Office 365 E1 and Microsoft 365 E3 seats


class Progress:
    def __init__(self) -> None:
        self._started = time.monotonic()
        self._step = 0

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self._step += 1
        print(f"\n[{time.monotonic() - self._started:6.2f}s] {self._step}. {title}", flush=True)
        yield

    @staticmethod
    def say(text: str) -> None:
        print(f"           {text}", flush=True)


def main() -> int:
    progress = Progress()
    with ExitStack() as running:
        with progress.step("Starting Azurite (storage) and the sandbox (Partner Center, Graph, Entra)"):
            azurite = running.enter_context(running_azurite())
            sandbox = running.enter_context(start_sandbox("default"))
            progress.say(f"tables at {azurite.table_endpoint}")
            progress.say(f"sandbox at {sandbox.base_url} (its own CA, trusted through REQUESTS_CA_BUNDLE)")
        run(progress, sandbox, azurite.connection_string)
    return 0


def run(progress: Progress, sandbox: SandboxHandle, storage: str) -> None:
    os.environ.update(sandbox.env())
    os.environ["AzureWebJobsStorage"] = storage
    os.environ["SKU_REFERENCE_URL"] = str(reference_csv_path())
    # Imported after the environment is set: settings are read once per process.
    from shared.api import admin_api
    from shared.domain import Change, HistoryEntry, SourceChannel, Transfer, TransferState, new_transfer_id
    from shared.planning import service_clients
    from shared.problems import answer as through_boundary
    from shared.regions import region_of, same_region
    from shared.settings import get_settings
    from shared.store import TransferStore

    settings = get_settings()
    api = admin_api()
    store = TransferStore.connect(settings.storage)
    customer = sandbox.customer(CUSTOMER)
    now = datetime.now(UTC)

    with progress.step(f"An admin starts a transfer for {CUSTOMER} ({customer}), customer country US"):
        if not same_region(settings.partner_country, "US"):
            raise SystemExit("the demo partner must be in the United States region")
        progress.say(f"partner in {settings.partner_country} sells to {region_of('US')}: region check passed")
        invitation = service_clients().partner_center.get_relationship_request_url()
        transfer = Transfer(
            id=new_transfer_id(),
            customer_tenant_id=customer,
            customer_country="US",
            source_channel=SourceChannel.DIRECT,
            state=TransferState.AWAITING_ACCEPTANCE,
            created_at=now,
            updated_at=now,
            invitation_url=invitation,
        )
        store.create(
            transfer,
            history=HistoryEntry(
                at=now, action="created", actor="api", message="transfer started; invitation link issued"
            ),
        )
        progress.say(f"transfer {transfer.id} stored as {transfer.state}")
        progress.say(f"invitation link for the customer's global admin: {invitation}")

    with progress.step("The customer's global admin accepts the reseller relationship (and GDAP)"):
        sandbox.accept_invitation(customer)
        record = store.get(transfer.id)
        accepted, entry = record.transfer.move(TransferState.ACCEPTED, at=datetime.now(UTC), actor="webhook")
        store.commit(record, Change(accepted, history=(entry,)))
        relationship = service_clients().partner_center.get_customer(customer).relationship_to_partner
        progress.say(f"Partner Center now reports the relationship as {relationship!r}")
        progress.say("transfer moved to Accepted, with its history row in the same transaction")

    with progress.step("Inventory from Graph, catalog from Partner Center, and the plan (a dry run)"):
        answer = through_boundary(lambda: api.plan_transfer(transfer.id))
        if answer.status != 200:
            raise SystemExit(f"plan failed: {json.dumps(answer.body)}")
        for line in answer.body["lines"]:
            targets = ", ".join(f"{t['quantity']} x {t['title']}" for t in line["targets"]) or "-"
            progress.say(f"{line['sourceSkuPartNumber']:<16} {line['decision']:<10} -> {targets}")
            progress.say(f"{'':<16} {line['explanation']}")
        progress.say(f"purchases made by the dry run: {len(sandbox.purchases())}")

    with progress.step("The admin API shows the record"):
        listing = api.list_transfers({"state": "Accepted"}).body
        detail = api.get_transfer(transfer.id).body
        progress.say(f"GET /api/transfers?state=Accepted -> {[t['id'] for t in listing['items']]}")
        for item in detail["history"]:
            progress.say(f"history {item['seq']}: {item['at']} {item['actor']:<8} {item['message']}")

    print(
        "\nDone. Buying the plan, tracking each original to its expiry and the cutover are the "
        "workflow's steps, which come next.",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
