/**
 * How the proxy talks to an instance. Two implementations share this interface: Bun's fetch()
 * and the pooled HTTP/1.1 client in pooled-client.ts. Failures are thrown as UpstreamError with a
 * kind the proxy maps to 502/504 and to the breaker's outcome.
 */
import { HOP_BY_HOP } from "../../../src/lib/http1/hop-by-hop";

/**
 * "client" and "body-limit" are the client's doing (it went away, its body failed or stalled, or it
 * sent too much): never counted against the upstream (proxy/attempt.ts recordAttempt).
 */
export type UpstreamErrorKind = "connect" | "timeout" | "reset" | "body-limit" | "client" | "other";

export class UpstreamError extends Error {
  constructor(readonly kind: UpstreamErrorKind, message: string) {
    super(message);
    this.name = "UpstreamError";
  }
}

export interface UpstreamRequest {
  /** Instance base URL (scheme://host:port). */
  base: string;
  /** Path and query sent upstream. */
  path: string;
  method: string;
  /**
   * Request headers to send (hop-by-hop already stripped; no Host unless preserved): a Headers, or,
   * for a client that accepts it, the header lines already serialised ("name: value\r\n"...).
   */
  headers: Headers | string;
  /** With a serialised block: it carries its own Host / Content-Length line. */
  blockHasHost?: boolean;
  blockHasLength?: boolean;
  body: ReadableStream<Uint8Array> | null;
  /** Time to open a connection before failing with kind "connect"-timeout. */
  connectTimeoutMs: number;
  /**
   * Epoch-ms (Date.now) deadline for the response head; past it → UpstreamError("timeout"). With a
   * body, time spent waiting for the client's bytes does not count: the clock runs from the last one.
   */
  deadline: number;
  /** Aborts when the client goes away: the attempt is abandoned as UpstreamError("client"). */
  signal?: AbortSignal;
  /** TLS options for https instances (client certificate, CA), from the edge's upstream TLS source. */
  tls?: object;
}

/** The upstream's answer; headers are the caller's to mutate (already free of hop-by-hop fields). */
export interface UpstreamResponse {
  status: number;
  statusText: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | Uint8Array | null;
  /** Throw the body away (a retried attempt). */
  discard(): void;
}

export interface UpstreamClient {
  readonly kind: "fetch" | "pooled";
  /** True when send() takes a pre-serialised header block (skips building a Headers per request). */
  readonly acceptsHeaderBlock: boolean;
  send(req: UpstreamRequest): Promise<UpstreamResponse>;
  close(): void;
}


/** Map a thrown fetch() error to a kind. */
export function classifyFetchError(err: unknown, timedOut: boolean): UpstreamError {
  if (err instanceof UpstreamError) return err;
  if (timedOut) return new UpstreamError("timeout", "upstream timed out");
  const code = String((err as { code?: string })?.code ?? "");
  const text = `${code} ${String((err as Error)?.message ?? err)} ${(err as Error)?.name ?? ""}`;
  if (/ConnectionRefused|ECONNREFUSED|FailedToOpenSocket|EHOSTUNREACH|ENETUNREACH|UnableToConnect/i.test(text)) return new UpstreamError("connect", text.trim());
  if (/ECONNRESET|ConnectionClosed|socket connection was closed|EPIPE/i.test(text)) return new UpstreamError("reset", text.trim());
  if (/Timeout/i.test(text)) return new UpstreamError("timeout", text.trim());
  return new UpstreamError("other", text.trim());
}

/** A serialised header block ("name: value\r\n"...) back into Headers, for fetch(). */
function blockToHeaders(block: string): Headers {
  const h = new Headers();
  for (const line of block.split("\r\n")) {
    const c = line.indexOf(":");
    if (c > 0) h.append(line.slice(0, c), line.slice(c + 1).trim());
  }
  return h;
}

export const clientGone = (): UpstreamError => new UpstreamError("client", "the client went away before the upstream answered");

/**
 * The client's request body as fetch() reads it, watched: `failed` holds the error when the stream broke
 * (it went away or stalled past the listener's idle timeout), `onRead`/`onChunk` around each wait for
 * the client's bytes (the response-head clock stops while the client is the one being waited for).
 */
function watchedBody(src: ReadableStream<Uint8Array>, w: { failed: unknown }, onRead: () => void, onChunk: () => void): ReadableStream<Uint8Array> {
  const reader = src.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      onRead();
      let r: Awaited<ReturnType<typeof reader.read>>;
      try { r = await reader.read(); } catch (err) { w.failed = err ?? true; c.error(err); return; } finally { onChunk(); }
      if (r.done) c.close(); else c.enqueue(r.value);
    },
    cancel(reason) { return reader.cancel(reason); },
  }, { highWaterMark: 0 });
}

/** Bun's fetch(): streaming both ways, keep-alive pooled by Bun, no automatic decompression. A header block is accepted too (converted). */
export function fetchClient(): UpstreamClient {
  return {
    kind: "fetch",
    acceptsHeaderBlock: false,
    async send(r) {
      if (r.signal?.aborted) throw clientGone();
      const ac = new AbortController();
      let timedOut = false;
      let gone = false;
      const onAbort = () => { gone = true; ac.abort(); };
      r.signal?.addEventListener("abort", onAbort, { once: true });
      const span = Math.max(0, r.deadline - Date.now());
      const expire = () => { timedOut = true; ac.abort(); };
      let timer: ReturnType<typeof setTimeout> | undefined = setTimeout(expire, span);
      const w: { failed: unknown } = { failed: undefined };
      const body = r.body === null ? null : watchedBody(r.body, w,
        () => { clearTimeout(timer); timer = undefined; },
        () => { clearTimeout(timer); timer = setTimeout(expire, span); });
      try {
        // duplex "half": stream the request body instead of buffering it.
        const init = { method: r.method, headers: typeof r.headers === "string" ? blockToHeaders(r.headers) : r.headers, body, redirect: "manual", decompress: false, signal: ac.signal, duplex: "half", ...(r.tls ? { tls: r.tls } : {}) };
        const res = await fetch(r.base + r.path, init as RequestInit);
        const headers = new Headers(res.headers);
        const connection = headers.get("connection");
        if (connection !== null) for (const t of connection.split(",")) { const n = t.trim().toLowerCase(); if (n) headers.delete(n); }
        for (const name of HOP_BY_HOP) headers.delete(name);
        return { status: res.status, statusText: res.statusText, headers, body: res.body, discard: () => { void res.body?.cancel().catch(() => undefined); } };
      } catch (err) {
        if (gone) throw clientGone();
        // The body stream broke: the gateway's own limit (body-limit), or the client's side (it went away or stalled).
        if (w.failed !== undefined) throw w.failed instanceof UpstreamError ? w.failed : new UpstreamError("client", `the client's request body failed: ${(err as Error)?.message ?? String(err)}`);
        throw classifyFetchError(err, timedOut);
      } finally {
        // The deadline covers the wait for the response head, not a long body stream after it.
        clearTimeout(timer);
        r.signal?.removeEventListener("abort", onAbort);
      }
    },
    close() {},
  };
}
