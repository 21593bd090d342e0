/**
 * The typed subscriber's event stream on a socket of its own (sse-socket.ts): bodies split anywhere
 * arrive whole and in order, a refusal is its coded ServiceError, no answer is status 0, a consumer that
 * stops reading stops the socket (bounded), aborting closes it, and EventSubscriberClient over http://
 * does not use fetch() for its stream.
 */
import { afterEach, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { openSseSocket } from "./sse-socket";
import { ServiceError } from "./http";
import { EventClient } from "./event-client";
import { EventSubscriberClient } from "./event-subscriber";

const servers: { stop(force?: boolean): void }[] = [];
afterEach(() => { for (const s of servers.splice(0)) s.stop(true); });

/** A raw server: `answer` gets each connection once its request head arrived. */
function rawServer(answer: (s: Socket<{ written: number }>) => void): TCPSocketListener<{ written: number }> {
  const l = Bun.listen<{ written: number }>({
    hostname: "127.0.0.1", port: 0,
    socket: {
      open(s) { s.data = { written: 0 }; },
      data(s, d) { if (Buffer.from(d).includes("\r\n\r\n")) answer(s); },
    },
  });
  servers.push(l);
  return l;
}

async function readAll(body: ReadableStream<Uint8Array>): Promise<string> {
  let out = "";
  const dec = new TextDecoder();
  for await (const v of body) out += dec.decode(v, { stream: true });
  return out;
}

test("a chunked body split at every byte arrives whole; the request asks for the stream", async () => {
  let request = "";
  const text = "id: 1-1\nevent: custom.x\ndata: {\"é\":\"€\"}\n\n".repeat(3);
  const wire = `HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n0\r\n\r\n`;
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: {
    async data(s, d) {
      request += Buffer.from(d).toString();
      if (!request.includes("\r\n\r\n")) return;
      const bytes = Buffer.from(wire);
      for (let i = 0; i < bytes.length; i++) { s.write(bytes.subarray(i, i + 1)); if (i % 7 === 0) await Bun.sleep(0); }
    },
  } });
  servers.push(l);
  const body = await openSseSocket(`http://127.0.0.1:${l.port}/events/subscribe?group=g&consumer=c`, new AbortController().signal);
  expect(await readAll(body)).toBe(text);
  expect(request).toStartWith("GET /events/subscribe?group=g&consumer=c HTTP/1.1\r\n");
  expect(request.toLowerCase()).toContain("\r\naccept: text/event-stream\r\n");
});

test("a refusal is its coded ServiceError; no server is status 0", async () => {
  const body = JSON.stringify({ error: { code: "EV_ERR_GROUP_FILTER_MISMATCH", message: "other filter", where: "query.types" } });
  const l = rawServer((s) => { s.write(`HTTP/1.1 409 Conflict\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`); });
  const err = await openSseSocket(`http://127.0.0.1:${l.port}/events/subscribe`, new AbortController().signal).catch((e) => e);
  expect(err).toBeInstanceOf(ServiceError);
  expect([err.status, err.code, err.message, err.where]).toEqual([409, "EV_ERR_GROUP_FILTER_MISMATCH", "other filter", "query.types"]);
  const port = l.port;
  l.stop(true);
  const gone = await openSseSocket(`http://127.0.0.1:${port}/events/subscribe`, new AbortController().signal).catch((e) => e);
  expect([gone.status, gone.code]).toEqual([0, "CLIENT_ERR_UNREACHABLE"]);
});

test("a consumer that stops reading stops the socket: the server's writes back up; aborting closes the connection", async () => {
  const chunk = Buffer.from(`100000\r\n${"x".repeat(0x100000)}\r\n`); // 1 MiB chunks, up to 100
  let closed = false;
  const l = Bun.listen<{ written: number }>({ hostname: "127.0.0.1", port: 0, socket: {
    open(s) { s.data = { written: 0 }; },
    data(s) { s.write("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"); pump(s); },
    drain(s) { pump(s); },
    close() { closed = true; },
  } });
  servers.push(l);
  let written = 0;
  function pump(s: Socket<{ written: number }>) { while (written < 100 * chunk.length) { const n = s.write(chunk.subarray(written % chunk.length)); written += n; if (n === 0 || written % chunk.length !== 0) return; } }
  const ac = new AbortController();
  const body = await openSseSocket(`http://127.0.0.1:${l.port}/s`, ac.signal);
  const reader = body.getReader();
  await reader.read(); // one read, then none
  await Bun.sleep(1000);
  expect(written).toBeLessThan(64 * chunk.length); // socket buffers and the stream's 1 MiB, not the 100 MiB on offer
  ac.abort();
  const deadline = Date.now() + 3000;
  while (!closed && Date.now() < deadline) await Bun.sleep(10);
  expect(closed).toBe(true);
  expect(await reader.read().catch((e) => e)).toBeInstanceOf(Error);
});

test("EventSubscriberClient over http:// reads its stream without fetch()", async () => {
  const frame = `id: 1-1\nevent: custom.mine\ndata: ${JSON.stringify({ id: "e1", streamId: "1-1", type: "custom.mine", payload: {}, deliveryCount: 1 })}\n\n`;
  const l = rawServer((s) => { s.write(`HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n${frame.length.toString(16)}\r\n${frame}\r\n`); });
  const real = globalThis.fetch;
  let fetches = 0;
  globalThis.fetch = Object.assign((...a: Parameters<typeof fetch>) => { fetches++; return real(...a); }, real);
  try {
    const sub = new EventSubscriberClient(new EventClient({ baseUrl: `http://127.0.0.1:${l.port}` }), { group: "g", consumer: "c", ackIntervalMs: 60_000 });
    const got: string[] = [];
    sub.registerHandler("custom.mine" as any, (e) => { got.push(e.streamId); });
    await sub.startSubscribing();
    const deadline = Date.now() + 3000;
    while (got.length === 0 && Date.now() < deadline) await Bun.sleep(5);
    expect(got).toEqual(["1-1"]);
    expect(fetches).toBe(0);
    await Promise.race([sub.stop(), Bun.sleep(500)]); // its ack has no server to answer: not waited for here
  } finally { globalThis.fetch = real; }
});
