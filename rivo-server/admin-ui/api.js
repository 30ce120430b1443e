// The admin API over the cookie session: JSON in and out, the CSRF token in its header on unsafe
// requests.

/** An error answer of the API: `status` and the DRF-shaped `body`. */
export class ApiError extends Error {
  constructor(status, body) {
    super(ApiError.describe(status, body));
    this.status = status;
    this.body = body;
  }

  /** One line for a message banner. */
  static describe(status, body) {
    if (body && typeof body.detail === "string") return body.detail;
    if (body && typeof body.error === "string") return body.error;
    if (body && Array.isArray(body.non_field_errors)) return body.non_field_errors.join(" ");
    if (status === 400) return "Please correct the errors below.";
    return `The server answered ${status}.`;
  }

  /** Per-field messages, `{field: [message, …]}`, when the API sent them. */
  get fields() {
    if (!this.body || typeof this.body !== "object" || "detail" in this.body) return {};
    return this.body;
  }
}

let csrfToken = null;

/** Remembers the CSRF token of the session (from login or `/me/`). */
export function setCsrfToken(token) {
  csrfToken = token || null;
}

/**
 * The CSRF cookie's name and the header that repeats the token: the server writes both into the
 * page (`data-csrf-cookie`, `data-csrf-header`) from the names its CSRF check uses.
 */
const { csrfCookie: CSRF_COOKIE, csrfHeader: CSRF_HEADER } = document.documentElement.dataset;

/** Whether the browser holds a session cookie pair (the CSRF cookie is readable). */
export function hasSessionCookie() {
  return document.cookie.split(";").some((c) => c.trim().startsWith(`${CSRF_COOKIE}=`));
}

let navigation = new AbortController();

/** Starts a navigation: reads still pending for the previous page are aborted. */
export function beginNavigation() {
  navigation.abort();
  navigation = new AbortController();
}

/** Whether `err` is the abort of a read of a page left before it answered. */
export function isAbort(err) {
  return err instanceof DOMException && err.name === "AbortError";
}

/**
 * Calls the API; resolves with the parsed body, rejects with an `ApiError` (or an abort error
 * when a read belonged to a page the user has left: see `beginNavigation`). Writes are never
 * aborted.
 */
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const read = method === "GET" || method === "HEAD";
  const signal = read ? navigation.signal : undefined;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers[CSRF_HEADER] = csrfToken;
  const resp = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text };
    }
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

/** `path` with the query parameters of `params` that are set. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(key, value);
  }
  const qs = query.toString();
  return qs ? `${path}?${qs}` : path;
}

export const ADMIN = "/api/v1/admin";
