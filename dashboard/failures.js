// The users whose licence did not move, by name, with what to do about each. Names are read live
// from the customer's tenant when the page asks (the API never stores them); until then, or when
// the tenant cannot be read, the user's id stands in, with the stored reason.
import { call, failure } from "./api.js";
import { el } from "./dom.js";
import { smallPrint } from "./facts.js";
import { originalName } from "./lines.js";

function userCell(user) {
  if (!user.displayName && !user.userPrincipalName) return el("code", {}, user.userId);
  if (!user.displayName) return el("span", {}, user.userPrincipalName);
  return el("span", {}, user.displayName, smallPrint([user.userPrincipalName]));
}

function rows(line, users) {
  return users.map((user) =>
    el(
      "tr",
      {},
      el("td", {}, originalName(line)),
      el("th", { scope: "row" }, userCell(user)),
      el("td", {}, user.reason),
      el("td", {}, user.action || user.detail || "—"),
    ),
  );
}

/** The section, or null when every user moved; it fills in names as each line's answer comes. */
export function failuresSection(transfer) {
  const failed = transfer.lines.filter((line) => line.licenses.failures.length);
  if (!failed.length) return null;
  const body = el("tbody");
  const note = el("p", { class: "muted", role: "status" });
  const groups = new Map(failed.map((line) => [line.id, rows(line, line.licenses.failures)]));
  const show = () => body.replaceChildren(...[...groups.values()].flat());
  show();
  for (const line of failed) {
    call("GET", `transfers/${transfer.id}/lines/${line.id}/failures`).then((answer) => {
      if (answer.ok && Array.isArray(answer.body?.items)) {
        groups.set(line.id, rows(line, answer.body.items));
        show();
      } else if (answer.status !== 404) {
        note.textContent = `The users' names could not be read: ${failure(answer)}`;
      }
    });
  }
  return el(
    "section",
    { "aria-labelledby": "section-failures" },
    el("h2", { id: "section-failures" }, "Users whose license did not move"),
    el(
      "div",
      { class: "table-wrap" },
      el(
        "table",
        { id: "failures" },
        el("caption", { class: "visually-hidden" }, "Per-user failures"),
        el("thead", {}, el("tr", {}, ["Line", "User", "Reason", "What to do"].map((h) => el("th", { scope: "col" }, h)))),
        body,
      ),
    ),
    note,
  );
}
