// How a transfer's facts read, the same on the list and on its own page: the customer by name (its
// tenant id in small print), the honest stage, the lines' progress and whose move it is next.
// Fields the API may not send (an older app) are guarded: the page falls back to what it has.
import { date, el, spaced, stateBadge } from "./dom.js";

export const IN_FLIGHT = ["AwaitingAcceptance", "Accepted", "Provisioning", "Provisioned", "CuttingOver"];
const DONE_LINES = ["Completed"];
const WAITING_LINES = ["NeedsApproval", "Blocked"];
const SETTLED_LINES = ["Completed", "Skipped", "Failed", ...WAITING_LINES];

/** What the customer is called: its company name, else its domain, else its tenant id. */
export function customerTitle(transfer) {
  return transfer.customerName || transfer.customerDomain || transfer.customerTenantId;
}

/** The domain and tenant id under the name, in small print (only what the title does not say). */
export function customerSmallPrint(transfer) {
  const parts = [];
  if (transfer.customerDomain && transfer.customerName) parts.push(transfer.customerDomain);
  if (customerTitle(transfer) !== transfer.customerTenantId) parts.push(transfer.customerTenantId);
  return smallPrint(parts);
}

/** Ids and domains under a name: one line each, small. */
export function smallPrint(parts) {
  const shown = parts.filter(Boolean);
  return shown.length ? el("span", { class: "small-print" }, shown.map((part) => el("span", {}, part))) : null;
}

/** The state to show: the API's honest stage (Scheduled when nothing is bought yet), else the state. */
function stageOf(transfer) {
  return transfer.stage || transfer.state;
}

export function stageBadge(transfer) {
  return stateBadge(stageOf(transfer), transfer.reason);
}

/**
 * The lines in numbers: the list's `lines` summary as the API counts it, or counted here from a
 * record's lines. Null when the API sent neither.
 */
function lineSummary(lines) {
  if (Array.isArray(lines)) {
    const count = (states) => lines.filter((line) => states.includes(line.state)).length;
    return {
      total: lines.length,
      done: count(DONE_LINES),
      skipped: count(["Skipped"]),
      failed: count(["Failed"]),
      waiting: count(WAITING_LINES),
      inFlight: lines.length - count(SETTLED_LINES),
    };
  }
  return lines && typeof lines === "object" && Number.isInteger(lines.total) ? lines : null;
}

/** The progress bar: lines done of the lines to move; a skipped line is not done, nor to move. */
export function progressCell(lines) {
  const summary = lineSummary(lines);
  if (!summary) return el("span", { class: "muted" }, "—");
  if (!summary.total) return el("span", { class: "muted" }, "No lines yet");
  const toMove = summary.total - summary.skipped;
  const skipped = summary.skipped ? `, ${summary.skipped} skipped` : "";
  if (!toMove) return el("span", { class: "muted" }, `Nothing to move${skipped}`);
  const label = `${summary.done} of ${toMove} lines done${skipped}`;
  return el(
    "span",
    { class: "progress" },
    el("progress", { max: toMove, value: summary.done, "aria-label": label }),
    " ",
    el("span", {}, `${summary.done}/${toMove}`, skipped ? el("span", { class: "muted" }, skipped) : null),
  );
}

const WHOSE = { partner: "Your move", customer: "The customer's move", none: "Nothing to do" };

/** Whose move it is, in a few words, for the list: "Your move · 2025-03-01", "Waits until 2025-03-01". */
export function nextMoveCell(transfer) {
  const when = transfer.nextDate ? date(transfer.nextDate) : null;
  const kind = { class: `next next-${transfer.nextMove || "unknown"}` };
  if (transfer.nextMove === "none") return el("span", kind, when ? ["Waits until ", when] : "Nothing to do");
  const who = WHOSE[transfer.nextMove];
  if (!who) return when ? el("span", kind, when) : el("span", { class: "muted" }, "—");
  return el("span", kind, el("strong", {}, who), when ? [" · ", when] : null);
}

/** The sentence every transfer page opens with: whose move it is next, and what. */
export function nextMoveLine(transfer) {
  if (!transfer.nextMoveText) return null;
  return el(
    "p",
    { id: "next-move", class: `next-move next-${transfer.nextMove || "unknown"}` },
    el("strong", {}, `${WHOSE[transfer.nextMove] || "Next"}: `),
    transfer.nextMoveText,
    transfer.nextDate ? [" (", date(transfer.nextDate), ")"] : null,
  );
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
