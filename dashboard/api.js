// The admin API, called with the function key the admin entered once for this browser tab.
// The key lives in sessionStorage (gone with the tab) and travels only in the x-functions-key
// header, never in a URL. A 401 forgets it, so a revoked key signs the page out.

const KEY = "csp-transfer.function-key";

export function hasKey() {
  return Boolean(sessionStorage.getItem(KEY));
}

export function remember(key) {
  sessionStorage.setItem(KEY, key);
}

export function forget() {
  sessionStorage.removeItem(KEY);
}

/** The API's address relative to the page: /api/dashboard/ → /api/{path}. */
function address(path, query) {
  const url = new URL(`../${path}`, document.baseURI);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  return url;
}

/** One request with the key; resolves to the Response, or null when nothing answered. A 401 signs out. */
async function send(method, path, { query, body, accept = "application/json" } = {}) {
  const headers = { Accept: accept, "x-functions-key": sessionStorage.getItem(KEY) || "" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(address(path, query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "same-origin",
      redirect: "error", // a sign-in redirect (App Service Authentication expired) is not an answer
    });
  } catch {
    return null;
  }
  if (response.status === 401) {
    forget();
    window.dispatchEvent(new CustomEvent("csp-signed-out", { detail: "refused" }));
  }
  return response;
}

const NO_ANSWER = {
  title: "No answer",
  detail: "the app did not answer. If you sign in with Entra ID, reload the page to sign in again.",
};

function parsed(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/** One call: resolves to {status, ok, body} (body: parsed JSON or null); a 401 also signs out. */
export async function call(method, path, options = {}) {
  const response = await send(method, path, options);
  if (!response) return { status: 0, ok: false, body: NO_ANSWER };
  const text = await response.text();
  return { status: response.status, ok: response.ok, body: parsed(text) };
}

/**
 * A GET whose answer is a file of `type` (a CSV export): {status, ok, text, body}; `ok` only when the
 * API answered that type, `body` the problem when it did not.
 */
export async function fetchFile(path, query, type) {
  const response = await send("GET", path, { query, accept: type });
  if (!response) return { status: 0, ok: false, text: "", body: NO_ANSWER };
  const text = await response.text();
  const typed = (response.headers.get("Content-Type") || "").startsWith(type);
  if (response.ok && typed) return { status: response.status, ok: true, text, body: null };
  const body = (!response.ok && parsed(text)) || { title: `The API did not answer ${type}` };
  return { status: response.status, ok: false, text: "", body };
}

/** What went wrong, in words: the problem's detail when the API gave one. */
export function failure(answer) {
  const problem = answer.body && typeof answer.body === "object" ? answer.body : {};
  const title = problem.title || `HTTP ${answer.status}`;
  return problem.detail ? `${title}: ${problem.detail}` : title;
}

/** The dashboard's own generated context: the region table and the partner's country. */
export async function context() {
  const response = await fetch(new URL("context.json", document.baseURI), { cache: "no-store" });
  if (!response.ok) throw new Error(`context.json: HTTP ${response.status}`);
  return response.json();
}
