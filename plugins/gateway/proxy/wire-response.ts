/**
 * Writes a Response object to a wire client as HTTP/1.1: the wire lane's answers that are not
 * relayed bytes (coded errors, static fallbacks, edge rejections, https upstreams reached through
 * fetch). A body of unknown length is sent chunked, chunk by chunk, waiting for the client to drain.
 */
import { STATUS_CODES } from "node:http";
import type { WireClient } from "../../../src/core/wire";
import { dateLine } from "../../../src/lib/http1/date";
import { isHopOrFraming } from "../../../src/lib/http1/hop-by-hop";
import { GatewayErrors, type GatewayErrorCode } from "../errors";
import { writeWireAnswer } from "../../../src/lib/http1/wire-answer";

/** A streamed body of known length up to this size is read whole (one write beats a stream loop). */
const WHOLE_MAX = 64 * 1024;

function waitDrain(client: WireClient): Promise<void> {
  return new Promise((resolve) => { client.onDrain = resolve; });
}

/** `stream`: relay the body as it comes (an upstream's); otherwise it is read whole first (generated answers). */
export async function sendResponse(client: WireClient, res: Response, keepAlive: boolean, method: string, stream = false): Promise<void> {
  const status = res.status;
  const close = !keepAlive || res.headers.get("connection")?.toLowerCase() === "close";
  let head = "HTTP/1.1 " + status + " " + (res.statusText || STATUS_CODES[status] || "") + "\r\n";
  // Framing and hop-by-hop fields are this writer's to set (a fetch() Response carries the upstream's).
  res.headers.forEach((value, name) => { if (!isHopOrFraming(name)) head += name + ": " + value + "\r\n"; });
  if (!res.headers.has("date")) head += dateLine();
  if (close) head += "connection: close\r\n";
  const bodyless = method === "HEAD" || status === 204 || status === 304;
  const length = res.headers.get("content-length");
  let aborted = false;
  client.onClose = () => { aborted = true; };
  try {
    if (res.body === null || bodyless) {
      if (!bodyless) head += "content-length: 0\r\n";
      else if (length !== null) head += "content-length: " + length + "\r\n";
      void res.body?.cancel().catch(() => undefined);
      client.write(head + "\r\n");
    } else if (!stream || (length !== null && Number(length) <= WHOLE_MAX)) {
      // Generated answers (errors, fallbacks, rejections) and small bodies of known length: read whole, one write.
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (aborted) return;
      const headBytes = Buffer.from(head + "content-length: " + bytes.byteLength + "\r\n\r\n", "latin1");
      client.write(bytes.byteLength === 0 ? headBytes : Buffer.concat([headBytes, bytes]));
    } else {
      const chunked = length === null;
      client.write(head + (chunked ? "transfer-encoding: chunked\r\n\r\n" : "content-length: " + length + "\r\n\r\n"));
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        if (aborted) return;
        if (chunk.byteLength === 0) continue;
        if (chunked) client.write(chunk.byteLength.toString(16) + "\r\n");
        let ok = client.write(chunk);
        if (chunked) ok = client.write("\r\n");
        if (!ok) await waitDrain(client);
      }
      if (aborted) return;
      if (chunked) client.write("0\r\n\r\n");
    }
  } catch {
    // The body failed mid-stream (upstream reset): the client must see the connection drop.
    if (!aborted) client.abort();
    return;
  }
  client.onClose = null;
  if (!aborted) client.done(!close);
}

/**
 * A coded gateway error written as bytes, synchronously, in one write: the same answer gatewayError()
 * makes, without a Response, a stream read or a promise per refusal (a client pipelining thousands of
 * refused requests costs only the bytes). `extra` may carry `connection: close`.
 */
export function writeError(client: WireClient, code: GatewayErrorCode, message: string, requestId: string, extra: Record<string, string> | undefined, keepAlive: boolean, method: string): void {
  const body = JSON.stringify({ error: { code, message } });
  writeWireAnswer(client, { status: GatewayErrors.specs[code].status, body, lines: "content-type: application/json\r\nx-request-id: " + requestId + "\r\n", fields: extra }, keepAlive, method);
}
