// Starting transfers: one customer (by tenant id or domain, its name shown before sending) through
// a form checked as it is typed, or many from a CSV: download the template, preview each row
// checked and looked up (its name, and whether it already has an active transfer), send one request
// per good row, and download each row's result.
import { call, failure } from "./api.js";
import { checkCustomer, checkStart, OTHER_PARTNER, TIMINGS } from "./checks.js";
import { formatCsv, parseCsv } from "./csv.js";
import { activeTransfer, lookedUp, lookUp, named } from "./customers.js";
import { append, clear, download, el, on, scrolling, spaced } from "./dom.js";

export const COLUMNS = [
  "customerTenantId",
  "customerCountry",
  "sourceChannel",
  "contactEmail",
  "purchaseTiming",
  "purchaseLeadDays",
  "sourcePartnerTenantId",
  "sourcePartnerName",
  "customerDomain",
];
const LABELS = {
  customerTenantId: "Customer tenant id or domain",
  customerDomain: "Customer domain",
  customerCountry: "Country",
  sourceChannel: "Source channel",
  contactEmail: "Contact e-mail",
  purchaseTiming: "Purchase timing",
  purchaseLeadDays: "Days before lapse",
  sourcePartnerTenantId: "Current partner's Microsoft ID",
  sourcePartnerName: "Current partner's name",
  active: "Active transfer",
};
const LOOK_UPS = 4; // customers looked up at a time while a CSV is previewed
const EXAMPLES = [
  ["4b2a6e33-8791-4386-bd2b-0d55baf25039", "US", "Direct", "it@contoso.example", "onAcceptance", "", "", "", ""],
  ["0e9c3f4b-2d71-4c55-9a0e-6b1f3c8d2a47", "US", OTHER_PARTNER, "it@adatum.example", "", "", "5d3c8e21-7a4f-4b6e-9c2d-1f0e8a7b6c54", "Litware CSP", ""],
  ["", "US", "Direct", "it@fabrikam.example", "beforeLapse", "14", "", "", "fabrikam.example"],
];

function field(name, control, help) {
  const error = el("p", { id: `${name}-error`, class: "error field-error" });
  control.id = name;
  control.name = name;
  control.setAttribute("aria-describedby", [help ? `${name}-help` : null, `${name}-error`].filter(Boolean).join(" "));
  return {
    control,
    error,
    node: el(
      "div",
      { class: "field" },
      el("label", { for: name }, LABELS[name]),
      control,
      help ? el("p", { id: `${name}-help`, class: "help" }, help) : null,
      error,
    ),
  };
}

function select(options, chosen) {
  return el("select", {}, options.map(([value, label]) => el("option", { value, selected: value === chosen }, label)));
}

function singleForm(context) {
  const partner = context.partnerRegion
    ? `The partner (${context.partnerCountry}) sells in the CSP region ${context.partnerRegion}.`
    : "";
  const fields = {
    customerTenantId: field("customerTenantId", el("input", { type: "text", autocomplete: "off", spellcheck: "false", required: true }), "The customer's Entra tenant id (a GUID), or one of its domains (contoso.com)."),
    customerCountry: field("customerCountry", el("input", { type: "text", autocomplete: "off", maxlength: 2, size: 3, required: true }), `Two letters (ISO 3166-1), like US. ${partner}`),
    sourceChannel: field("sourceChannel", select(context.sourceChannels.map((c) => [c, spaced(c)]), "Direct")),
    sourcePartnerTenantId: field("sourcePartnerTenantId", el("input", { type: "text", autocomplete: "off", spellcheck: "false" }), "Its partner tenant id (a GUID), which the current partner can give the customer."),
    sourcePartnerName: field("sourcePartnerName", el("input", { type: "text", autocomplete: "off", maxlength: 256 }), "Its company name."),
    contactEmail: field("contactEmail", el("input", { type: "email", autocomplete: "off" }), "Who at the customer hears about the transfer. Required with a current partner: Microsoft sends the transfer e-mails there."),
    purchaseTiming: field("purchaseTiming", select([["onAcceptance", "Buy on acceptance"], ["beforeLapse", "Buy shortly before the originals lapse"]], "onAcceptance")),
    purchaseLeadDays: field("purchaseLeadDays", el("input", { type: "text", inputmode: "numeric", size: 3 }), "With “shortly before”: how many days (1–90; 14 if empty)."),
  };
  const result = el("div", { id: "start-result", role: "status", tabindex: "-1" });
  const submit = el("button", { type: "submit", class: "primary" }, "Start transfer");
  // Who the customer is, looked up as soon as what was typed is a tenant id or a domain.
  const found = el("p", { id: "customer-found", class: "found", role: "status" });
  fields.customerTenantId.node.append(found);
  const customer = fields.customerTenantId.control;
  let asked = "";
  let pause = null;
  const identify = async () => {
    const value = customer.value.trim();
    if (value === asked) return;
    asked = value;
    found.replaceChildren();
    if (checkCustomer(value)) return;
    const known = await lookUp(value);
    if (customer.value.trim() === value) found.replaceChildren(...[lookedUp(known)].filter(Boolean));
  };
  on(customer, "input", () => {
    window.clearTimeout(pause);
    pause = window.setTimeout(identify, 400);
  });
  on(customer, "change", identify);
  // The current partner's two fields, asked only when the customer comes from another partner.
  const SOURCE = ["sourcePartnerTenantId", "sourcePartnerName"];
  const partnerFields = el(
    "fieldset",
    { id: "source-partner", class: "group", "aria-describedby": "source-partner-help" },
    el("legend", {}, "Partner-to-partner transfer (optional)"),
    el(
      "p",
      { id: "source-partner-help", class: "help" },
      "Name the partner selling to the customer today to ask it for a partner-to-partner transfer: its " +
        "new-commerce subscriptions then move without being bought again. Leave both empty to buy everything again.",
    ),
    SOURCE.map((name) => fields[name].node),
  );
  const nodes = Object.entries(fields)
    .filter(([name]) => !SOURCE.includes(name))
    .map(([name, f]) => (name === "sourceChannel" ? [f.node, partnerFields] : f.node));
  const form = el("form", { class: "card", novalidate: true, "aria-labelledby": "start-one" }, el("h2", { id: "start-one" }, "One customer"), nodes, submit, result);
  const fromPartner = () => fields.sourceChannel.control.value === OTHER_PARTNER;
  const showPartner = () => {
    partnerFields.hidden = !fromPartner();
  };
  showPartner();
  on(fields.sourceChannel.control, "change", showPartner);

  // Hidden fields are not sent: a partner typed in, then the channel changed, is no longer asked.
  const values = () =>
    Object.fromEntries(
      Object.entries(fields).map(([name, f]) => [name, SOURCE.includes(name) && !fromPartner() ? "" : f.control.value.trim()]),
    );
  const show = (errors, touched) => {
    for (const [name, f] of Object.entries(fields)) {
      const message = touched.has(name) ? errors[name] || "" : "";
      f.error.textContent = message;
      if (message) f.control.setAttribute("aria-invalid", "true");
      else f.control.removeAttribute("aria-invalid");
    }
  };
  const touched = new Set();
  for (const [name, f] of Object.entries(fields)) {
    on(f.control, "input", () => {
      if (f.control.value) touched.add(name);
      show(checkStart(values(), context).errors, touched);
    });
    on(f.control, "blur", () => {
      touched.add(name);
      show(checkStart(values(), context).errors, touched);
    });
  }
  on(form, "submit", async (event) => {
    event.preventDefault();
    const { errors, body } = checkStart(values(), context);
    Object.keys(fields).forEach((name) => touched.add(name));
    show(errors, touched);
    const wrong = Object.keys(errors);
    if (wrong.length) {
      fields[wrong[0]].control.focus();
      return;
    }
    submit.disabled = true;
    const answer = await call("POST", "transfers", { body });
    submit.disabled = false;
    clear(result);
    if (answer.status === 201) {
      window.location.hash = `#/transfers/${answer.body.id}`;
      return;
    }
    for (const item of answer.body?.errors || []) {
      if (fields[item.field]) fields[item.field].error.textContent = item.message;
    }
    append(result, el("p", { class: "error" }, failure(answer)));
    if (answer.status === 409 && answer.body.transferId) {
      append(result, el("p", {}, el("a", { href: `#/transfers/${answer.body.transferId}` }, "Open the active transfer")));
    }
    result.focus();
  });
  return form;
}

const REQUIRED = ["customerCountry", "sourceChannel"];
const CUSTOMER = ["customerTenantId", "customerDomain"];

/** Rows of a CSV → [{line, fields, errors, body}], checked as a start request each. */
export function checkRows(text, context) {
  const rows = parseCsv(text);
  if (!rows.length) return { problem: "The file is empty.", rows: [] };
  const header = rows[0].map((h) => h.trim());
  const missing = REQUIRED.filter((c) => !header.includes(c));
  if (!CUSTOMER.some((c) => header.includes(c))) missing.unshift(CUSTOMER.join(" or "));
  if (missing.length) return { problem: `The header must name the columns ${COLUMNS.join(", ")}; missing: ${missing.join(", ")}.`, rows: [] };
  const unknown = header.filter((h) => !COLUMNS.includes(h));
  if (unknown.length) return { problem: `Unknown columns: ${unknown.join(", ")}. The template has ${COLUMNS.join(", ")}.`, rows: [] };
  const seen = new Map();
  const checked = rows.slice(1).map((values, index) => {
    const fields = Object.fromEntries(COLUMNS.map((c) => [c, (values[header.indexOf(c)] || "").trim()]));
    const { errors, body } = checkStart(fields, context);
    if (values.length > header.length) errors.extra = `${values.length - header.length} more value(s) than columns`;
    const customer = (fields.customerTenantId || fields.customerDomain).toLowerCase();
    if (customer && seen.has(customer)) errors.customerTenantId = `The same customer as row ${seen.get(customer)}.`;
    else if (customer) seen.set(customer, index + 1);
    return { line: index + 1, fields, errors, body, result: null, found: null };
  });
  return { problem: null, rows: checked };
}

/** The request a row makes, in one cell: every field the row gives, but the customer's. */
function requestCell(fields) {
  const given = COLUMNS.filter((c) => !CUSTOMER.includes(c) && fields[c]);
  return el("ul", { class: "plain request" }, given.map((c) => el("li", {}, el("span", { class: "muted" }, `${LABELS[c]}: `), fields[c])));
}

/** The customer by name once looked up, else as the file gives it. */
function customerCell(row) {
  const known = row.found ? named(row.found) : null;
  return known || el("code", {}, row.fields.customerTenantId || row.fields.customerDomain || "—");
}

/** The row's problems, the link to a transfer already under way among them. */
function checkCell(row) {
  const problems = Object.entries(row.errors);
  if (!problems.length) return el("span", { class: "ok" }, "Ready");
  return el(
    "ul",
    { class: "plain error" },
    problems.map(([name, message]) => el("li", {}, name === "active" ? activeTransfer(row.found) : `${LABELS[name] || name}: ${message}`)),
  );
}

/** Looks each good row's customer up, a few at a time; `done` after each answer. */
async function lookUpRows(rows, done) {
  const queue = rows.filter((row) => !Object.keys(row.errors).length);
  const worker = async () => {
    while (queue.length) {
      const row = queue.shift();
      row.found = await lookUp(row.body.customerTenantId || row.body.customerDomain);
      if (row.found.unknown) row.errors.customerTenantId = "Microsoft knows no tenant by this id or domain.";
      if (row.found.activeTransferId) row.errors.active = "this customer already has an active transfer";
      done();
    }
  };
  await Promise.all(Array.from({ length: LOOK_UPS }, worker));
}

function bulk(context) {
  const file = el("input", { type: "file", id: "csv-file", accept: ".csv,text/csv", "aria-describedby": "csv-help" });
  const template = el("button", { type: "button", id: "csv-template" }, "Download the CSV template");
  const problem = el("p", { class: "error", role: "alert" });
  const preview = el("div", { id: "csv-preview" });
  const status = el("p", { id: "bulk-status", role: "status" });
  const start = el("button", { type: "button", class: "primary", id: "bulk-start", hidden: true }, "Start");
  const results = el("button", { type: "button", id: "bulk-results", hidden: true }, "Download the results");
  let rows = [];

  on(template, "click", () => download("transfers-template.csv", formatCsv([COLUMNS, ...EXAMPLES])));

  const render = () => {
    const head = el("tr", {}, ["Row", "Customer", "Request", "Check", "Result"].map((h) => el("th", { scope: "col", class: `col-${h.toLowerCase()}` }, h)));
    const body = rows.map((row) => {
      const problems = Object.entries(row.errors);
      let outcome = el("span", { class: "muted" }, problems.length ? "Will not be sent" : "Not sent yet");
      if (row.result?.id) outcome = el("span", { class: "ok" }, "Started: ", el("a", { href: `#/transfers/${row.result.id}` }, "open"));
      else if (row.result && row.result.status !== null) outcome = el("span", { class: "error" }, row.result.message); // the API refused it
      else if (row.result) outcome = el("span", { class: "muted" }, "Not sent: see the check");
      return el(
        "tr",
        { "data-row": row.line, class: problems.length ? "bad" : "" },
        el("th", { scope: "row" }, String(row.line)),
        el("td", {}, customerCell(row)),
        el("td", {}, requestCell(row.fields)),
        el("td", {}, checkCell(row)),
        el("td", {}, outcome),
      );
    });
    clear(preview).append(
      scrolling(el("table", { id: "csv-rows" }, el("caption", { id: "csv-rows-caption" }, "Rows of the file, each checked"), el("thead", {}, head), el("tbody", {}, body)), "csv-rows-caption"),
    );
    const good = rows.filter((r) => !Object.keys(r.errors).length && !r.result).length;
    start.textContent = `Start ${good} transfer${good === 1 ? "" : "s"}`;
    start.hidden = good === 0;
  };

  on(file, "change", async () => {
    problem.textContent = "";
    status.textContent = "";
    results.hidden = true;
    rows = [];
    const chosen = file.files[0];
    if (!chosen) return;
    const checked = checkRows(await chosen.text(), context);
    rows = checked.rows;
    problem.textContent = checked.problem || "";
    render();
    if (checked.problem) return;
    start.disabled = true;
    status.textContent = "Looking the customers up…";
    await lookUpRows(rows, render);
    start.disabled = false;
    render();
    const bad = rows.filter((r) => Object.keys(r.errors).length).length;
    status.textContent = `${rows.length} rows read; ${rows.length - bad} ready, ${bad} with problems.`;
  });

  on(start, "click", async () => {
    start.disabled = true;
    file.disabled = true;
    const todo = rows.filter((r) => !Object.keys(r.errors).length && !r.result);
    let done = 0;
    for (const row of todo) {
      status.textContent = `Starting ${done + 1} of ${todo.length}…`;
      const answer = await call("POST", "transfers", { body: row.body });
      if (answer.status === 401) return;
      row.result = answer.status === 201
        ? { id: answer.body.id, status: 201, message: "started" }
        : { id: null, status: answer.status, message: failure(answer) };
      done += 1;
    }
    for (const row of rows) {
      if (!row.result) {
        const message = Object.entries(row.errors).map(([name, m]) => `${LABELS[name] || name}: ${m}`).join("; ");
        row.result = { id: null, status: null, message: `not sent: ${message}` };
      }
    }
    file.disabled = false;
    start.disabled = false;
    render();
    const started = rows.filter((r) => r.result.id).length;
    status.textContent = `Done: ${started} started, ${rows.length - started} not started. Download the results for the details.`;
    results.hidden = false;
    results.focus();
  });

  on(results, "click", () => {
    const lines = [[...COLUMNS, "result", "status", "transferId", "detail"]];
    for (const row of rows) {
      const r = row.result || { id: null, status: null, message: "not sent" };
      lines.push([...COLUMNS.map((c) => row.fields[c]), r.id ? "started" : "not started", r.status ?? "", r.id ?? "", r.id ? "" : r.message]);
    }
    download("transfers-results.csv", formatCsv(lines));
  });

  return el(
    "section",
    { class: "card", "aria-labelledby": "start-many" },
    el("h2", { id: "start-many" }, "Many customers from a CSV"),
    el(
      "p",
      { id: "csv-help", class: "help" },
      `One customer per row, with the columns ${COLUMNS.join(", ")}. Each row is checked before anything is sent; `,
      `then each good row is one start request. purchaseTiming is ${TIMINGS.join(" or ")} (empty: onAcceptance). `,
      `With sourceChannel ${OTHER_PARTNER}, sourcePartnerTenantId and sourcePartnerName (both, with a contactEmail) `,
      "ask that partner for a partner-to-partner transfer; leave them empty otherwise.",
    ),
    el("p", {}, template),
    el("label", { for: "csv-file" }, "CSV file"),
    file,
    problem,
    preview,
    el("p", {}, start, " ", results),
    status,
  );
}

export async function startPage(main, context) {
  append(main, el("h1", {}, "Start transfers"), singleForm(context), bulk(context));
  return null;
}
