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

/** One call: resolves to {status, ok, body} (body: parsed JSON or null); a 401 also signs out. */
export async function call(method, path, { query, body } = {}) {
  const headers = { Accept: "application/json", "x-functions-key": sessionStorage.getItem(KEY) || "" };
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
    const detail = "the app did not answer. If you sign in with Entra ID, reload the page to sign in again.";
    return { status: 0, ok: false, body: { title: "No answer", detail } };
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (response.status === 401) {
    forget();
    window.dispatchEvent(new CustomEvent("csp-signed-out", { detail: "refused" }));
  }
  return { status: response.status, ok: response.ok, body: parsed };
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
