// Building the page: every text goes in through textContent (never innerHTML), so nothing an API
// answer or a CSV holds can become markup.

/**
 * An element: el("a", {href: "#/x", class: "link"}, "text", child...).
 * Attributes are set with setAttribute; on* attributes are refused (handlers go through `on`).
 */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) throw new Error(`use addEventListener for ${name}`);
    node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, ...children);
  return node;
}

export function append(node, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    if (child instanceof Node) node.append(child);
    else {
      const text = document.createTextNode("");
      text.textContent = String(child);
      node.append(text);
    }
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

export function on(node, event, handler) {
  node.addEventListener(event, handler);
  return node;
}

/** Says something to screen-reader users without moving focus. */
export function announce(message) {
  const region = document.getElementById("announcer");
  region.textContent = "";
  window.setTimeout(() => {
    region.textContent = message;
  }, 50);
}

/** A date (yyyy-mm-dd, UTC) in a <time> element, or a dash. */
export function date(iso) {
  if (!iso) return el("span", { class: "muted" }, "—");
  return el("time", { datetime: iso }, iso.slice(0, 10));
}

/** A moment (yyyy-mm-dd hh:mm UTC) in a <time> element. */
export function moment(iso) {
  if (!iso) return el("span", { class: "muted" }, "—");
  return el("time", { datetime: iso }, `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`);
}

/** The state as words, with a class for colour (never colour alone). */
export function stateBadge(state, reason) {
  const badge = el("span", { class: `state state-${String(state).toLowerCase()}` }, spaced(state));
  return reason ? el("span", {}, badge, " ", el("span", { class: "reason" }, reason)) : badge;
}

/** "AwaitingAcceptance" → "Awaiting acceptance". */
export function spaced(name) {
  const words = String(name).replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A button that copies `text()` and says whether it worked. */
export function copyButton(label, text) {
  const status = el("span", { class: "copy-status", role: "status" });
  const button = el("button", { type: "button", class: "quiet" }, label);
  on(button, "click", async () => {
    try {
      await navigator.clipboard.writeText(text());
      status.textContent = "Copied.";
    } catch {
      status.textContent = "Copying is not allowed here: select the text and press Ctrl+C.";
    }
  });
  return el("span", { class: "copy" }, button, " ", status);
}

/**
 * A modal choice among `choices` ([{label, value, danger}]); resolves to the chosen value, or null
 * when the admin goes back (its button, focused first as the safe choice, or Esc).
 */
export function chooseDialog({ title, body, choices, cancel = "Go back" }) {
  return new Promise((resolve) => {
    const heading = el("h2", { id: "dialog-title" }, title);
    const buttons = choices.map((choice) =>
      el("button", { type: "button", class: choice.danger ? "danger" : "primary" }, choice.label),
    );
    const no = el("button", { type: "button" }, cancel);
    const dialog = el(
      "dialog",
      { "aria-labelledby": "dialog-title", class: "confirm" },
      heading,
      el("div", { class: "dialog-body" }, body),
      el("div", { class: "actions" }, buttons, no),
    );
    let answered = false;
    const finish = (value) => {
      if (answered) return;
      answered = true;
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    buttons.forEach((button, index) => on(button, "click", () => finish(choices[index].value)));
    on(no, "click", () => finish(null));
    on(dialog, "cancel", (event) => {
      event.preventDefault();
      finish(null);
    });
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}

/** A modal confirmation; resolves true when confirmed. Esc or the cancel button resolve false. */
export async function confirmDialog({ title, body, confirm, cancel = "Go back", danger = false }) {
  return (await chooseDialog({ title, body, cancel, choices: [{ label: confirm, value: true, danger }] })) === true;
}

/**
 * A wide table's scrolling box, labelled by the table's caption: focusable, so that it scrolls
 * with the keyboard too when it is wider than the page.
 */
export function scrolling(table, captionId) {
  return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": captionId }, table);
}

/** Offers a text as a file download. */
export function download(name, text, type = "text/csv") {
  const url = URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` }));
  const link = el("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10000);
}
