/**
 * A tiny shared fetch helper for the platform clients: JSON in/out, a timeout, and errors that keep the
 * service's coded body ({ error: { code, message, where } }) so callers can branch on `code`.
 */

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
  /** fetch()'s `tls` (platform mTLS: client certificate + CA; src/clients/env.ts clientTls). */
  tls?: { cert?: string; key?: string; ca?: string };
}

/** Join a base URL ("http://h:8011" or with a trailing slash) and a path ("/events"). */
export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, "") + path;
}

/** Send a request; resolves the raw Response when ok, otherwise throws ServiceError (status 0 = no answer). */
export async function request(url: string, opts: RequestOptions = {}): Promise<Response> {
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 10_000);
  // A combined signal only when the caller gave one: publishes (the hot path) pass none.
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
  const headers: Record<string, string> = { ...opts.headers };
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  let res: Response;
  try {
    res = await fetch(url, { method: opts.method ?? (body ? "POST" : "GET"), headers, body, signal, ...(opts.tls ? { tls: opts.tls } : {}) });
  } catch (err) {
    throw new ServiceError(0, "CLIENT_ERR_UNREACHABLE", `${url}: ${(err as Error).message}`);
  }
  if (res.ok) return res;
  let parsed: any;
  try { parsed = await res.json(); } catch { /* not JSON */ }
  const e = parsed?.error;
  throw new ServiceError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? res.statusText, e?.where, e?.details);
}

/** request() and parse the JSON body. */
export async function requestJson<T>(url: string, opts: RequestOptions = {}): Promise<T> {
  const res = await request(url, opts);
  return (await res.json()) as T;
}
