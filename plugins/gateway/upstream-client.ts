/**
 * How the proxy talks to an instance. Two implementations share this interface: Bun's fetch()
 * (default) and the pooled HTTP/1.1 client in pooled-client.ts. Failures are thrown as
 * UpstreamError with a kind the proxy maps to 502/504 and the breaker's outcome.
 */

export type UpstreamErrorKind = "connect" | "timeout" | "reset" | "body-limit" | "other";

export class UpstreamError extends Error {
  constructor(readonly kind: UpstreamErrorKind, message: string) {
    super(message);
    this.name = "UpstreamError";
  }
}

export interface UpstreamRequest {
  /** Absolute URL: instance base + path + query. */
  url: string;
  method: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
  signal: AbortSignal;
  connectTimeoutMs: number;
}

export interface UpstreamClient {
  readonly kind: "fetch" | "pooled";
  send(req: UpstreamRequest): Promise<Response>;
  close(): void;
}

/** Map a thrown fetch() error to a kind. `timedOut`: our own deadline fired. */
export function classifyFetchError(err: unknown, timedOut: boolean): UpstreamError {
  if (err instanceof UpstreamError) return err;
  if (timedOut) return new UpstreamError("timeout", "upstream timed out");
  const code = String((err as { code?: string })?.code ?? "");
  const msg = String((err as Error)?.message ?? err);
  if (/ConnectionRefused|ECONNREFUSED|FailedToOpenSocket|EHOSTUNREACH|ENETUNREACH|ConnectionRefused|UnableToConnect/i.test(code + " " + msg)) return new UpstreamError("connect", msg);
  if (/ECONNRESET|ConnectionClosed|socket connection was closed|EPIPE/i.test(code + " " + msg)) return new UpstreamError("reset", msg);
  if (/Timeout/i.test(code + " " + (err as Error)?.name)) return new UpstreamError("timeout", msg);
  return new UpstreamError("other", msg);
}

export function fetchClient(): UpstreamClient {
  return {
    kind: "fetch",
    send(r) {
      // duplex "half": stream the request body instead of buffering it.
      const init = { method: r.method, headers: r.headers, body: r.body, redirect: "manual", decompress: false, signal: r.signal, duplex: "half" };
      return fetch(r.url, init as RequestInit);
    },
    close() {},
  };
}
