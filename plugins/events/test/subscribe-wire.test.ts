/**
 * GET /events/subscribe on the raw lane (subscribe-wire.ts), read as raw bytes (test/support/raw-http.ts):
 * the stream is written by the front itself (no tunnel request, not in flight), events arrive in order as
 * chunks, refusals are byte-for-byte the fetch lane's ("/events/subscribe/" goes to the Elysia route, which
 * serves the same handler), a client that stops reading stops the server's reads (bounded), and on Redis a
 * client that goes away gives up its blocked read at once (a publish right after goes to a live member).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { type TestHost } from "../../../test/support/harness";
import { RawConn } from "../../../test/support/raw-http";
import { tunnelStats } from "../../../src/host/wire/tunnel";
import { backends, startEvents, type EventsHost, laneAnswer, laneOfRequest } from "./support";

/** The chunked SSE body of a raw-lane answer, parsed as it arrives (what was parsed is cut from conn.buf). */
class RawSse {
  head = "";
  ended = false;
  readonly blocks: string[] = [];
  private text = "";
  constructor(readonly c: RawConn) {}
  pump(): void {
    let b = this.c.buf;
    if (this.head === "") {
      const e = b.indexOf("\r\n\r\n");
      if (e < 0) return;
      this.head = b.toString("latin1", 0, e);
      b = b.subarray(e + 4);
    }
    for (;;) {
      const nl = b.indexOf("\r\n");
      if (nl < 0) break;
      const size = parseInt(b.toString("latin1", 0, nl), 16);
      if (nl + 4 + size > b.length) break;
      if (size === 0) this.ended = true;
      this.text += b.toString("utf8", nl + 2, nl + 2 + size);
      b = b.subarray(nl + 4 + size);
      for (let end = this.text.indexOf("\n\n"); end >= 0; end = this.text.indexOf("\n\n")) { this.blocks.push(this.text.slice(0, end)); this.text = this.text.slice(end + 2); }
    }
    this.c.buf = b;
  }
  events(): any[] { return this.blocks.filter((x) => x.includes("\ndata: ")).map((x) => JSON.parse(x.slice(x.indexOf("\ndata: ") + 7))); }
  async waitEvents(n: number, timeoutMs = 10_000): Promise<any[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.pump();
      const ev = this.events();
      if (ev.length >= n) return ev;
      if (Date.now() > deadline || this.c.closed) throw new Error(`${ev.length}/${n} events within ${timeoutMs} ms`);
      await Bun.sleep(5);
    }
  }
}

/** `path`: "/events/subscribe/" is the fetch lane's (the Elysia route). */
async function subscribe(port: number, query: string, rid = `sw-${crypto.randomUUID()}`, path = "/events/subscribe"): Promise<RawSse> {
  const c = await RawConn.open(port);
  await c.write(`GET ${path}?${query} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-request-id: ${rid}\r\n\r\n`);
  const s = new RawSse(c);
  await c.waitFor((b) => b.indexOf(": subscribed") !== -1, 5000, "the subscription's first chunk");
  s.pump();
  return s;
}


for (const b of backends) {
  describe(`GET /events/subscribe on the raw lane (${b.name})`, () => {
    let h: EventsHost;
    let t: TestHost;
    let port = 0;
    let stream = "";
    beforeAll(async () => {
      h = await startEvents(b.redis, `subwire_${b.name}`, { logLevel: "debug", settings: "max_event_size: 8kb, max_batch_bytes: 1mb, visibility_timeout: 30s, subscribe: { batch: 10, max_subscribers: 6 }" });
      ({ t, port, stream } = h);
    });
    afterAll(() => h?.stop());

    const publish = async (events: unknown[]) => {
      const r = await fetch(`${t.url("events")}/events`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ events }) });
      expect(r.status).toBe(201);
      return (await r.json()).streamIds as string[];
    };
    const laneOf = (rid: string | null) => laneOfRequest(t, rid);
    const groupStats = async (group: string) => ((await (await fetch(`${t.url("events")}/events/stats`)).json()).groups as { name: string; pending: number }[]).find((g) => g.name === group);

    test("events arrive in order as chunks, written by the front: no tunnel request, not in flight", async () => {
      const rid = `sw-order-${crypto.randomUUID()}`;
      const tunnelled = tunnelStats.requests;
      const s = await subscribe(port, "group=order&consumer=c1&types=custom.order", rid);
      expect(tunnelStats.requests).toBe(tunnelled);
      expect(s.head).toStartWith("HTTP/1.1 200 OK\r\n");
      for (const f of ["content-type: text/event-stream", "cache-control: no-cache", "x-accel-buffering: no", "transfer-encoding: chunked", `x-request-id: ${rid}`]) expect(s.head + "\r\n").toContain(`\r\n${f}\r\n`);
      expect(s.blocks[0]).toBe(": subscribed group=order consumer=c1\nretry: 1000");
      // The fetch lane's answer has the same fields (but its Date and the id asked for) and first chunk.
      const f = await subscribe(port, "group=order2&consumer=c1&types=custom.order", `${rid}-fetch`, "/events/subscribe/");
      const fields = (head: string) => head.toLowerCase().split("\r\n").slice(1).filter((l) => !l.startsWith("date:") && !l.startsWith("x-request-id:")).sort();
      expect(fields(s.head)).toEqual(fields(f.head));
      expect(f.blocks[0]).toBe(": subscribed group=order2 consumer=c1\nretry: 1000");
      f.c.terminate();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(...(await publish(Array.from({ length: 40 }, (_, j) => ({ type: "custom.order", payload: { n: i * 40 + j, s: "é€" } })))));
      const got = await s.waitEvents(200);
      expect(got.map((e) => e.payload.n)).toEqual(Array.from({ length: 200 }, (_, i) => i));
      expect(got.map((e) => e.streamId)).toEqual(ids);
      expect(got[0].payload.s).toBe("é€"); // a non-ASCII chunk is sized in UTF-8 bytes
      expect(await laneOf(rid)).toBe("wire");
      expect(await (await fetch(`${t.url("events")}/metrics`)).text()).toMatch(/tradpal_host_requests_in_flight\{plugin="events"\} 0/);
      s.c.terminate();
    });

    test("a subscribe pipelined behind a publish streams once the publish is answered", async () => {
      const c = await RawConn.open(port);
      const body = JSON.stringify({ type: "custom.pipe", payload: { n: 0 } });
      // One write: the publish is taken pipelined; the subscribe waits its turn and then streams on the same connection.
      await c.write(`POST /events HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}GET /events/subscribe?group=pipe&consumer=c&types=custom.pipe&start=all HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`);
      expect((await c.read({ method: "POST" })).status).toBe(201);
      const s = new RawSse(c);
      const got = await s.waitEvents(1, 5000);
      expect(s.head).toStartWith("HTTP/1.1 200 OK\r\n");
      expect(got[0].payload.n).toBe(0);
      c.terminate();
    });

    test("refusals: the raw lane answers as the Elysia route does", async () => {
      // The group's filter is bound by a first subscription; a second asking for other types is refused.
      (await subscribe(port, "group=bound&consumer=x&types=custom.a")).c.terminate();
      const cases = ["consumer=c", "group=g", "group=a%20b&consumer=c", "group=g&consumer=c&replay=no%20pe", `group=g&consumer=c&types=custom.${"x".repeat(130)}`, "group=bound&consumer=y&types=custom.b", "group=g&consumer=&x=1", "group=g&group=&consumer=c"];
      for (const [i, q] of cases.entries()) {
        const answers: ReturnType<typeof laneAnswer>[] = [];
        for (const [lane, path] of [["wire", "/events/subscribe"], ["fetch", "/events/subscribe/"]]) {
          const rid = i % 2 ? `sw-ref-${lane}-${i}-${crypto.randomUUID().slice(0, 8)}` : undefined;
          const c = await RawConn.open(port);
          try {
            const r = await c.request(`GET ${path}?${q} HTTP/1.1\r\nhost: 127.0.0.1\r\n${rid ? `x-request-id: ${rid}\r\n` : ""}\r\n`);
            answers.push(laneAnswer(r, rid));
            expect([q, await laneOf(r.header("x-request-id")!)]).toEqual([q, lane]);
          } finally { c.terminate(); }
        }
        expect([q, answers[0]]).toEqual([q, answers[1]]);
        expect(answers[0].status).toBeGreaterThanOrEqual(400);
      }
    });

    test("a client that stops reading stops the server's reads (bounded); resumed, it gets every event in order", async () => {
      const s = await subscribe(port, "group=slow&consumer=c&types=custom.slow");
      s.c.socket.pause(); // the client reads nothing more: the kernel buffers fill, then the server's socket queue
      const N = 3000;
      const big = "x".repeat(4000);
      for (let i = 0; i < N; i += 200) await publish(Array.from({ length: 200 }, (_, j) => ({ type: "custom.slow", payload: { n: i + j, big } })));
      await Bun.sleep(1500);
      const pending = (await groupStats("slow"))!.pending;
      // Read only what the socket buffers hold plus one read (batch 10) waiting on the socket: far from N.
      expect(pending).toBeLessThan(N / 2);
      s.c.socket.resume();
      const got = await s.waitEvents(N, 30_000);
      expect(got.map((e) => e.payload.n)).toEqual(Array.from({ length: N }, (_, i) => i));
      s.c.terminate();
    }, 60_000);

    test("a client gone mid-stream gives up its blocked read at once: the next event goes to a live member", async () => {
      const redis = b.redis ? new Redis(b.redis) : undefined;
      try {
        for (let i = 0; i < 3; i++) {
          // The member that goes away blocks first: Redis hands a new entry to the older blocked read.
          const gone = await subscribe(port, `group=gone&consumer=dead${i}&types=custom.gone`);
          await Bun.sleep(50);
          const live = await subscribe(port, `group=gone&consumer=live${i}&types=custom.gone`);
          await Bun.sleep(50);
          gone.c.terminate();
          await Bun.sleep(30);
          await publish([{ type: "custom.gone", payload: { i } }]);
          const got = await live.waitEvents(1, 3000);
          expect(got[0].payload.i).toBe(i);
          expect(got[0].deliveryCount).toBe(1);
          if (redis) expect(await redis.xpending(stream, "gone", "-", "+", 10, `dead${i}`)).toEqual([]);
          live.c.terminate();
        }
      } finally { redis?.disconnect(); }
    });
  });
}
