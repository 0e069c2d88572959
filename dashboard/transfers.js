// The list of transfers: found by customer (name, domain or tenant id), filtered by state or by
// "needs attention", sorted, counted per state, paged with the API's continuation token and
// exported as CSV. One list request per page: each item carries what its row shows, so no row
// reads its record. Rows still in flight refresh themselves, all of them in one request.
import { call, failure, fetchFile } from "./api.js";
import { announce, append, date, download, el, moment, on, spaced } from "./dom.js";
import { customerSmallPrint, customerTitle, IN_FLIGHT, lapseRisk, nextMoveCell, progressCell, stageBadge } from "./facts.js";

const PAGE_SIZE = 25; // #/transfers?pageSize=N changes it
const MAX_PAGE_SIZE = 1000;
const REFRESH_MS = 10000;
const SORTS = [
  ["created:desc", "Newest first"],
  ["created:asc", "Oldest first"],
  ["updated:desc", "Recently updated"],
  ["next:asc", "Next date, soonest first"],
];

/** The list's filters, as the address holds them: #/transfers?q=&state=&attention=true&sort=&order=. */
function filtersOf(params) {
  const sort = ["created", "updated", "next"].includes(params.get("sort")) ? params.get("sort") : "created";
  const order = ["asc", "desc"].includes(params.get("order")) ? params.get("order") : sort === "next" ? "asc" : "desc";
  return {
    q: (params.get("q") || "").trim(),
    state: params.get("state") || "",
    attention: params.get("attention") === "true",
    sort,
    order,
  };
}

const DEFAULTS = filtersOf(new URLSearchParams());

/** The filters as the API's query (the defaults left out, as the API assumes them). */
function query(filters) {
  return {
    q: filters.q,
    state: filters.state,
    attention: filters.attention ? "true" : "",
    sort: filters.sort === "created" ? "" : filters.sort,
    order: filters.order === (filters.sort === "next" ? "asc" : "desc") ? "" : filters.order,
  };
}

function address(filters) {
  const params = new URLSearchParams(Object.entries(query(filters)).filter(([, value]) => value));
  const text = params.toString();
  return text ? `#/transfers?${text}` : "#/transfers";
}

function caption(filters) {
  const sorted = SORTS.find(([value]) => value === `${filters.sort}:${filters.order}`);
  return [
    filters.state ? `Transfers in state ${spaced(filters.state)}` : "All transfers",
    filters.attention ? " needing attention" : "",
    filters.q ? ` matching “${filters.q}”` : "",
    `, ${(sorted ? sorted[1] : `by ${filters.sort} ${filters.order}`).toLowerCase()}`,
  ].join("");
}

function filterForm(filters, context) {
  const text = el("input", { id: "q", type: "search", value: filters.q, autocomplete: "off", spellcheck: "false", "aria-describedby": "q-help" });
  const state = el("select", { id: "state-filter" }, el("option", { value: "" }, "All states"));
  for (const name of context.states) state.append(el("option", { value: name, selected: name === filters.state }, spaced(name)));
  const attention = el("input", { id: "attention", type: "checkbox", checked: filters.attention, "aria-describedby": "attention-help" });
  const sort = el("select", { id: "sort" }, SORTS.map(([value, label]) => el("option", { value, selected: value === `${filters.sort}:${filters.order}` }, label)));
  const form = el(
    "form",
    { class: "filter", role: "search", "aria-label": "Find transfers" },
    el("div", { class: "filter-field" }, el("label", { for: "q" }, "Customer"), text, el("p", { id: "q-help", class: "help" }, "Name, domain or tenant id")),
    el("div", { class: "filter-field" }, el("label", { for: "state-filter" }, "State"), state),
    el(
      "div",
      { class: "filter-field check" },
      attention,
      el("label", { for: "attention" }, "Needs attention"),
      el("p", { id: "attention-help", class: "help" }, "Blocked, failed, or an original lapsing soon"),
    ),
    el("div", { class: "filter-field" }, el("label", { for: "sort" }, "Sort"), sort),
    el("div", { class: "filter-field" }, el("button", { type: "submit" }, "Show")),
  );
  on(form, "submit", (event) => {
    event.preventDefault();
    const [by, order] = sort.value.split(":");
    window.location.hash = address({ q: text.value.trim(), state: state.value, attention: attention.checked, sort: by, order });
  });
  return form;
}

/** The counts per state (and needing attention) the API gives, each a link to that filter. */
function countsNav(counts, context) {
  if (!counts || typeof counts !== "object") return null;
  const known = context.states.filter((name) => counts[name]);
  const others = Object.keys(counts).filter((name) => name !== "attention" && !context.states.includes(name) && counts[name]);
  const items = [
    ...known.map((name) => el("li", {}, el("a", { href: address({ ...DEFAULTS, state: name }) }, `${spaced(name)} ${counts[name]}`))),
    ...others.map((name) => el("li", {}, `${spaced(name)} ${counts[name]}`)),
  ];
  if (Number.isInteger(counts.attention)) {
    items.push(el("li", {}, el("a", { href: address({ ...DEFAULTS, attention: true }) }, `Needs attention ${counts.attention}`)));
  }
  return el("nav", { id: "counts", "aria-label": "Totals" }, el("ul", { class: "counts" }, items));
}

export async function transfersPage(main, params, context) {
  const filters = filtersOf(params);
  const body = el("tbody");
  const headings = ["Customer", "State", "Lines", "Next", "Started", "Last update"];
  const table = el(
    "table",
    { class: "transfers" },
    el("caption", {}, caption(filters)),
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", { scope: "col" }, h)))),
    body,
  );
  const counts = el("div", { id: "counts-holder" });
  const status = el("p", { id: "list-status", class: "muted" });
  const more = el("button", { type: "button", id: "load-more", hidden: true }, "Load more");
  const exporting = el("button", { type: "button", id: "export" }, "Download as CSV");
  const error = el("p", { class: "error", role: "alert" });
  append(
    main,
    el("h1", {}, "Transfers"),
    filterForm(filters, context),
    counts,
    error,
    el("div", { class: "table-wrap" }, table),
    status,
    el("p", { class: "actions" }, more, exporting),
  );

  const rows = new Map(); // transfer id → {row, transfer}
  let token = null;

  function renderRow(transfer) {
    const cells = [
      el("td", {}, stageBadge(transfer), lapseRisk(transfer)),
      el("td", {}, progressCell(transfer.lines)),
      el("td", {}, nextMoveCell(transfer)),
      el("td", { class: "nowrap" }, date(transfer.createdAt)),
      el("td", {}, moment(transfer.updatedAt)),
    ];
    const existing = rows.get(transfer.id);
    let row;
    if (existing) {
      // The customer's link stays the same element, so a refresh never takes the keyboard focus away.
      row = existing.row;
      row.replaceChildren(row.firstElementChild, ...cells);
    } else {
      const link = el("a", { href: `#/transfers/${transfer.id}` }, customerTitle(transfer));
      const where = ` ${transfer.customerCountry} · ${spaced(transfer.sourceChannel)}`;
      const customer = el("th", { scope: "row" }, link, el("span", { class: "muted where" }, where), customerSmallPrint(transfer));
      row = el("tr", { "data-id": transfer.id }, customer, cells);
    }
    rows.set(transfer.id, { row, transfer });
    return row;
  }

  async function load() {
    more.disabled = true;
    const size = params.get("pageSize") || String(PAGE_SIZE);
    const answer = await call("GET", "transfers", { query: { ...query(filters), pageSize: size, continuationToken: token } });
    more.disabled = false;
    if (!answer.ok) {
      error.textContent = failure(answer);
      return;
    }
    error.textContent = "";
    for (const transfer of answer.body.items.filter((t) => !rows.has(t.id))) body.append(renderRow(transfer));
    counts.replaceChildren(...[countsNav(answer.body.counts, context)].filter(Boolean));
    token = answer.body.continuationToken;
    more.hidden = !token;
    const count = rows.size;
    status.textContent = count
      ? `Showing ${count} transfer${count === 1 ? "" : "s"}${token ? "; more are available" : ""}.`
      : "No transfers match.";
    announce(status.textContent);
  }

  async function refresh() {
    // Every row shown, in one request: the first rows.size items of the same list.
    const size = String(Math.min(rows.size, MAX_PAGE_SIZE));
    const answer = await call("GET", "transfers", { query: { ...query(filters), pageSize: size } });
    if (!answer.ok) return;
    for (const transfer of answer.body.items) if (rows.has(transfer.id)) renderRow(transfer);
  }

  on(exporting, "click", async () => {
    exporting.disabled = true;
    const answer = await fetchFile("transfers", { ...query(filters), format: "csv" }, "text/csv");
    exporting.disabled = false;
    if (!answer.ok) {
      error.textContent = `The export failed. ${failure(answer)}`;
      return;
    }
    download("transfers.csv", answer.text);
    announce("The list was downloaded as transfers.csv.");
  });
  on(more, "click", load);
  await load();
  const timer = window.setInterval(() => {
    if ([...rows.values()].some((r) => IN_FLIGHT.includes(r.transfer.state))) refresh();
  }, REFRESH_MS);
  return () => window.clearInterval(timer);
}
