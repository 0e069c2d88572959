// One transfer: whose move it is, what the customer's admin must do, the lines (each decided on
// its own when it waits), the plan with its warnings and user pre-flight, the failures by name, the
// history as a timeline, and the actions the transfer's state allows now. The buttons follow the
// legal moves, but the API decides: a refused action shows its reason.
import { call, failure } from "./api.js";
import { announce, append, chooseDialog, confirmDialog, copyButton, date, el, moment, on, spaced, stateBadge } from "./dom.js";
import { customerSmallPrint, customerTitle, IN_FLIGHT, lapseRisk, nextMoveLine, stageBadge } from "./facts.js";
import { failuresSection } from "./failures.js";
import { decideLine, linesSection, originalName, replacementName } from "./lines.js";

const FINAL = ["Completed", "Cancelled"];
const NOTHING_BOUGHT = ["Planned", "NeedsApproval", "Skipped", "Blocked", "Transferring"];
const UNDECIDED = ["NeedsApproval", "Blocked"];
const PLANNABLE = ["Accepted", "Provisioning", "Provisioned", "CuttingOver", "Blocked", "Failed"];
const REFRESH_MS = 10000;

/** What the buttons offer: the moves the API would take now. */
export function legalMoves(transfer) {
  const lines = transfer.lines;
  const waiting = lines.filter((line) => line.state === "NeedsApproval");
  return {
    approve: transfer.state === "Blocked" && waiting.length > 0,
    retry: ["Blocked", "Failed"].includes(transfer.state) && !lines.some((l) => UNDECIDED.includes(l.state)),
    cancel:
      !FINAL.includes(transfer.state) &&
      lines.every((line) => NOTHING_BOUGHT.includes(line.state)) &&
      transfer.partnerTransfer?.status !== "InProgress", // submitted: Partner Center no longer cancels it
    cancelRequest: !FINAL.includes(transfer.state) && transfer.partnerTransfer?.status === "Pending",
    refund: !FINAL.includes(transfer.state) && !transfer.refund && refundUntil(transfer) !== null,
  };
}

/** The first end of the new subscriptions' cancellation windows still open, or null. */
export function refundUntil(transfer) {
  const open = transfer.lines
    .flatMap((line) => line.cancellableUntil)
    .map((window) => window.until)
    .filter((until) => Date.parse(until) > Date.now());
  return open.length ? open.sort()[0] : null;
}

/** The message the partner sends the customer's Global Administrator. */
export function customerMessage(transfer) {
  const accept = transfer.customerActions.find((a) => a.action === "accept-reseller-relationship");
  const gdap = transfer.customerActions.find((a) => a.action === "approve-gdap");
  const agreement = transfer.customerActions.find((a) => a.action === "confirm-customer-agreement");
  const steps = [];
  const whose = transfer.customerName ? `${transfer.customerName}'s` : "your";
  if (accept) steps.push(`Accept our reseller relationship:\n${accept.url}`);
  if (gdap) steps.push(`Approve the administrative relationship (GDAP) we need to move your licenses:\n${gdap.url}`);
  if (agreement) {
    steps.push(
      "Accept the Microsoft Customer Agreement in the Microsoft 365 admin center, or tell us who in your " +
        `organisation accepted it (name, e-mail, phone) so that we confirm it for you:\n${agreement.url}`,
    );
  }
  return [
    "Hello,",
    "",
    `To move ${whose} Microsoft 365 subscriptions (tenant ${transfer.customerTenantId}) to us, please sign in ` +
      "as a Global Administrator of your organisation and:",
    "",
    ...steps.map((step, index) => `${index + 1}. ${step}\n`),
    transfer.sourcePartner
      ? `${transfer.sourcePartner.name} will be asked to transfer your subscriptions to us; Microsoft e-mails ` +
        "you about it. Whatever does not move that way we buy again (the same offers or their successors), " +
        "and your users keep their licenses throughout."
      : "Your current subscriptions keep working until they lapse; we buy the same offers (or their " +
        "successors) with the same license counts, and your users keep their licenses throughout.",
    "",
    "Thank you.",
  ].join("\n");
}

function section(title, ...children) {
  const id = `section-${title.toLowerCase().replace(/[^a-z]+/g, "-")}`;
  return el("section", { "aria-labelledby": id }, el("h2", { id }, title), ...children);
}

function definitions(pairs) {
  return el(
    "dl",
    { class: "facts" },
    pairs.filter(Boolean).map(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]),
  );
}

const LINK_LABELS = {
  "approve-gdap": "GDAP approval link",
  "confirm-customer-agreement": "Microsoft Customer Agreement",
};

function customerActions(transfer) {
  if (!transfer.customerActions.length) return null;
  const message = customerMessage(transfer);
  const text = el("textarea", { id: "customer-message", rows: 12, readonly: true, class: "message" });
  text.value = message;
  const links = transfer.customerActions.map((action) => {
    const label = LINK_LABELS[action.action] || "Invitation link";
    return el(
      "li",
      {},
      el("span", { class: "label" }, `${label} (for ${action.who})`),
      el("code", { class: "link" }, action.url),
      copyButton(`Copy the ${label.toLowerCase()}`, () => action.url),
    );
  });
  return section(
    "What the customer's admin must do",
    el("ul", { class: "plain" }, links),
    el("label", { for: "customer-message" }, "Ready-to-send message"),
    text,
    copyButton("Copy the message", () => message),
  );
}

/** When a pending partner-to-partner transfer request expires if its partner does not act, else null. */
function requestExpiry(request, context) {
  if (!request || request.status !== "Pending" || !request.createdAt) return null;
  const days = context.partnerTransferExpiryDays * 24 * 60 * 60 * 1000;
  return new Date(Date.parse(request.createdAt) + days).toISOString();
}

/** The partner-to-partner transfer request: what Partner Center holds, and when it lapses unanswered. */
function requestSection(transfer, context) {
  const request = transfer.partnerTransfer;
  const source = transfer.sourcePartner;
  if (!source) return null;
  if (!request) {
    return section(
      "Partner-to-partner transfer",
      el("p", {}, `${source.name} is asked for a transfer once the customer has accepted the reseller relationship.`),
    );
  }
  const expiry = requestExpiry(request, context);
  return section(
    "Partner-to-partner transfer",
    el(
      "div",
      { id: "partner-request" },
      definitions([
        ["Request id", request.id ? el("code", {}, request.id) : el("span", { class: "muted" }, "not created yet")],
        ["Status", stateBadge(request.status)],
        ["Asked of", `${source.name} (${source.tenantId})`],
        ["Created", moment(request.createdAt)],
        expiry ? [`Expires unless ${source.name} acts`, date(expiry)] : ["Last read", moment(request.checkedAt)],
      ]),
    ),
  );
}

/** The cancel dialog: the whole transfer and, while it is pending, only the request, each with its cost. */
function cancelChoices(transfer, moves) {
  const whole = [
    el("p", {}, "Cancelling cannot be undone. The transfer stops for good: nothing more is bought or moved, and it cannot be retried."),
    el("p", {}, "Nothing has been bought, and the customer's original subscriptions are not touched. A relationship the customer already accepted stays; to move this customer later, start a new transfer."),
  ];
  if (!moves.cancelRequest) {
    return { title: "Cancel this transfer?", body: el("div", {}, whole), choices: [{ label: "Cancel the transfer", value: "whole", danger: true }], cancel: "Keep it" };
  }
  const source = transfer.sourcePartner?.name || "the current partner";
  const asked = transfer.lines.filter((line) => line.partnerTransfer?.path === "transfer" && line.state === "Transferring");
  const names = asked.map((line) => `${originalName(line)} × ${line.quantity}`).join(", ") || "none";
  const choices = [{ label: "Cancel only the request", value: "request", danger: true }];
  if (moves.cancel) choices.push({ label: "Cancel the whole transfer", value: "whole", danger: true });
  return {
    title: "What do you want to cancel?",
    body: el(
      "div",
      {},
      el("h3", {}, "Cancel only the request"),
      el("p", {}, `The transfer request is cancelled at Partner Center. This cannot be undone: ${source} can no longer submit it, and asking again takes a new transfer.`),
      el("p", {}, `Its lines (${names}) are bought again instead, when their purchase falls due; the rest of the transfer goes on.`),
      el("h3", {}, "Cancel the whole transfer"),
      moves.cancel
        ? [el("p", {}, `The request is cancelled at Partner Center too, and the customer stays with ${source}.`), whole]
        : el("p", {}, "Not possible any more: something has been bought, or may have been, for this transfer."),
    ),
    choices,
    cancel: "Keep both",
  };
}

/** The refund dialog: what cancelling with a refund does, and until when Partner Center allows it. */
function refundChoices(transfer) {
  const bought = transfer.lines
    .filter((line) => line.subscriptionIds.length)
    .map((line) => `${originalName(line)}: ${line.subscriptionIds.length} new subscription(s)`);
  return {
    title: "Cancel and refund what was bought?",
    body: el(
      "div",
      {},
      el("p", {}, "The transfer stops for good, and the subscriptions it bought are cancelled at Partner Center with a prorated refund. This cannot be undone."),
      el("ul", { class: "plain" }, bought.map((text) => el("li", {}, text))),
      el("p", {}, "The customer's original subscriptions are not touched: their users keep them until they lapse."),
      el("p", {}, "Partner Center allows this until ", date(refundUntil(transfer)), "; after that, the purchase stands."),
    ),
    choices: [{ label: "Cancel and refund", value: "refund", danger: true }],
    cancel: "Keep the transfer",
  };
}

function preflight(users) {
  if (!users) return el("p", { class: "muted" }, "Users not read for this line.");
  const groups = users.viaGroups.length
    ? users.viaGroups.map((g) => `${g.users} through group ${g.groupId}`).join("; ")
    : "none";
  const parts = [
    definitions([
      ["Users holding it", String(users.holders)],
      ["Assigned directly", String(users.direct)],
      ["Through groups", groups],
      ["Both direct and through a group", String(users.both)],
      ["Seat shortfall", String(users.seatShortfall)],
    ]),
  ];
  if (users.willFail.length) {
    parts.push(
      el("p", { class: "warning" }, `Warning: ${users.willFail.length} user(s) will fail at cutover:`),
      el(
        "ul",
        { class: "plain will-fail" },
        users.willFail.map((u) => el("li", {}, el("code", {}, u.userId), ` — ${u.reason}: ${u.detail}`)),
      ),
    );
  } else {
    parts.push(el("p", {}, "No user is expected to fail at cutover."));
  }
  return el("div", { class: "preflight" }, parts);
}

function planSection(plan) {
  const lines = plan.lines.map((line) => {
    const lost = line.lostPlans.length
      ? el(
          "div",
          { class: "warning", role: "note" },
          el("p", {}, el("strong", {}, "Warning: "), `${line.lostPlans.length} service plan(s) would be lost:`),
          el(
            "ul",
            {},
            line.lostPlans.map((p) =>
              el("li", {}, `${p.servicePlanName} (${p.service})`, p.dataBearing ? " — holds customer data" : ""),
            ),
          ),
        )
      : null;
    const targets = line.targets.length
      ? el("ul", { class: "plain" }, line.targets.map((t) => el("li", {}, `${t.title} × ${t.quantity}`)))
      : el("p", { class: "muted" }, "Nothing would be bought.");
    return el(
      "article",
      { class: "plan-line card" },
      el("h3", {}, `${line.sourceName || line.sourceSkuPartNumber} × ${line.quantity}`),
      el("p", {}, el("strong", {}, spaced(line.decision)), line.needsApproval ? " — needs your approval. " : ". ", line.explanation),
      targets,
      lost,
      el("h4", {}, "User pre-flight"),
      preflight(line.users),
    );
  });
  return lines.length ? lines : el("p", { class: "muted" }, "The plan has no lines.");
}

const ACTORS = {
  api: "An admin",
  workflow: "The workflow",
  timer: "The timer",
  webhook: "Partner Center",
  "partner-transfer": "The partner transfer",
};

/** The move between states, unless the entry's sentence says it already. */
function stateChange(entry) {
  if (!entry.toState) return null;
  const said = entry.message.toLowerCase();
  if (said.includes(entry.toState.toLowerCase()) || said.includes(spaced(entry.toState).toLowerCase())) return null;
  return el("p", { class: "muted" }, `${entry.fromState ? `${spaced(entry.fromState)} → ` : ""}${spaced(entry.toState)}`);
}

/** The ids behind an entry (request, cart, order...), folded away: an admin reads the sentence. */
function idsToggle(details) {
  const pairs = Object.entries(details || {}).filter(([, value]) => value !== null && value !== undefined && value !== "");
  if (!pairs.length) return null;
  return el(
    "details",
    { class: "ids" },
    el("summary", {}, "Ids"),
    el("dl", { class: "facts" }, pairs.map(([name, value]) => [el("dt", {}, spaced(name)), el("dd", {}, el("code", {}, String(value)))])),
  );
}

function timelineItems(entries) {
  return entries.map((h) =>
    el(
      "li",
      {},
      el("p", { class: "when" }, moment(h.at), " · ", el("span", { class: "actor" }, ACTORS[h.actor] || h.actor)),
      el("p", {}, h.message),
      stateChange(h),
      idsToggle(h.details),
    ),
  );
}

export async function transferPage(main, id, context, notice, focus = true) {
  const answer = await call("GET", `transfers/${id}`);
  if (!answer.ok) {
    append(main, el("h1", {}, "Transfer"), el("p", { class: "error", role: "alert" }, failure(answer)));
    return null;
  }
  const transfer = answer.body;
  const titles = new Map(); // catalogItemId → the offer's title, once the plan is read
  const losses = new Map(); // sourceSkuId → the service plans its replacement loses
  const moves = legalMoves(transfer);
  const result = el("p", { id: "action-result", role: "status", tabindex: "-1" }, notice || "");

  const actions = el("div", { class: "actions" });
  const button = (label, kind, handler) => on(el("button", { type: "button", class: kind }, label), "click", handler);

  let timer = null;
  let leave = () => {};
  const reload = async (message, focusResult = true) => {
    if (timer) window.clearInterval(timer);
    timer = null;
    main.replaceChildren();
    leave();
    leave = (await transferPage(main, id, context, message, focusResult)) || (() => {});
  };

  const plan = PLANNABLE.includes(transfer.state)
    ? call("GET", `transfers/${id}/plan`)
    : Promise.resolve(null);

  // One line decided on its own: approve or decline it, or buy a deferred line now.
  const decide = async (line, choices, opener) => {
    const body = await decideLine(line, choices);
    if (!body) {
      opener.focus();
      return;
    }
    opener.disabled = true;
    const decided = await call("POST", `transfers/${id}/approve`, { body });
    const done = body.decline ? `Declined: ${originalName(line)} is not moved.` : `Approved: ${originalName(line)} will be bought.`;
    await reload(decided.ok ? done : failure(decided));
  };

  if (moves.approve) {
    actions.append(
      button("Approve all…", "primary", async (event) => {
        const waiting = transfer.lines.filter((line) => line.state === "NeedsApproval");
        await plan;
        const body = el(
          "div",
          {},
          el("p", {}, "Approving buys these offers for the customer now:"),
          el(
            "ul",
            { id: "to-buy" },
            waiting.flatMap((line) =>
              line.replacements.map((r) =>
                el("li", {}, `${replacementName(r, titles)} × ${r.quantity} (replacing ${originalName(line)})`),
              ),
            ),
          ),
          el(
            "p",
            {},
            "The customer's users lose: ",
            [...new Set(waiting.flatMap((line) => losses.get(line.sourceSkuId) || []))].join(", ") ||
              "see the plan below",
            ".",
          ),
        );
        if (!(await confirmDialog({ title: "Approve and buy?", body, confirm: "Approve and buy" }))) {
          event.target.focus();
          return;
        }
        event.target.disabled = true;
        const approved = await call("POST", `transfers/${id}/approve`, { body: { approve: waiting.map((l) => l.id) } });
        await reload(approved.ok ? "Approved: the offers will be bought." : failure(approved));
      }),
      " ",
    );
  }
  if (moves.retry) {
    actions.append(
      button("Retry", "", async (event) => {
        event.target.disabled = true;
        const retried = await call("POST", `transfers/${id}/retry`);
        await reload(retried.ok ? "Retrying: the stopped step runs again." : failure(retried));
      }),
      " ",
    );
  }
  if (moves.cancel || moves.cancelRequest) {
    actions.append(
      button(moves.cancelRequest ? "Cancel…" : "Cancel transfer…", "danger", async (event) => {
        const choice = await chooseDialog(cancelChoices(transfer, moves));
        if (!choice) {
          event.target.focus();
          return;
        }
        event.target.disabled = true;
        const only = choice === "request";
        const cancelled = await call("POST", `transfers/${id}/cancel`, { body: only ? { partnerTransferOnly: true } : undefined });
        const done = only ? "The transfer request was cancelled; its lines will be bought again." : "Cancelled.";
        await reload(cancelled.ok ? done : failure(cancelled));
      }),
    );
  }
  if (moves.refund) {
    actions.append(
      " ",
      button("Cancel and refund…", "danger", async (event) => {
        if (!(await chooseDialog(refundChoices(transfer)))) {
          event.target.focus();
          return;
        }
        event.target.disabled = true;
        const refunded = await call("POST", `transfers/${id}/cancel`, { body: { refundPurchases: true } });
        await reload(refunded.ok ? "Cancelled: the new subscriptions are cancelled with a refund." : failure(refunded));
      }),
    );
  }
  if (!actions.childElementCount) actions.append(el("p", { class: "muted" }, "No action is possible in this state."));

  const planHolder = el("div", { id: "plan" }, el("p", { class: "muted" }, "Loading the plan…"));
  const timeline = el("ol", { class: "timeline", id: "history" }, timelineItems(transfer.history));
  const older = el("button", { type: "button", hidden: !transfer.historyContinuationToken }, "Show more history");
  let historyToken = transfer.historyContinuationToken;
  on(older, "click", async () => {
    const page = await call("GET", `transfers/${id}`, { query: { historyContinuationToken: historyToken } });
    if (!page.ok) return;
    timeline.append(...timelineItems(page.body.history));
    historyToken = page.body.historyContinuationToken;
    older.hidden = !historyToken;
  });

  append(
    main,
    el("p", {}, el("a", { href: "#/transfers" }, "← All transfers")),
    el("h1", {}, `Transfer for ${customerTitle(transfer)}`),
    el("p", { class: "subtitle" }, customerSmallPrint(transfer)),
    nextMoveLine(transfer),
    transfer.lapseRiskOn
      ? el("p", { class: "warning", id: "lapse-risk" }, el("strong", {}, "Warning: "), lapseRisk(transfer), "; retry, approve or cancel before then.")
      : null,
    definitions([
      ["State", stageBadge(transfer)],
      ["Country", transfer.customerCountry],
      ["Source channel", spaced(transfer.sourceChannel)],
      transfer.sourcePartner ? ["Current partner", transfer.sourcePartner.name] : null,
      ["Contact", transfer.contactEmail || "—"],
      ["Purchase timing", transfer.options.purchaseTiming === "beforeLapse" ? `${transfer.options.purchaseLeadDays} days before the originals lapse` : "On acceptance"],
      ["Started", moment(transfer.createdAt)],
      ["Last update", moment(transfer.updatedAt)],
      ["Transfer id", el("code", {}, transfer.id)],
    ]),
    requestSection(transfer, context),
    section("Actions", actions, result),
    customerActions(transfer),
    el("div", { id: "lines-holder" }),
    section("Plan", planHolder),
    failuresSection(transfer),
    section("History", timeline, older),
  );
  const linesHolder = main.querySelector("#lines-holder");
  linesHolder.replaceWith(linesSection(transfer, titles, decide));

  plan.then((planned) => {
    planHolder.replaceChildren();
    if (planned === null) {
      planHolder.append(
        el("p", { class: "muted" }, transfer.state === "AwaitingAcceptance"
          ? "The plan is available once the customer has accepted the invitation and approved GDAP."
          : `The transfer is ${spaced(transfer.state).toLowerCase()}; there is nothing left to plan.`),
      );
      return;
    }
    if (!planned.ok) {
      planHolder.append(el("p", { class: "error" }, `The plan could not be computed. ${failure(planned)}`));
      return;
    }
    for (const line of planned.body.lines) {
      for (const t of line.targets) titles.set(t.catalogItemId, t.title);
      losses.set(line.sourceSkuId, line.lostPlans.map((p) => `${p.servicePlanName} (${p.service})`));
    }
    append(planHolder, planSection(planned.body));
    main.querySelector("#section-lines")?.closest("section").replaceWith(linesSection(transfer, titles, decide));
  });

  if (notice) {
    if (focus) result.focus(); // after an action, whose button is gone; not on a refresh
    announce(notice);
  }
  timer = IN_FLIGHT.includes(transfer.state)
    ? window.setInterval(async () => {
        if (document.querySelector("dialog[open]")) return; // not under an admin deciding
        const fresh = await call("GET", `transfers/${id}`, { query: { historyPageSize: "1" } });
        if (fresh.ok && fresh.body.updatedAt !== transfer.updatedAt) {
          reload("The transfer changed; this page shows it now.", false);
        }
      }, REFRESH_MS)
    : null;
  return () => {
    if (timer) window.clearInterval(timer);
    leave();
  };
}
