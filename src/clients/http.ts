/**
 * The platform clients' requests: JSON in/out, a timeout, and errors that keep the service's coded body
 * ({ error: { code, message, where } }) so callers can branch on `code`. requestJson() goes over the
 * clients' own keep-alive HTTP/1.1 transport (wire-client.ts); request() (a streamed Response: SSE,
 * NDJSON replays) over fetch().
 */
import { wireRequest, type WireAnswer, WireError } from "./wire-client";

export class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly where?: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ServiceError";
  }
  /** 5xx, 429 or no answer at all (status 0): worth retrying. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Client TLS for https URLs (platform mTLS: client certificate + CA; src/clients/env.ts clientTls). */
  tls?: { cert?: string; key?: string; ca?: string };
}

/** Join a base URL ("http://h:8011" or with a trailing slash) and a path ("/events"). */
export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, "") + path;
}

/** Granularity of request deadlines: a request times out between timeoutMs and timeoutMs + this. */
const DEADLINE_STEP_MS = 25;
const deadlines = new Map<number, AbortSignal>();

/**
 * A signal that aborts (TimeoutError, as AbortSignal.timeout's) once `timeoutMs` has passed, shared by every
 * request whose deadline falls in the same DEADLINE_STEP_MS: one timer per step instead of one per request.
 * A per-request AbortSignal.timeout (a timer each, ~100k live at 10k publishes/s with the 10 s default)
 * was ~4 µs of a publish's client CPU (profiled); a shared signal aborts only requests still waiting.
 */
export function deadlineSignal(timeoutMs: number): AbortSignal {
  const now = Date.now();
  const due = Math.ceil((now + timeoutMs) / DEADLINE_STEP_MS) * DEADLINE_STEP_MS;
  let signal = deadlines.get(due);
  if (signal === undefined) {
    const c = new AbortController();
    signal = c.signal;
    deadlines.set(due, signal);
    const timer = setTimeout(() => { deadlines.delete(due); c.abort(new DOMException("The operation timed out.", "TimeoutError")); }, due - now);
    timer.unref?.(); // as AbortSignal.timeout's: a pending request deadline does not keep the process alive
  }
  return signal;
}

/** Send a request; resolves the raw Response when ok, otherwise throws ServiceError (status 0 = no answer). */
export function request(url: string, opts: RequestOptions = {}): Promise<Response> {
  const timeout = deadlineSignal(opts.timeoutMs ?? 10_000);
  // A combined signal only when the caller gave one: publishes (the hot path) pass none.
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
  const headers: Record<string, string> = { ...opts.headers };
  let body: string | undefined;
  if (opts.body !== undefined) {
    try { body = JSON.stringify(opts.body); } catch (err) { return Promise.reject(err); } // a rejection, as from an async function
    headers["content-type"] ??= "application/json";
  }
  // Promise chains, not async functions: a publish goes through this once per call (fewer promises and ticks).
  return fetch(url, { method: opts.method ?? (body ? "POST" : "GET"), headers, body, signal, ...(opts.tls ? { tls: opts.tls } : {}) }).then(
    (res) => (res.ok ? res : refusal(res)),
    (err) => { throw new ServiceError(0, "CLIENT_ERR_UNREACHABLE", `${url}: ${(err as Error).message}`); },
  );
}

/** The ServiceError for an answer that is not 2xx (its coded body when it has one). */
async function refusal(res: Response): Promise<never> {
  let parsed: any;
  try { parsed = await res.json(); } catch { /* not JSON */ }
  const e = parsed?.error;
  throw new ServiceError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? res.statusText, e?.where, e?.details);
}

/**
 * Send a request and parse its JSON answer, on the clients' keep-alive transport (wire-client.ts): throws
 * ServiceError for a non-2xx answer (its coded body when it has one) or none (status 0), a SyntaxError
 * for a 2xx answer that is not JSON. Redirects are not followed (a 3xx is a ServiceError).
 */
export function requestJson<T>(url: string, opts: RequestOptions = {}): Promise<T> {
  let body: string | undefined;
  if (opts.body !== undefined) {
    try { body = JSON.stringify(opts.body); } catch (err) { return Promise.reject(err); } // a rejection, as from an async function
  }
  const headers = opts.headers;
  const contentType = body === undefined || (headers !== undefined && hasContentType(headers)) ? undefined : "application/json";
  return wireRequest(url, { method: opts.method ?? (body ? "POST" : "GET"), headers, body, contentType, timeoutMs: opts.timeoutMs ?? 10_000, signal: opts.signal, tls: opts.tls }).then(
    jsonOf as (a: WireAnswer) => T,
    (err) => { throw err instanceof WireError ? new ServiceError(err.status, err.code, `${url}: ${err.message}`) : err; },
  );
}

/** A 2xx answer's JSON, else its refusal (module-level: no closure per request). */
function jsonOf(a: WireAnswer): unknown {
  if (a.status >= 200 && a.status < 300) return JSON.parse(a.body);
  throw refusalOf(a);
}

function hasContentType(h: Record<string, string>): boolean {
  for (const k in h) if (k.length === 12 && k.toLowerCase() === "content-type") return true;
  return false;
}

/** The ServiceError for a whole answer that is not 2xx (its coded body when it has one). */
export function refusalOf(a: WireAnswer): ServiceError {
  let parsed: any;
  try { parsed = JSON.parse(a.body); } catch { /* not JSON */ }
  const e = parsed?.error;
  return new ServiceError(a.status, e?.code ?? `HTTP_${a.status}`, e?.message ?? a.statusText, e?.where, e?.details);
}
