// The dashboard: a sign-in gate, then one of three pages chosen by the address's #fragment.
//   #/transfers?state=Blocked   the list      #/transfers/{id}   one transfer      #/start   start
import { call, context, forget, hasKey, remember } from "./api.js";
import { clear, el, on } from "./dom.js";
import { startPage } from "./start.js";
import { transferPage } from "./transfer.js";
import { transfersPage } from "./transfers.js";

const main = document.getElementById("main");
const signOutButton = document.getElementById("sign-out");
let leave = () => {};
let shared = null;

function route() {
  const [path, query] = (window.location.hash.replace(/^#/, "") || "/transfers").split("?");
  const params = new URLSearchParams(query || "");
  const one = path.match(/^\/transfers\/([0-9a-f]{32})$/);
  if (one) return { page: "transfers", title: "Transfer", render: () => transferPage(main, one[1], shared) };
  if (path === "/start") return { page: "start", title: "Start transfers", render: () => startPage(main, shared) };
  return { page: "transfers", title: "Transfers", render: () => transfersPage(main, params, shared) };
}

async function show() {
  leave();
  leave = () => {};
  signOutButton.hidden = !hasKey();
  if (!hasKey()) {
    signIn();
    return;
  }
  const { page, title, render } = route();
  document.title = `${title} — CSP transfers`;
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  clear(main);
  try {
    shared = shared || (await context());
  } catch (error) {
    main.append(el("p", { class: "error", role: "alert" }, `The dashboard could not load its settings: ${error.message}`));
    return;
  }
  leave = (await render()) || (() => {});
}

function signIn(message) {
  document.title = "Sign in — CSP transfers";
  const input = el("input", {
    id: "function-key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "key-help key-error",
  });
  const error = el("p", { id: "key-error", class: "error", role: "alert" }, message || "");
  const submit = el("button", { type: "submit", class: "primary" }, "Sign in");
  const form = el(
    "form",
    { class: "card sign-in", novalidate: true },
    el("h1", {}, "Sign in"),
    el("label", { for: "function-key" }, "Function key"),
    input,
    el(
      "p",
      { id: "key-help", class: "help" },
      "Your own named function key of this function app (ask whoever runs it to create one for you; ",
      "they can revoke it at any time). It is kept in this browser tab only, until you sign out or close the tab.",
    ),
    error,
    submit,
  );
  on(form, "submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      error.textContent = "Enter your function key.";
      input.focus();
      return;
    }
    submit.disabled = true;
    remember(key);
    const answer = await call("GET", "transfers", { query: { pageSize: "1" } });
    submit.disabled = false;
    if (answer.status === 401) return; // the csp-signed-out handler shows the form again
    if (!answer.ok && answer.status !== 503) {
      forget();
      error.textContent = `The API did not answer as expected (HTTP ${answer.status}).`;
      return;
    }
    await show();
    main.focus();
  });
  clear(main).append(form);
  input.focus();
}

on(signOutButton, "click", () => {
  forget();
  leave();
  leave = () => {};
  signOutButton.hidden = true;
  signIn("You are signed out.");
});

window.addEventListener("csp-signed-out", () => {
  leave();
  leave = () => {};
  signOutButton.hidden = true;
  signIn("That key was refused (HTTP 401). It may be wrong or revoked: enter a valid one.");
});

window.addEventListener("hashchange", async () => {
  await show();
  main.focus();
});

show();
