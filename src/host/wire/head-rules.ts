/**
 * Pure decisions the front makes about a parsed request head, and the bytes of its own error answers:
 * no connection state here, so each is a plain function the connection calls inline.
 */
import type { RequestHead } from "../../lib/http1/head";
import { TARGET_FIELD, targetNeedsRaw } from "../../lib/http1/raw-target";

/** The host's own endpoints: always answered by the inner Bun.serve, never offered to the plugin's wire handler. */
export function isHostPath(target: string): boolean {
  const c = target.charCodeAt(1); // h, m, o, d, -: any other second character is none of them
  if (c !== 104 && c !== 109 && c !== 111 && c !== 100 && c !== 45) return false;
  return (target.startsWith("/health") && (target.length === 7 || target.charCodeAt(7) === 63 || target.charCodeAt(7) === 47))
    || (target.startsWith("/metrics") && (target.length === 8 || target.charCodeAt(8) === 63))
    || (target.startsWith("/openapi.json") && (target.length === 13 || target.charCodeAt(13) === 63))
    || (target.startsWith("/docs") && (target.length === 5 || target.charCodeAt(5) === 63))
    || (target.startsWith("/-/config") && (target.length === 9 || target.charCodeAt(9) === 63));
}

/** The methods Bun.serve parses (it drops the connection on any other, "get" included): the rest get a 501 here. */
export const BUN_METHODS = new Set("ACL BIND CHECKOUT CONNECT COPY DELETE GET HEAD LINK LOCK M-SEARCH MERGE MKACTIVITY MKCALENDAR MKCOL MOVE NOTIFY OPTIONS PATCH POST PROPFIND PROPPATCH PURGE PUT QUERY REBIND REPORT SEARCH SOURCE SUBSCRIBE TRACE UNBIND UNLINK UNLOCK UNSUBSCRIBE".split(" "));

/** A client's own TARGET_FIELD is dropped; the real target rides in it when Bun's URL parser would change it (raw-target.ts). */
export function markTarget(head: RequestHead): void {
  const p = head.headers.pairs;
  for (let i = 0; i < p.length; i += 2) if (p[i] === TARGET_FIELD) { p.splice(i, 2); i -= 2; }
  if (targetNeedsRaw(head.target)) p.push(TARGET_FIELD, head.target);
}

const REQUEST_ID_LINE = /\r\nx-request-id:[ \t]*([^\r\n]*?)[ \t]*\r\n/i;

/**
 * The X-Request-Id of a head the parser refused (a malformed Host, a bad field line...): found by one
 * scan of the raw bytes, so the 400 names the caller's request like every other refusal (the value is
 * checked by acceptRequestId before use). Null when absent.
 */
export function requestIdInRawHead(buf: Buffer, from: number, end: number): string | null {
  const m = REQUEST_ID_LINE.exec(buf.toString("latin1", from, Math.min(end + 2, from + 16384)));
  return m === null ? null : m[1];
}

/** `requestId`: the caller's when the head was parsed (and it is acceptable), else a fresh one. */
export function errorBytes(status: number, reason: string, code: string, message: string, requestId: string): string {
  const body = JSON.stringify({ error: { code, message } });
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`;
}

/** Expect is exactly 100-continue (the one expectation there is) and no Upgrade rides along: a streaming wire handler takes it. */
export function expectsContinueOnly(head: RequestHead): boolean {
  if (!head.expect || head.headers.has("upgrade")) return false;
  const v = head.headers.get("expect");
  return v !== null && v.toLowerCase() === "100-continue";
}
