// The list of transfers: filtered by state, paged with the API's continuation token, each row
// completed from its record (lines, dates); rows still in flight refresh themselves.
import { call, failure } from "./api.js";
import { announce, append, date, el, moment, on, spaced, stateBadge } from "./dom.js";

const PAGE_SIZE = 25; // #/transfers?pageSize=N changes it
const REFRESH_MS = 10000;
const PARALLEL = 4;
export const IN_FLIGHT = ["AwaitingAcceptance", "Accepted", "Provisioning", "Provisioned", "CuttingOver"];
const DONE_LINES = ["Completed", "Skipped"];

/** Lines done of all, for the progress bar. */
export function lineProgress(lines) {
  return { done: lines.filter((line) => DONE_LINES.includes(line.state)).length, total: lines.length };
}

/** When a pending partner-to-partner transfer request expires if its partner does not act, else null. */
export function requestExpiry(request, context) {
  if (!request || request.status !== "Pending" || !request.createdAt) return null;
  const days = context.partnerTransferExpiryDays * 24 * 60 * 60 * 1000;
  return new Date(Date.parse(request.createdAt) + days).toISOString();
}

/**
 * The next date that matters: the earlier of a purchase still due and a pending partner transfer
 * request's expiry, else an original's lapse, else none.
 */
export function nextDate(transfer, lines, context) {
  const due = lines
    .filter((line) => line.purchaseDue && ["Planned", "NeedsApproval"].includes(line.state))
    .map((line) => ({ label: "Purchase due", at: line.purchaseDue }));
  const expiry = requestExpiry(transfer.partnerTransfer, context);
  if (expiry) due.push({ label: "Transfer request expires", at: expiry });
  if (due.length) return due.sort((a, b) => Date.parse(a.at) - Date.parse(b.at))[0];
  const lapses = lines
    .filter((line) => line.originalExpires && !DONE_LINES.includes(line.state))
    .map((line) => line.originalExpires)
    .sort();
  return lapses.length ? { label: "Original lapses", at: lapses[0] } : null;
}

/**
 * The flag of a Blocked or Failed transfer one of whose originals lapses within the cutover lead
 * while its line is not moved (the API's lapseRiskOn): its users would keep only the lapsing licence.
 */
export function lapseRisk(transfer) {
  if (!transfer.lapseRiskOn) return null;
  return el(
    "span",
    { class: "lapse-risk", role: "note" },
    "Original lapses ",
    date(transfer.lapseRiskOn),
    `: users keep only the lapsing licence while it is ${spaced(transfer.state).toLowerCase()}`,
  );
}

export function progressCell(lines) {
  const { done, total } = lineProgress(lines);
  if (!total) return el("span", { class: "muted" }, "No lines yet");
  const label = `${done} of ${total} lines done`;
  return el(
    "span",
    { class: "progress" },
    el("progress", { max: total, value: done, "aria-label": label }),
    " ",
    el("span", {}, `${done}/${total}`),
  );
}

function nextCell(transfer, lines, context) {
  const next = nextDate(transfer, lines, context);
  return next ? el("span", {}, `${next.label} `, date(next.at)) : el("span", { class: "muted" }, "—");
}

export async function transfersPage(main, params, context) {
  const state = params.get("state") || "";
  const select = el("select", { id: "state-filter" }, el("option", { value: "" }, "All states"));
  for (const name of context.states) {
    select.append(el("option", { value: name, selected: name === state }, spaced(name)));
  }
  const filter = el(
    "form",
    { class: "filter", role: "search", "aria-label": "Filter transfers" },
    el("label", { for: "state-filter" }, "State"),
    " ",
    select,
    " ",
    el("button", { type: "submit" }, "Show"),
  );
  on(filter, "submit", (event) => {
    event.preventDefault();
    window.location.hash = select.value ? `#/transfers?state=${encodeURIComponent(select.value)}` : "#/transfers";
  });
  const body = el("tbody");
  const table = el(
    "table",
    { class: "transfers" },
    el("caption", {}, state ? `Transfers in state ${spaced(state)}` : "All transfers, newest first"),
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        ["Customer", "Source channel", "State", "Lines", "Next date", "Last update"].map((h) =>
          el("th", { scope: "col" }, h),
        ),
      ),
    ),
    body,
  );
  const status = el("p", { id: "list-status", class: "muted" });
  const more = el("button", { type: "button", id: "load-more", hidden: true }, "Load more");
  const error = el("p", { class: "error", role: "alert" });
  append(
    main,
    el("h1", {}, "Transfers"),
    filter,
    error,
    el("div", { class: "table-wrap" }, table),
    status,
    more,
  );

  const rows = new Map(); // transfer id → {row, transfer}
  let token = null;
  let closed = false;

  function renderRow(transfer, lines) {
    const cells = [
      el("td", {}, spaced(transfer.sourceChannel)),
      el("td", {}, stateBadge(transfer.state, transfer.reason), lapseRisk(transfer)),
      el("td", {}, lines ? progressCell(lines) : el("span", { class: "muted" }, "Loading…")),
      el("td", {}, lines ? nextCell(transfer, lines, context) : ""),
      el("td", {}, moment(transfer.updatedAt)),
    ];
    const existing = rows.get(transfer.id);
    let row;
    if (existing) {
      // The customer's link stays the same element, so a refresh never takes the keyboard focus away.
      row = existing.row;
      row.replaceChildren(row.firstElementChild, ...cells);
    } else {
      const link = el("a", { href: `#/transfers/${transfer.id}` }, transfer.customerTenantId);
      const customer = el("th", { scope: "row" }, link, el("span", { class: "muted" }, ` ${transfer.customerCountry}`));
      row = el("tr", { "data-id": transfer.id }, customer, cells);
    }
    rows.set(transfer.id, { row, transfer });
    return row;
  }

  async function complete(ids) {
    // One record read per row (its lines hold the progress and dates), a few at a time.
    const queue = [...ids];
    const worker = async () => {
      while (queue.length && !closed) {
        const id = queue.shift();
        const answer = await call("GET", `transfers/${id}`, { query: { historyPageSize: "1" } });
        if (answer.ok && !closed) renderRow(answer.body, answer.body.lines);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
  }

  async function load() {
    more.disabled = true;
    const answer = await call("GET", "transfers", {
      query: { state, pageSize: params.get("pageSize") || String(PAGE_SIZE), continuationToken: token },
    });
    more.disabled = false;
    if (!answer.ok) {
      error.textContent = failure(answer);
      return;
    }
    error.textContent = "";
    const fresh = answer.body.items.filter((t) => !rows.has(t.id));
    for (const transfer of fresh) body.append(renderRow(transfer, null));
    token = answer.body.continuationToken;
    more.hidden = !token;
    const count = rows.size;
    status.textContent = count
      ? `Showing ${count} transfer${count === 1 ? "" : "s"}${token ? "; more are available" : ""}.`
      : "No transfers match.";
    announce(status.textContent);
    await complete(fresh.map((t) => t.id));
  }

  on(more, "click", load);
  await load();
  const timer = window.setInterval(() => {
    const flying = [...rows.values()].filter((r) => IN_FLIGHT.includes(r.transfer.state));
    if (flying.length) complete(flying.map((r) => r.transfer.id));
  }, REFRESH_MS);
  return () => {
    closed = true;
    window.clearInterval(timer);
  };
}
