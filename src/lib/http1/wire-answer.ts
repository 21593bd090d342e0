/**
 * An answer a plugin makes itself, written to a wire client as HTTP/1.1 bytes in one write: status
 * line, the given fields, Date, content-length, body. The one writer of generated answers on the raw
 * lane (gateway refusals, falco intake, events publish, security validation...), so framing and the
 * latin1/UTF-8 rule live in one place.
 */
import { STATUS_CODES } from "node:http";
import type { WireClient } from "../../core/wire";
import { dateLine } from "./date";
import { isHopOrFraming } from "./hop-by-hop";

const NON_ASCII = /[^\x00-\x7f]/;

/** Status lines by code, built once ("HTTP/1.1 201 Created\r\n"). */
const statusLines = new Map<number, string>();
function statusLine(status: number): string {
  let line = statusLines.get(status);
  if (line === undefined) statusLines.set(status, (line = "HTTP/1.1 " + status + " " + (STATUS_CODES[status] ?? "") + "\r\n"));
  return line;
}

export interface WireAnswer {
  status: number;
  /** The body as text (JSON, usually); "" for none. */
  body: string;
  /** Field lines already formatted ("name: value\r\n" each), trusted: the caller's own constants. */
  lines?: string;
  /** Fields from elsewhere (a catalogue's extra headers): hop-by-hop and framing names are dropped; `connection: close` closes. */
  fields?: Record<string, string>;
}

/**
 * Writes `a` and finishes the exchange (client.done). `keepAlive` false (or a `connection: close`
 * field) closes the connection after the bytes; HEAD answers carry the length but no body.
 * Returns whether the connection stays open.
 */
export function writeWireAnswer(client: WireClient, a: WireAnswer, keepAlive: boolean, method: string): boolean {
  let close = !keepAlive;
  let head = statusLine(a.status);
  if (a.lines !== undefined) head += a.lines;
  const fields = a.fields;
  if (fields !== undefined) {
    for (const name in fields) {
      const value = fields[name];
      if (name === "connection") { if (value.toLowerCase() === "close") close = true; continue; }
      if (!isHopOrFraming(name)) head += name + ": " + value + "\r\n";
    }
  }
  head += dateLine();
  if (close) head += "connection: close\r\n";
  const body = a.body;
  if (a.status === 204 || a.status === 304) { client.write(head + "\r\n"); client.done(!close); return !close; } // no body, no length (RFC 9110 §8.6)
  const withBody = method !== "HEAD" && body.length > 0;
  // The usual all-ASCII answer goes out as one string (the client writes strings as latin1 bytes);
  // otherwise the head as latin1 and the body as UTF-8.
  if (!NON_ASCII.test(body)) {
    head += "content-length: " + body.length + "\r\n\r\n";
    client.write(withBody ? head + body : head);
  } else {
    const bytes = Buffer.from(body, "utf8");
    const headBytes = Buffer.from(head + "content-length: " + bytes.byteLength + "\r\n\r\n", "latin1");
    client.write(withBody ? Buffer.concat([headBytes, bytes]) : headBytes);
  }
  client.done(!close);
  return !close;
}
