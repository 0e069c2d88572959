"""The product running as in `make run`, driven end to end for the transfer benchmarks.

Azurite, the sandbox (``large`` scenario) and one or more local hosts on the same queue and tables,
started with :mod:`devhost` as the demo does; the driver then does what admins, customers and time
do: ``POST /api/transfers``, each customer's acceptance (a signed webhook), the clock passing the
originals' end and the timer run on demand. It watches the transfers' states from the table (one
query of header rows), never through the product's own reads, so watching costs the product nothing.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from azure.data.tables import TableClient

from devhost.azurite import Azurite, running_azurite
from devhost.demo import NEVER
from devhost.host import LocalHostHandle, start_local_host
from devhost.run import local_settings, register_webhook
from sandbox.testing import SandboxHandle, start_sandbox
from shared.store.repository import TABLE_NAME

#: Partner Center: 500 requests per minute per tenant identifier for its Customer, Order and
#: Subscription resources (Learn, "API throttling guidance for partners calling Partner Center APIs").
PC_QUOTA = 500
#: Graph: 3,000 identity and access writes per 2 min 30 s per app and tenant (Learn, "Microsoft Graph
#: service-specific throttling limits").
GRAPH_WRITES = (3000, 150.0)
_OPERATION = re.compile(r"info: DispatchMiddleware: Operation=(\w+)")


@dataclass
class Fleet:
    """The running product and the customers it moves."""

    sandbox: SandboxHandle
    azurite: Azurite
    hosts: list[LocalHostHandle]
    azurite_log: Path | None
    http: requests.Session = field(default_factory=requests.Session)
    transfers: dict[str, str] = field(default_factory=dict)  # customer tenant -> transfer id
    marks: dict[str, float] = field(default_factory=dict)  # phase -> when it ended (time.time())
    own_table_requests: int = 0  # the driver's own reads of the table, not the product's

    @property
    def api(self) -> str:
        return f"{self.hosts[0].url}/api"

    def table(self) -> TableClient:
        return TableClient.from_connection_string(self.azurite.connection_string, TABLE_NAME)

    def customers(self, count: int) -> list[str]:
        return [self.sandbox.customer(f"customer{n:05d}") for n in range(count)]

    def start(self, customers: Sequence[str], *, threads: int = 4) -> None:
        """``POST /api/transfers`` for each customer (a few admins at once, spread over the hosts)."""

        def start_one(numbered: tuple[int, str]) -> tuple[str, str]:
            n, customer = numbered
            body = {"customerTenantId": customer, "customerCountry": "US", "sourceChannel": "Direct"}
            answer = self.http.post(
                f"{self.hosts[n % len(self.hosts)].url}/api/transfers", json=body, timeout=120
            )
            if answer.status_code != 201:
                raise SystemExit(f"start {customer}: {answer.status_code} {answer.text[:300]}")
            return customer, str(answer.json()["id"])

        with ThreadPoolExecutor(threads) as pool:
            self.transfers.update(pool.map(start_one, enumerate(customers)))

    def register_webhook(self) -> None:
        register_webhook(self.sandbox, self.api, azurite=self.azurite)

    def accept(self, customers: Sequence[str], *, threads: int = 4) -> None:
        """Each customer's Global Administrator accepts; Partner Center sends the signed webhook."""
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(self.sandbox.accept_invitation, customers))

    def rows(self, query: str, column: str) -> list[Any]:
        """One column of the rows a query finds; each page read is counted in ``own_table_requests``."""
        found: list[Any] = []
        for page in self.table().query_entities(query, select=[column]).by_page():
            self.own_table_requests += 1
            found.extend(row.get(column) for row in page)
        return found

    def states(self) -> Counter[str]:
        """Every transfer's state, from one query of the header rows."""
        return Counter(str(state) for state in self.rows("RowKey eq 'header'", "State"))

    def wait(self, done: Callable[[Counter[str]], bool], what: str, timeout_s: float) -> Counter[str]:
        deadline = time.monotonic() + timeout_s
        while True:
            states = self.states()
            if done(states):
                return states
            if time.monotonic() > deadline:
                raise SystemExit(f"gave up waiting for {what} after {timeout_s:.0f} s: {dict(states)}")
            time.sleep(1.0)

    def wait_all(self, state: str, timeout_s: float, *, also: Sequence[str] = ()) -> Counter[str]:
        total = len(self.transfers)
        return self.wait(lambda s: sum(s[x] for x in (state, *also)) >= total, f"{total} {state}", timeout_s)

    def run_timer(self) -> None:
        answer = self.http.post(
            f"{self.hosts[0].url}/admin/functions/scan_transfers", json={"input": ""}, timeout=30
        )
        if answer.status_code != 202:
            raise SystemExit(f"the timer did not start: {answer.status_code} {answer.text[:200]}")

    def lapse_originals(self) -> None:
        """Move the sandbox clock past every original's end (as :func:`devhost.demo.cut_over`)."""
        ends = [end for end in self.rows("Kind eq 'line'", "OriginalExpires") if isinstance(end, datetime)]
        days = (max(ends) - self.sandbox.now()).total_seconds() / 86400 + 1
        self.sandbox.advance_clock(days=days)

    def mark(self, phase: str) -> None:
        self.marks[phase] = time.time()

    def host_cpu_seconds(self) -> float:
        """CPU time (user + system) the local hosts' processes have used so far."""
        return sum(process_cpu_seconds(host.pid) for host in self.hosts)

    def move(self, customers: Sequence[str], *, timeout_s: float = 3600) -> Moved:
        """Every customer through the whole transfer: started, accepted, bought, cut over, completed."""
        self.sandbox.clear_ledger()
        cpu_before = self.host_cpu_seconds()
        self.mark("begin")
        self.start(customers)
        self.mark("start")
        self.accept(customers)
        bought = self.wait_all("Provisioned", timeout_s, also=("Failed", "Blocked"))
        self.mark("buy")
        if bought["Failed"] or bought["Blocked"]:
            reasons = Counter(
                str(r) for r in self.rows("RowKey eq 'header' and State ne 'Provisioned'", "Reason")
            )
            raise SystemExit(f"not every transfer was bought: {dict(bought)}; {reasons.most_common(3)}")
        self.lapse_originals()
        self.run_timer()
        states = self.wait_all("Completed", timeout_s, also=("Failed", "Blocked"))
        self.mark("cutover")
        cpu = self.host_cpu_seconds() - cpu_before
        ledger = self.sandbox.ledger("purchases,licenseChanges,requests")
        return Moved(
            transfers=len(customers),
            marks=dict(self.marks),
            states=states,
            requests=ledger["requests"],
            purchases=ledger["purchases"],
            license_changes=ledger["licenseChanges"],
            throttled=Counter(ledger["throttled"]),
            host_cpu_s=cpu,
        )

    def storage_requests(self) -> Counter[str]:
        """Requests Azurite served (tables and queues), by operation (needs ``azurite_log``)."""
        if self.azurite_log is None:
            return Counter()
        text = self.azurite_log.read_text(encoding="utf-8", errors="replace")
        return Counter(match.group(1) for match in _OPERATION.finditer(text))


#: What each call is for, by service and path; the phase comes from when it was made.
PURPOSES: tuple[tuple[str, str, str], ...] = (
    ("partner_center", r"/relationshiprequests", "invitation link"),
    ("partner_center", r"/customers/[^/]+(/profiles/company)?$", "customer and its country"),
    ("partner_center", r"/agreements|/directSigned|/qualifications$", "customer agreement and segment"),
    ("partner_center", r"/products", "catalog"),
    ("partner_center", r"/carts", "cart and checkout"),
    ("partner_center", r"/orders|/subscriptions", "order and provisioning"),
    ("partner_center", r"/webhooks/", "webhook registration"),
    ("partner_center", r"/applicationconsents", "application consent"),
    ("graph", r"/tenantRelationships/|/organization", "GDAP and delegated access"),
    ("graph", r"/directory/subscriptions|/subscribedSkus", "inventory and seats"),
    ("graph", r"/users|/groups", "license holders"),
    ("graph", r"/\$batch", "license swaps ($batch of 20)"),
)
PHASES = ("start", "buy", "cutover")  # POST /api/transfers; acceptance to Provisioned; lapse to Completed


def purpose(request: dict[str, Any]) -> str | None:
    """What a ledger request was for (``None``: tokens, certificates and other plumbing)."""
    path = str(request["path"]).split("?")[0]
    for service, pattern, name in PURPOSES:
        if request["service"] == service and re.search(pattern, path):
            return name
    return None


@dataclass
class Moved:
    """One fleet's move: when each phase ended, how every transfer ended, and what the sandbox saw."""

    transfers: int
    marks: dict[str, float]
    states: Counter[str]
    requests: list[dict[str, Any]]
    purchases: list[dict[str, Any]]
    license_changes: list[dict[str, Any]]
    throttled: Counter[str]
    host_cpu_s: float = 0.0  # the local hosts' process CPU over the move

    @property
    def seconds(self) -> float:
        return self.marks["cutover"] - self.marks["begin"]

    def phase_of(self, at: float) -> str:
        return next((p for p in PHASES if at <= self.marks[p]), PHASES[-1])

    def calls(self) -> Counter[tuple[str, str, str]]:
        """(phase, service, purpose) -> calls answered, 429s included."""
        counted: Counter[tuple[str, str, str]] = Counter()
        for request in self.requests:
            name = purpose(request)
            if name is not None:
                counted[(self.phase_of(float(request["at"])), str(request["service"]), name)] += 1
        return counted

    def status_count(self, service: str, status: int) -> int:
        return sum(1 for r in self.requests if r["service"] == service and r["status"] == status)

    def bought_twice(self) -> int:
        """SKUs bought more than once for the same customer (each extra purchase counts)."""
        bought = Counter(
            (p["customer_id"], line["skuId"].lower()) for p in self.purchases for line in p["lines"]
        )
        return sum(n - 1 for n in bought.values() if n > 1)

    def swapped_twice(self) -> int:
        """Users (or groups) whose source licence was removed more than once."""
        removed = Counter(
            (c["tenantId"], c.get("userId") or c.get("groupId"), sku)
            for c in self.license_changes
            for sku in c["removed"]
        )
        return sum(n - 1 for n in removed.values() if n > 1)

    def swaps(self) -> int:
        return sum(len(c["removed"]) for c in self.license_changes)


def process_cpu_seconds(pid: int) -> float:
    """A process's user + system CPU time, from ``/proc/<pid>/stat`` (Linux; 0 elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def limits(speedup: float, *, pc: bool = True, graph_writes: bool = True) -> dict[str, Any]:
    """The documented quotas, with their windows shortened ``speedup`` times (same calls per window)."""
    out: dict[str, Any] = {}
    if pc:
        out["partner_center"] = {"limit": PC_QUOTA, "window_s": 60.0 / speedup, "scope": "partner"}
    if graph_writes:
        out["graph_writes"] = {"limit": GRAPH_WRITES[0], "window_s": GRAPH_WRITES[1] / speedup}
    return out


def paced(rate_limits: dict[str, Any] | None) -> dict[str, str]:
    """The product told the quotas the sandbox enforces, windows shortened alike: it paces itself
    (``PARTNER_CENTER_QUOTA``, ``GRAPH_WRITE_QUOTA``) to what it will meet."""
    settings = {}
    for knob, setting in (("partner_center", "PARTNER_CENTER_QUOTA"), ("graph_writes", "GRAPH_WRITE_QUOTA")):
        limit = (rate_limits or {}).get(knob)
        if limit:
            settings[setting] = f"{limit['limit']}/{float(limit['window_s']):.3f}"
    return settings


@contextmanager
def running_fleet(
    *,
    customers: int,
    customer_skus: int = 3,
    customer_users: int = 50,
    bigcorp_users: int = 0,
    hosts: int = 1,
    rate_limits: dict[str, Any] | None = None,
    azurite_log: Path | None = None,
) -> Iterator[Fleet]:
    """Azurite, the sandbox and ``hosts`` local hosts on the same storage; everything stops on exit."""
    params = {
        "customers": customers,
        "customer_skus": customer_skus,
        "customer_users": customer_users,
        "users": bigcorp_users,
    }
    with ExitStack() as running:
        if azurite_log is not None:
            azurite_log.unlink(missing_ok=True)
        azurite = running.enter_context(running_azurite(debug_log=azurite_log))
        sandbox = running.enter_context(start_sandbox("large", params=params, timeout_s=300))
        settings = local_settings(sandbox, azurite) | {"TRANSFER_SCAN_SCHEDULE": NEVER} | paced(rate_limits)
        started = [running.enter_context(start_local_host(settings, timeout_s=60)) for _ in range(hosts)]
        if rate_limits:
            sandbox.set_knobs(rate_limits=rate_limits)
        yield Fleet(sandbox, azurite, started, azurite_log)


def table(title: str, rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """A plain-text table, as every benchmark prints its figures."""
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    body = [
        "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in (header, *rows)
    ]
    return "\n".join([title, body[0], line, *body[1:]])


def reads_and_time(cases: Sequence[tuple[str, Callable[[], int]]], seen: list[str]) -> list[tuple[str, ...]]:
    """Each case run once to warm up, then three times: what it found, the storage requests it sent
    (``seen`` fills with one entry per request) and its median time, as table rows."""
    rows: list[tuple[str, ...]] = []
    for name, action in cases:
        action()  # warm: the connection and Azurite's caches
        seen.clear()
        times = []
        for _ in range(3):
            started = time.perf_counter()
            found = action()
            times.append(time.perf_counter() - started)
        rows.append((name, str(found), str(len(seen) // 3), f"{sorted(times)[1] * 1000:.0f} ms"))
    return rows
