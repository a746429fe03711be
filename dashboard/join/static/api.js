// The join API (dashboard/join/routes.py) as the student page calls it. Every call answers
// {status, body, retryAfterS}: status 0 when the network did not answer (offline, or no reply
// within REQUEST_TIMEOUT_MS), the JSON body (null when none), and Retry-After in seconds.

export const REQUEST_TIMEOUT_MS = 15000;

/** The join code in the page's address (/join/CODE): the server answers for it, not this page. */
export function codeFromPath(pathname) {
  const parts = pathname.split("/").filter((p) => p !== "");
  return parts.length ? decodeURIComponent(parts[parts.length - 1]) : "";
}

async function call(url, init) {
  let response;
  const signal = typeof AbortSignal.timeout === "function" ? AbortSignal.timeout(REQUEST_TIMEOUT_MS) : undefined;
  try {
    response = await fetch(url, { ...init, cache: "no-store", credentials: "same-origin", signal });
  } catch {
    return { status: 0, body: null, retryAfterS: null };
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const retry = Number(response.headers.get("Retry-After"));
  return { status: response.status, body, retryAfterS: Number.isFinite(retry) && retry > 0 ? retry : null };
}

/** The page's settings from the server: library URLs, the sample's fields, expression labels. */
export async function loadPageConfig(path = "/join/page.json") {
  return call(path, { method: "GET" });
}

/** One lesson's API, by its join code. */
export class JoinApi {
  constructor(prefix, code) {
    this.base = `${prefix}/${encodeURIComponent(code)}`;
  }

  /** GET: is the lesson open, what it measures, its thresholds and the server's clock. */
  lookup() {
    return call(this.base, { method: "GET" });
  }

  /** POST: join as a new student, with the typed name when there is one. */
  join(name) {
    const body = name ? { name } : {};
    return call(`${this.base}/students`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
  }

  /** POST: one batch, already serialised (its size was checked on that text). */
  samples(token, batchText) {
    return call(`${this.base}/samples`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: batchText,
    });
  }

  /** POST: the student pressed Leave. */
  leave(token) {
    return call(`${this.base}/leave`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
  }
}

/**
 * This page's own clock in epoch milliseconds, never stepped: the time origin of the page plus the
 * monotonic time since. Date.now() follows the device's clock, which a user or an NTP correction can
 * move by seconds or hours mid-lesson: stamped with it, the samples would go backwards or be refused
 * as ahead of the server for the rest of the lesson.
 */
export function pageNow() {
  return performance.timeOrigin + performance.now();
}

/** Offset to add to pageNow() for the server's clock, from its time and the request's round trip. */
export function clockOffsetMs(serverTimeMs, sentAtMs, answeredAtMs) {
  return Math.round(serverTimeMs - (sentAtMs + answeredAtMs) / 2);
}
