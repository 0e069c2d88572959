// A transfer's lines: each original by its product's name, what replaces it, how far it got, and
// the decision an admin can take on it now (approve or decline a line that waits, buy a deferred
// line now), asked in a dialog that says what each choice buys and its price where known.
import { chooseDialog, date, el, on, scrolling, spaced, stateBadge } from "./dom.js";
import { progressCell } from "./facts.js";

/** An original's name: the product's ("Office 365 E3"), else its SKU part number. */
export function originalName(line) {
  return line.sourceProductName || line.sourceSkuPartNumber;
}

/** A replacement's name: the product's, else the offer's title from the plan, else its catalog id. */
export function replacementName(replacement, titles) {
  return replacement.productName || titles.get(replacement.catalogItemId) || replacement.catalogItemId;
}

/** What an admin may decide on a line now, each choice with what it buys and the request that makes it. */
function choicesFor(line) {
  return Array.isArray(line.choices) ? line.choices : [];
}

function price(choice) {
  if (typeof choice.unitPrice !== "number") return "price not known";
  const amount = choice.unitPrice.toLocaleString("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return `${amount} ${choice.currency || ""} per licence`.replace(/\s+per/, " per");
}

const OUTCOME = {
  approve: "The line is bought as planned",
  buyNow: "Bought now instead of on the purchase date",
  upToCap: "The same product, up to the seat cap per customer; the holders named on the line keep only their original licence until it lapses",
  enterprise: "An equivalent offer sold without that cap, for every seat",
  decline: "Nothing is bought for this line: it is skipped, and its users are not moved",
};

function choiceText(choice, line) {
  const when = choice.id === "buyNow" && line.purchaseDue ? ` (due ${line.purchaseDue.slice(0, 10)})` : "";
  return el(
    "div",
    { class: "choice" },
    el("h3", {}, choice.label),
    OUTCOME[choice.id] ? el("p", {}, `${OUTCOME[choice.id]}${when}.`) : null,
    choice.buys.length
      ? el("ul", { class: "buys" }, choice.buys.map((b) => el("li", {}, `${b.productName} × ${b.quantity} — ${price(choice)}`)))
      : null,
  );
}

/** The dialog for one line; resolves to the API body of the choice made, or null. */
export async function decideLine(line, choices) {
  const chosen = await chooseDialog({
    title: `${originalName(line)} × ${line.quantity}`,
    body: el("div", {}, line.reason ? el("p", { class: "reason" }, line.reason) : null, choices.map((c) => choiceText(c, line))),
    choices: choices.map((c) => ({ label: c.label, value: c.id, danger: c.id === "decline" })),
  });
  if (!chosen) return null;
  return choices.find((c) => c.id === chosen).request;
}

function replacementsText(line, titles) {
  if (!line.replacements.length) return el("span", { class: "muted" }, "—");
  return el(
    "ul",
    { class: "plain" },
    line.replacements.map((r) => el("li", {}, `${replacementName(r, titles)} × ${r.quantity}`, r.orderId ? " (bought)" : "")),
  );
}

const PATHS = { transfer: "By transfer", rebuy: "Bought again", none: "Not moved" };

/** How a line of a partner-to-partner transfer moves, and why not by transfer when it does not. */
function pathCell(line) {
  const moving = line.partnerTransfer;
  if (!moving) return el("span", { class: "muted" }, "—");
  return el("span", {}, el("strong", {}, PATHS[moving.path] || moving.path), moving.reason ? el("span", { class: "reason" }, ` — ${moving.reason}`) : null);
}

function transferStatusCell(line) {
  const moving = line.partnerTransfer;
  if (!moving) return el("span", { class: "muted" }, "—");
  const partly = moving.status === "PartlyTransferred"
    ? `: ${moving.transferredQuantity} transferred, ${line.quantity} bought again`
    : "";
  return el("span", {}, spaced(moving.status), partly);
}

/** The line's state, and a button when an admin can decide on it now (`decide(line, choices, button)`). */
function stateCell(line, decide) {
  const badge = stateBadge(line.state, line.reason);
  const choices = choicesFor(line);
  if (!choices.length) return badge;
  const label = choices.length === 1 && choices[0].id === "buyNow" ? "Buy now…" : "Decide…";
  const button = el("button", { type: "button", class: "quiet" }, label, el("span", { class: "visually-hidden" }, ` ${originalName(line)}`));
  on(button, "click", () => decide(line, choices, button));
  return el("div", { class: "line-state" }, badge, el("div", {}, button));
}

export function linesSection(transfer, titles, decide) {
  const section = (...children) =>
    el("section", { "aria-labelledby": "section-lines" }, el("h2", { id: "section-lines" }, "Lines"), ...children);
  if (!transfer.lines.length) {
    return section(el("p", { class: "muted" }, "No lines yet: they are planned once the customer accepts."));
  }
  const byPartner = transfer.lines.some((line) => line.partnerTransfer);
  const rows = transfer.lines.map((line) =>
    el(
      "tr",
      { "data-line": line.id },
      el("th", { scope: "row" }, originalName(line)),
      el("td", { class: "number" }, String(line.quantity)),
      byPartner ? [el("td", { class: "path" }, pathCell(line)), el("td", { class: "transfer-status" }, transferStatusCell(line))] : null,
      el("td", {}, replacementsText(line, titles)),
      el("td", {}, line.decision ? spaced(line.decision) : "—"),
      el("td", {}, date(line.originalExpires)),
      el("td", {}, stateCell(line, decide)),
      el("td", {}, `${line.licenses.moved} of ${line.licenses.toMove} moved`, line.licenses.failed ? `, ${line.licenses.failed} failed` : ""),
    ),
  );
  const headings = [
    "Original",
    "Count",
    ...(byPartner ? ["Path", "Transfer status"] : []),
    "Replacement",
    "Identical or equivalent",
    "Original lapses",
    "State",
    "Licenses",
  ];
  return section(
    el("p", {}, progressCell(transfer.lines)),
    scrolling(
      el(
        "table",
        { id: "lines" },
        el("caption", { id: "lines-caption", class: "visually-hidden" }, "Lines: each original and what replaces it"),
        el("thead", {}, el("tr", {}, headings.map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows),
      ),
      "lines-caption",
    ),
  );
}
