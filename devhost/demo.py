"""`make demo`: a fleet of customers moved end to end through the product's own triggers.

Azurite holds the queue and the tables, the sandbox plays Microsoft and the customers, and the
local host runs function_app.py as Azure would. Every product action goes through the HTTP API
(`POST /api/transfers`, `.../approve`, `.../retry`), a signed Partner Center webhook or the timer;
the sandbox's control API only plays the customers' admins and the passing of time. Each entry of
:data:`CASES` names a situation and the state its transfer must end in; the exit status says
whether every one did.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests
from rich.console import Console
from rich.live import Live
from rich.table import Table

from devhost.azurite import Azurite, running_azurite
from devhost.host import FUNCTION_KEYS_SETTING, start_local_host
from devhost.run import interrupt, local_settings, register_webhook
from sandbox.scenarios import OTHER_PARTNER_NAME
from sandbox.testing import SandboxHandle, start_sandbox

REFUSED = "refused"  # the expected "state" of a transfer the API will not start
FLEET = 20  # the `large` scenario's small customers used (each: direct Office 365 E3 x10, 2 users)
NEVER = "0 0 0 1 1 *"  # the demo runs the timer itself, at the moments the story needs it
# Withdrawn while the approval case plans: its suite then has no full equivalent. The Business suites
# carry Teams too, but cannot be assigned beside the no-Teams suite (SharePoint Plan 1 and Plan 2), so
# the plan never pairs them with it. The function app caches each country's catalog for hours, so it
# is restarted once they are back on sale.
TEAMS_OFFERS = ("TEAMS_ENTERPRISE", "O365_E5")
STUCK = ("Blocked", "Failed", "Cancelled")  # states only an admin's action moves on
STOPPED = "Blocked"  # the expected end of a case the plan's own checks stop before anything is bought
GRAPH_LIMIT = {"limit": 4, "window_s": 1.0}  # during the cutovers: Graph throttles, nothing fails
DEFERRED = {"purchaseTiming": "beforeLapse", "purchaseLeadDays": 14}


@dataclass(frozen=True)
class Case:
    """One customer of the story: what it shows, how the sandbox prepares it, how it must end."""

    customer: str
    shows: str
    expected: str = "Completed"
    country: str = "US"
    options: dict[str, Any] = field(default_factory=dict)
    users: int = 0  # extra users holding Office 365 E3 directly
    group_users: int = 0  # extra users licensed through the tenant's E3 group
    identical: int = 0  # seats of an offer still sold (EMS E3) bought elsewhere, one user each
    webhook: bool = True  # False: accepts before the webhook is registered, only the timer sees it
    approval: bool = False  # plans while the Teams-carrying offers are withdrawn
    throttled: bool = False  # Partner Center answers its cart 429 with Retry-After
    stranded: bool = False  # one E3 user has no usage location until after the cutover
    refund: bool = False  # backs out once bought: cancelled with its purchases refunded
    partner_submits: tuple[str, ...] = ()  # from another CSP partner: what it submits for transfer
    contact_later: bool = (
        False  # never accepted its customer agreement: Blocked until a retry gives a contact
    )


SITUATIONS: tuple[Case, ...] = (
    Case("fabrikam", "discontinued E1 and M365 E3, invitation pending"),
    Case("contoso", "equivalent, licences direct and through a group", group_users=4, users=2),
    Case("northwind", "region mismatch: DE customer, US partner", expected=REFUSED, country="DE"),
    Case("customer00000", "identical offer (EMS E3) beside an equivalent", identical=3),
    Case("customer00001", "needs approval: no Teams-carrying successor", approval=True),
    Case("customer00002", "webhook missed: the timer's backstop", webhook=False),
    Case("customer00003", "throttled: 429 + Retry-After on the cart", throttled=True),
    Case("customer00004", "deferred purchase: 14 days before lapse", options=DEFERRED),
    Case("customer00005", "user without usage location, fixed, retried", stranded=True),
    Case("customer00006", "backs out once bought: refunded", expected="Cancelled", refund=True),
    Case(
        "adatum",
        "from another CSP partner: one line transferred, one rebought",
        partner_submits=("adatum.other_partner_bp",),
    ),
    Case("relecloud", "350 Business Premium seats, 300 per customer: waits for a choice", expected=STOPPED),
    Case("lamna", "tenant in Canada, US typed at start: refused before buying", expected=STOPPED),
    Case(
        "litware",
        "no Microsoft Customer Agreement: blocked, contact given, confirmed once",
        contact_later=True,
    ),
    Case("fineartschool", "qualified for education: its education availabilities only"),
    Case("treyresearch", "a qualified nonprofit: its nonprofit availabilities only"),
)
CASES = (
    *SITUATIONS,
    *(Case(f"customer{n:05d}", "discontinued O365 E3: equivalent", users=n % 4) for n in range(7, FLEET)),
)


@dataclass
class Run:
    """The demo's view of every case: its transfer id and latest record (or the 422 it got)."""

    sandbox: SandboxHandle
    host_url: str
    restart_host: Callable[[], None]
    console: Console
    cases: tuple[Case, ...]
    azurite: Azurite
    tenants: dict[str, str] = field(default_factory=dict)
    transfers: dict[str, str] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    stranded: dict[str, str] = field(default_factory=dict)
    reported: Counter[str] = field(default_factory=Counter)  # user failures the cutover reported
    http: requests.Session = field(default_factory=requests.Session)
    started: float = field(default_factory=time.monotonic)

    @property
    def api(self) -> str:
        return f"{self.host_url}/api"

    def heading(self, text: str) -> None:
        self.console.print(f"\n[bold][{time.monotonic() - self.started:5.1f}s] {text}[/bold]")

    def say(self, text: str) -> None:
        self.console.print(f"  {text}", markup=False)

    def call(self, method: str, path: str, status: int, body: Any = None) -> dict[str, Any]:
        answer = self.http.request(method, f"{self.api}{path}", json=body, timeout=60)
        if answer.status_code != status:
            raise SystemExit(f"{method} {path} -> {answer.status_code}: {answer.text[:500]}")
        result: dict[str, Any] = answer.json()
        return result

    def run_timer(self) -> None:
        answer = self.http.post(
            f"{self.host_url}/admin/functions/scan_transfers", json={"input": ""}, timeout=30
        )
        if answer.status_code != 202:
            raise SystemExit(f"the timer did not start: {answer.status_code} {answer.text[:200]}")
        self.say("timer scan_transfers run (every 5 minutes in Azure)")

    def refresh(self, customers: Iterable[str] | None = None) -> None:
        for customer in customers if customers is not None else self.transfers:
            path = f"/transfers/{self.transfers[customer]}?historyPageSize=1"
            self.records[customer] = self.call("GET", path, 200)

    def wait(
        self, done: Callable[[dict[str, Any]], bool], cases: Iterable[Case], timeout_s: float = 120
    ) -> None:
        """Follow these cases' transfers, live, until each record satisfies ``done``."""
        watched = [c.customer for c in cases if c.customer in self.transfers]
        deadline = time.monotonic() + timeout_s
        shown: dict[str, str] = {}
        terminal = self.console.is_terminal
        live = (
            Live(self.table(), console=self.console, auto_refresh=False, transient=True) if terminal else None
        )
        with live or ExitStack():
            while True:
                self.refresh(watched)
                if live is not None:
                    live.update(self.table(), refresh=True)
                for customer in [] if live else watched:  # without a terminal: one line per change
                    state = self.records[customer]["state"]
                    if shown.get(customer) != state:
                        self.say(f"{customer:<14} {state}")
                        shown[customer] = state
                if all(done(self.records[c]) for c in watched):
                    break
                stuck = [
                    c for c in watched if not done(self.records[c]) and self.records[c]["state"] in STUCK
                ]
                if stuck or time.monotonic() > deadline:
                    late = {
                        c: self.records[c]["reason"] or self.records[c]["state"]
                        for c in watched
                        if not done(self.records[c])
                    }
                    raise SystemExit(
                        f"stopped waiting after {time.monotonic() - deadline + timeout_s:.0f} s: {late}"
                    )
                time.sleep(0.5)
        states = Counter(self.records[c]["state"] for c in watched)
        self.say(", ".join(f"{n} {state}" for state, n in states.most_common()))

    def final(self, case: Case) -> str:
        record = self.records.get(case.customer)
        return record["state"] if record else REFUSED if case.customer in self.tenants else "-"

    def table(self, *, summary: bool = False) -> Table:
        table = Table(title="Summary" if summary else "Transfers", title_justify="left")
        for column in ("customer", *(("scenario",) if summary else ()), "state", "lines", "moved"):
            table.add_column(column)
        if summary:
            table.add_column("failures", justify="right")
            table.add_column("API calls", justify="right")
        for case in self.cases:
            record = self.records.get(case.customer)
            state = self.final(case)
            lines = record["lines"] if record else []
            decided = Counter(_how_covered(line) for line in lines)
            row = [case.customer, *((case.shows,) if summary else ()), _coloured(state, case.expected)]
            row += [" ".join(f"{n} {d}" for d, n in sorted(decided.items())) or "-", str(_moved(lines))]
            if summary:
                failed = sum(line["licenses"]["failed"] for line in lines)
                fixed = self.reported[case.customer] - failed
                row += [
                    f"{failed}{f' ({fixed} fixed)' if fixed else ''}",
                    str(record["apiCalls"]) if record else "-",
                ]
            table.add_row(*row)
        return table


def _how_covered(line: dict[str, Any]) -> str:
    """A line moved by a partner-to-partner transfer is neither bought identical nor equivalent."""
    moved = (line.get("partnerTransfer") or {}).get("status") == "Transferred"
    return "transferred" if moved else line["decision"] or "?"


def _moved(lines: list[dict[str, Any]]) -> int:
    return sum(line["licenses"]["moved"] for line in lines)


def _coloured(state: str, expected: str) -> str:
    colour = "green" if state == expected else "red" if state in ("Failed", "Blocked", REFUSED) else "yellow"
    return f"[{colour}]{state}[/{colour}]"


def prepare(run: Run) -> None:
    """The customers' tenants as the story needs them, bought and assigned outside the product."""
    sb = run.sandbox
    e3, ems = sb.ids.skus["O365_E3"], sb.ids.skus["EMS_E3"]
    for case in run.cases:
        tenant = run.tenants[case.customer] = sb.customer(case.customer)
        if case.users:
            sb.add_users(tenant, case.users, sku_id=e3)
        if case.group_users:
            sb.add_users(tenant, case.group_users, group_id=sb.ids.groups[f"{case.customer}.e3"])
        if case.identical:
            sb.add_subscription(tenant, ems, case.identical, days_to_next=25)
            sb.add_users(tenant, case.identical, sku_id=ems)
        if case.stranded:
            [run.stranded[case.customer]] = sb.add_users(tenant, 1, sku_id=e3, usage_location=None)
    run.say(f"{len(run.cases)} customers prepared (users, groups, subscriptions bought elsewhere)")


def start_transfers(run: Run) -> None:
    for case in run.cases:
        body: dict[str, Any] = {"customerTenantId": run.tenants[case.customer], "sourceChannel": "Direct"}
        body |= {"customerCountry": case.country, **({"options": case.options} if case.options else {})}
        if case.partner_submits:  # a partner-to-partner transfer: the current partner and who hears of it
            ids = run.sandbox.ids
            body |= {"sourceChannel": "OtherPartner", "sourcePartnerTenantId": ids.other_partner_tenant_id}
            body |= {"sourcePartnerName": OTHER_PARTNER_NAME, "contactEmail": f"it@{case.customer}.example"}
        answer = run.http.post(f"{run.api}/transfers", json=body, timeout=60)
        if answer.status_code == 201:
            run.transfers[case.customer] = answer.json()["id"]
        else:
            run.say(f"{case.customer}: {answer.status_code} {answer.json().get('detail', '')[:100]}")
    run.refresh()
    run.say(f"{len(run.transfers)} transfers AwaitingAcceptance, each with an invitation and a GDAP request")


def accept(run: Run, cases: Iterable[Case]) -> None:
    """The customers' Global Administrators accept the reseller invitation, then approve the GDAP
    request (two links); Partner Center signs and delivers a webhook for each."""
    sb, tenants = run.sandbox, [run.tenants[c.customer] for c in cases]
    sent = [d for t in tenants for d in sb.accept_invitation(t, approve_gdap=False)["webhookDeliveries"]]
    sent += [d for t in tenants for d in sb.approve_gdap(t)["webhookDeliveries"]]
    answered = Counter(
        (d["eventName"], d["attempts"][-1]["status"]) for d in sb.wait_webhooks(sent) if d["id"] in sent
    )
    if answered:
        run.say(
            "signed webhooks delivered, the app answered: "
            + ", ".join(f"{n} x {s} ({event})" for (event, s), n in sorted(answered.items()))
        )


def show_access(run: Run, case: Case) -> None:
    """What the product did in one customer's tenant by itself once its GDAP request was approved."""
    record = run.call("GET", f"/transfers/{run.transfers[case.customer]}?historyPageSize=1000", 200)
    for entry in record["history"]:
        if entry["action"] == "gdap":
            run.say(f"{case.customer}: {entry['message'][:150]}")


def approve(run: Run, cases: list[Case]) -> None:
    """Plan while the Teams-carrying offers are off sale, then approve the lesser equivalent."""
    if not cases:
        return
    for name in TEAMS_OFFERS:
        run.sandbox.set_offer(run.sandbox.ids.skus[name], purchasable=False)
    accept(run, cases)
    run.wait(lambda r: r["state"] == "Blocked", cases)
    for name in TEAMS_OFFERS:
        run.sandbox.set_offer(run.sandbox.ids.skus[name], purchasable=True)
    run.restart_host()
    run.say(
        "offers back on sale; the function app restarted (a fresh catalog, the transfers kept in storage)"
    )
    for case in cases:
        record = run.records[case.customer]
        run.say(f"{case.customer}: {record['reason'][:110]}")
        pending = [line["id"] for line in record["lines"] if line["state"] == "NeedsApproval"]
        run.call("POST", f"/transfers/{record['id']}/approve", 200, {"approve": pending})
        run.say(f"{case.customer}: {len(pending)} line(s) approved (POST .../approve)")


def stopped_by_the_plan(run: Run, cases: list[Case]) -> None:
    """Customers accept, and the plan's own checks stop them before anything is bought: a line above
    a seat cap per customer waits for an admin's choice; a tenant outside the region is refused."""
    if not cases:
        return
    accept(run, cases)
    run.wait(lambda r: r["state"] == STOPPED, cases)
    for case in cases:
        record = run.records[case.customer]
        run.say(f"{case.customer}: {record['reason'][:150]}")
        for line in record["lines"]:
            for choice in line["choices"]:
                if choice["id"] == "decline":
                    continue
                bought = " + ".join(f"{b['quantity']} x {b['productName']}" for b in choice["buys"])
                left = len(choice["usersWithoutSeat"]) + choice["moreUsersWithoutSeat"]
                run.say(f"{case.customer}: option {choice['id']}: buys {bought}; {left} user(s) left out")


def source_partner_submits(run: Run, cases: list[Case]) -> None:
    """The customer's current partner submits some of its subscriptions; the rest falls back."""
    for case in cases:
        record = run.records[case.customer]
        picked = [run.sandbox.ids.commerce_subscriptions[key] for key in case.partner_submits]
        run.sandbox.source_partner(
            run.tenants[case.customer], record["partnerTransfer"]["id"], subscriptionIds=picked
        )
        run.say(
            f"{case.customer}: {OTHER_PARTNER_NAME} submitted {len(picked)} subscription(s) (signed webhooks)"
        )
    run.wait(lambda r: all(x["state"] != "Transferring" for x in r["lines"]), cases)
    for case in cases:
        for line in run.records[case.customer]["lines"]:
            moved = line["partnerTransfer"]
            run.say(f"{case.customer}: {line['sourceSkuPartNumber']} {moved['status']} ({moved['path']})")


def confirm_agreements(run: Run, cases: list[Case]) -> None:
    """Nothing is bought for a customer that never accepted the Microsoft Customer Agreement until an
    admin gives the contact of the person who accepted it; the partner then confirms it once."""
    if not cases:
        return
    run.wait(lambda r: r["state"] == "Blocked", cases)
    for case in cases:
        record = run.records[case.customer]
        run.say(f"{case.customer}: {record['reason'][:110]}")
        contact = {"firstName": "Sandbox", "lastName": "Admin", "email": f"admin@{case.customer}.example"}
        run.call("POST", f"/transfers/{record['id']}/retry", 202, {"customerContact": contact})
        run.say(f"{case.customer}: the customer's contact given (POST .../retry); the partner confirms it")


def throttle(run: Run, cases: list[Case]) -> None:
    for case in cases:
        path = f"/customers/{run.tenants[case.customer]}/carts$"
        run.sandbox.add_fault(
            "status", service="partner_center", method="POST", path=path, status=429, retry_after="6"
        )
        run.say(f"{case.customer}: Partner Center will answer its cart 429, Retry-After 6 s")


def cut_over(run: Run) -> None:
    """Move the sandbox's clock past every original's end; the timer then finds them lapsed."""
    ends = [
        datetime.fromisoformat(line["originalExpires"])
        for record in run.records.values()
        for line in record["lines"]
        if line["originalExpires"]
    ]
    days = (max(ends) - run.sandbox.now()).total_seconds() / 86400 + 1
    run.sandbox.advance_clock(days=days)
    run.say(f"sandbox clock advanced {days:.0f} days: every original is past its end date")
    run.sandbox.set_knobs(rate_limits={"graph": GRAPH_LIMIT})
    run.say(f"Graph now allows {GRAPH_LIMIT['limit']} calls a second per tenant, then answers 429")
    run.run_timer()


def refund(run: Run, cases: list[Case]) -> None:
    """The customer backs out within the new subscriptions' 7 days: cancelled, and refunded."""
    for case in cases:
        record = run.records[case.customer]
        windows = sorted(w["until"] for x in record["lines"] for w in x["cancellableUntil"])
        run.say(
            f"{case.customer}: its new subscriptions can be cancelled for a refund until {windows[0][:10]}"
        )
        done = run.call("POST", f"/transfers/{record['id']}/cancel", 200, {"refundPurchases": True})
        cancelled = [s["id"] for s in done["refund"]["subscriptions"] if s["status"] == "cancelled"]
        run.say(
            f"{case.customer}: POST .../cancel {{refundPurchases}} -> {done['state']}; "
            f"{len(cancelled)} subscription(s) cancelled for a refund at Partner Center"
        )
    run.refresh([c.customer for c in cases])


def fix_usage_locations(run: Run, cases: list[Case]) -> None:
    for case in cases:
        record = run.records[case.customer]
        failures = [f for line in record["lines"] for f in line["licenses"]["failures"]]
        run.reported[case.customer] += len(failures)
        for failure in failures:
            run.say(f"{case.customer}: user {failure['userId']} failed: {failure['reason']}")
        run.sandbox.set_usage_location(run.tenants[case.customer], run.stranded[case.customer], "US")
        run.call("POST", f"/transfers/{record['id']}/retry", 202)
        run.say(f"{case.customer}: usage location set to US by the admin, POST .../retry")


def story(run: Run) -> None:
    """The phases, in the order a partner would live them."""
    stopped = [c for c in run.cases if c.expected == STOPPED]
    started = [c for c in run.cases if c.expected not in (REFUSED, STOPPED)]
    refunded = [c for c in started if c.refund]
    silent = [c for c in started if not c.webhook]
    approvals = [c for c in started if c.approval]
    stranded = [c for c in started if c.stranded]
    rest = [c for c in started if c.webhook and not c.approval]

    run.heading("1. The customers' tenants today")
    prepare(run)
    run.heading(f"2. An admin starts {len(run.cases)} transfers: POST /api/transfers")
    start_transfers(run)
    run.heading("3. Some customers accept before the partner has registered its webhook")
    accept(run, silent)
    for case in silent:
        run.say(f"{case.customer}: accepted, no webhook delivered")
    webhook = register_webhook(run.sandbox, run.api, azurite=run.azurite)
    run.say(f"webhook registered for acceptances, GDAP and partner transfers -> {webhook}")
    run.heading("4. A customer whose suite has no full equivalent on sale: the plan waits for approval")
    approve(run, approvals)
    run.heading("4b. Customers the plan stops before anything is bought: a seat cap, the tenant's country")
    stopped_by_the_plan(run, stopped)
    run.heading("5. Everyone else accepts and approves GDAP; the timer catches what no webhook announced")
    throttle(run, [c for c in rest if c.throttled])
    accept(run, rest)
    run.run_timer()
    confirm_agreements(run, [c for c in started if c.contact_later])
    run.wait(lambda r: r["state"] == "Provisioned", started)
    run.say("GDAP approved, access assignment, consent and checks, with no admin action, e.g.:")
    show_access(run, rest[0])
    bought = {p["customer_id"] for p in run.sandbox.purchases()}
    deferred = [c.customer for c in started if run.tenants[c.customer] not in bought]
    run.say(f"all Provisioned; nothing bought yet for {', '.join(deferred) or 'none'} (deferred timing)")
    source_partner_submits(run, [c for c in started if c.partner_submits])
    if refunded:
        run.heading("5b. A customer backs out inside the 7 days new commerce allows: cancel with a refund")
        refund(run, refunded)
        started = [c for c in started if not c.refund]
    run.heading("6. Time passes: the originals lapse and the timer triggers every cutover")
    cut_over(run)
    run.wait(lambda r: r["state"] in ("Completed", "Failed"), started, timeout_s=180)
    run.heading("7. An admin fixes what the cutover reported and retries")
    fix_usage_locations(run, stranded)
    run.wait(lambda r: r["state"] in ("Completed", "Failed"), stranded)
    run.refresh()
    ended = Counter((r["gdap"] or {}).get("access", {}).get("ended") for r in run.records.values())
    run.say(
        f"GDAP relationships after completion (least privilege): {ended['reduced']} reduced to "
        f"Directory Readers while their originals are watched, {ended['ended']} ended"
    )


def summarise(run: Run) -> int:
    """The summary table and totals; 1 when a transfer ended other than its case expects."""
    run.console.print()
    run.console.print(run.table(summary=True))
    purchases = run.sandbox.purchases()
    checkouts = Counter(
        p["customer_id"] for p in {(p["customer_id"], p["request_id"]): p for p in purchases}.values()
    )
    records = run.records.values()
    run.say(
        f"{len(purchases)} orders placed in {checkouts.total()} checkouts "
        f"(at most one per transfer: {max(checkouts.values(), default=0) <= 1}); "
        f"{sum(_moved(r['lines']) for r in records)} licences moved; "
        f"{sum(r['apiCalls'] for r in records)} Partner Center and Graph calls; "
        f"{sum(r['status'] == 429 for r in run.sandbox.requests())} answered 429 and were waited out"
    )
    wrong = [
        f"{c.customer} ended {run.final(c)}, expected {c.expected}"
        for c in run.cases
        if run.final(c) != c.expected
    ]
    wrong += [f"{customer}: {n} checkouts" for customer, n in checkouts.items() if n > 1]
    wrong += checked_before_buying(run, purchases)
    for problem in wrong:
        run.console.print(f"[red]{problem}[/red]")
    return 1 if wrong else 0


def checked_before_buying(run: Run, purchases: list[dict[str, Any]]) -> list[str]:
    """Every item bought is new commerce and of its customer's segment; every agreement the partner
    had to confirm was confirmed once."""
    customers = {tenant: customer for customer, tenant in run.tenants.items()}
    wrong = [
        f"{customers[p['customer_id']]}: bought {line['catalogItemId']} ({line['productType']})"
        for p in purchases
        for line in p["lines"]
        if (line["segment"], line["productType"])
        != (run.records[customers[p["customer_id"]]]["segment"], "OnlineServicesNCE")
    ]
    confirmed = {
        c.customer: len(run.sandbox.agreements(run.tenants[c.customer])["agreements"])
        for c in run.cases
        if c.contact_later
    }
    segments = Counter(r["segment"] for r in run.records.values() if r["segment"])
    run.say(
        f"every item bought new commerce and of its customer's segment: {not wrong} ("
        + ", ".join(f"{n} {segment}" for segment, n in sorted(segments.items()))
        + f"); {sum(confirmed.values())} Microsoft Customer Agreement(s) confirmed on a customer's behalf"
    )
    return wrong + [f"{customer}: {n} agreement confirmations" for customer, n in confirmed.items() if n != 1]


def main(cases: tuple[Case, ...] = CASES) -> int:
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    started = time.monotonic()
    with ExitStack() as running:
        console.print(
            "[bold]Starting Azurite, the sandbox (Partner Center, Graph, Entra) and the local host[/bold]"
        )
        azurite = running.enter_context(running_azurite())
        sandbox = running.enter_context(start_sandbox("large", params={"customers": FLEET, "users": 0}))
        settings = local_settings(sandbox, azurite) | {"TRANSFER_SCAN_SCHEDULE": NEVER}
        hosts = running.enter_context(ExitStack())
        host = hosts.enter_context(start_local_host(settings))
        console.print(f"  app {host.url}/api, sandbox {sandbox.base_url}, Azurite {azurite.queue_endpoint}")

        def restart_host() -> None:  # on the same port: the webhook registration stays valid
            hosts.close()
            hosts.enter_context(start_local_host(settings, port=int(host.url.rsplit(":", 1)[1])))

        run = Run(sandbox, host.url, restart_host, console, cases, azurite)
        story(run)
        status = summarise(run)
        if sys.stdin.isatty() and sys.stdout.isatty():
            show_dashboard(console, hosts, settings, host.url)
    outcome = "Done" if status == 0 else "FAILED"
    console.print(f"\n{outcome} in {time.monotonic() - started:.0f} s; everything started here is stopped.")
    return status


def show_dashboard(console: Console, hosts: ExitStack, settings: dict[str, str], url: str) -> None:
    """In a terminal: the local host again, checking a fresh key as Azure does, until Enter.

    Restarted on the same port with the key: the story's own calls ran without one, as under
    Core Tools (the webhook registered without a key is not needed any more).
    """
    key = secrets.token_urlsafe(24)
    hosts.close()
    keys = json.dumps({"demo-dashboard": key})
    hosts.enter_context(
        start_local_host(settings | {FUNCTION_KEYS_SETTING: keys}, port=int(url.rsplit(":", 1)[1]))
    )
    console.print(f"\n[bold]Dashboard[/bold]  {url}/api/dashboard/")
    console.print(f"Function key  {key}  (named demo-dashboard; enter it once on the page)", markup=False)
    with contextlib.suppress(EOFError):
        input("The local host stays up; press Enter to stop everything. ")


if __name__ == "__main__":
    for signum in (signal.SIGINT, signal.SIGTERM):  # also when started with SIGINT ignored (`&`)
        signal.signal(signum, interrupt)
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # everything is stopped by then
        sys.exit(130)
