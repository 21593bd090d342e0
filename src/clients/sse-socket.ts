/**
 * An event stream (GET, text/event-stream) read on a socket of its own (Bun.connect, on the JS thread),
 * for the typed subscriber over plain HTTP: fetch() hands each read of a body over from its own HTTP
 * thread (a wake-up of the JS thread per delivery), which this skips. The response is parsed with the
 * platform's one HTTP/1.1 codec (src/lib/http1). https URLs keep fetch (http.ts request(): certificate
 * checks, renewals), as the service keeps the fetch lane for TLS ports.
 */
import type { Socket } from "bun";
import { CRLFCRLF, MAX_RESPONSE_HEAD, responseHasNoBody } from "../lib/http1/head";
import { ResponseScan, scanResponseHead } from "../lib/http1/response-scan";
import { BodyFramer, FRAMER_ERROR, FRAMER_MORE } from "../lib/http1/framer";
import { refusalOf, ServiceError } from "./http";

/** A refusal's body is read up to this (a coded error is far smaller). */
const MAX_REFUSAL_BYTES = 64 * 1024;
/** Body bytes the stream holds for a consumer that does not read before the socket is paused. */
const HIGH_WATER = 1024 * 1024;

/**
 * Opens `url` (http://) and resolves with its body (chunked framing removed) once a 2xx head arrived;
 * rejects with the ServiceError of a refusal (its coded body) or of no answer (status 0). Aborting
 * `signal` closes the socket: the body stream errors with the abort's reason.
 */
export function openSseSocket(url: string, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
  const u = new URL(url);
  const unreachable = (why: string) => new ServiceError(0, "CLIENT_ERR_UNREACHABLE", `${url}: ${why}`);
  return new Promise((resolve, reject) => {
    let socket: Socket<undefined> | null = null;
    let head: Buffer | null = null;
    let status = 0;
    let statusText = "";
    let refusal: Buffer[] | null = null;
    let refusalBytes = 0;
    let stream: ReadableStreamDefaultController<Uint8Array> | null = null;
    let settled = false;
    const framer = new BodyFramer();
    const scan = new ResponseScan();
    /** The body ended or the exchange failed: later socket events change nothing. */
    let finished = false;
    const fail = (err: Error) => {
      if (finished) return;
      finished = true;
      socket?.terminate();
      signal.removeEventListener("abort", onAbort);
      if (!settled) { settled = true; reject(err); } else if (stream !== null) { try { stream.error(err); } catch { /* closed */ } stream = null; }
    };
    const onAbort = () => fail(signal.reason instanceof Error ? signal.reason : unreachable("aborted"));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    /** The body is complete: the stream ends, or the refusal is parsed. */
    const ended = () => {
      if (finished) return;
      finished = true;
      signal.removeEventListener("abort", onAbort);
      socket?.end(); // may call close() at once: `finished` is set
      if (refusal !== null) { settled = true; reject(refusalOf({ status, statusText, body: Buffer.concat(refusal).toString() })); return; }
      const s = stream;
      stream = null;
      try { s?.close(); } catch { /* cancelled */ }
    };
    /** The bytes being framed now (onBytes is made once, not a closure per read). */
    let reading: Buffer | null = null;
    const onBytes = (from: number, to: number) => {
      const buf = reading!;
      if (refusal !== null) { if ((refusalBytes += to - from) <= MAX_REFUSAL_BYTES) refusal.push(Buffer.from(buf.subarray(from, to))); return; }
      stream?.enqueue(buf.slice(from, to)); // a copy: the stream may hold it past this read
    };
    const body = (buf: Buffer, at: number) => {
      reading = buf;
      const end = framer.advance(buf, at, buf.length, onBytes);
      reading = null;
      if (end === FRAMER_ERROR) return fail(unreachable(`malformed response body: ${framer.error}`));
      if (end !== FRAMER_MORE) return ended();
      if (stream !== null && (stream.desiredSize ?? 1) <= 0) socket?.pause(); // resumed by pull()
    };
    const onHead = (buf: Buffer): void => {
      for (;;) {
        const end = buf.indexOf(CRLFCRLF);
        if (end === -1) {
          if (buf.length > MAX_RESPONSE_HEAD) return fail(unreachable("response head too large"));
          head = Buffer.from(buf);
          return;
        }
        if (!scanResponseHead(buf, 0, end, scan)) return fail(unreachable("malformed response head"));
        if (scan.status < 200) { buf = buf.subarray(end + 4); continue; } // interim: the final head follows
        status = scan.status;
        statusText = buf.toString("latin1", Math.min(scan.codeAt + 4, scan.statusLineEnd), scan.statusLineEnd);
        if (scan.chunked) framer.chunked();
        else if (responseHasNoBody("GET", status)) framer.none();
        else if (scan.contentLength >= 0) framer.length(scan.contentLength);
        else framer.untilClose();
        if (status >= 300) refusal = [];
        else {
          settled = true;
          resolve(new ReadableStream<Uint8Array>({
            start: (c) => { stream = c; },
            pull: () => { socket?.resume(); },
            cancel: () => { stream = null; signal.removeEventListener("abort", onAbort); socket?.terminate(); },
          }, new ByteLengthQueuingStrategy({ highWaterMark: HIGH_WATER })));
        }
        if (framer.done) return ended();
        return body(buf, end + 4);
      }
    };
    Bun.connect({
      hostname: u.hostname.replace(/^\[|\]$/g, ""),
      port: Number(u.port || 80),
      socket: {
        binaryType: "buffer",
        open(s) {
          socket = s;
          s.setNoDelay(true);
          s.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nhost: ${u.host}\r\naccept: text/event-stream\r\n\r\n`);
        },
        data(_s, d) {
          if (status === 0) onHead(head === null ? (d as Buffer) : Buffer.concat([head, d as Buffer]));
          else body(d as Buffer, 0);
        },
        close() { if (framer.closeDelimited && status !== 0) ended(); else fail(unreachable(status === 0 ? "the connection closed before an answer" : "the connection closed mid-stream")); },
        error(_s, err) { fail(unreachable(err.message)); },
        connectError(_s, err) { fail(unreachable(String((err as { code?: string }).code ?? err.message))); },
      },
    }).catch((err: Error) => fail(unreachable(String((err as { code?: string }).code ?? err.message))));
  });
}
