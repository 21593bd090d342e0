/**
 * Pipelining in the clients' transport (wire-pool.ts) against raw TCP servers that control every byte:
 * replayable requests of one tick share a write, answers are matched in order (several per read, or split
 * anywhere), a server closing mid-pipeline, a malformed answer, a timeout mid-pipeline, non-replayable
 * requests alone on their connection; and against the real events plugin behind a proxy that drops
 * the connection after two answers: nothing stored twice.
 */
import { afterAll, expect, test } from "bun:test";
import type { Socket } from "bun";
import { requestJson, ServiceError } from "./http";
import { EventClient } from "./event-client";
import { SecurityClient } from "./security-client";
import { PIPE_CONNS, PIPE_DEPTH, setPipelining } from "./wire-pool";
import { startHost } from "../../test/support/harness";

interface Req { n: number; method: string; path: string; head: string; body: string }
interface Peer { id: number; buf: Buffer; reads: number; got: number; answered: number; outstanding: number; maxOutstanding: number }
type Behaviour = (s: Socket<Peer>, reqs: Req[]) => void;

const servers: { stop(force: boolean): void }[] = [];
afterAll(() => { for (const s of servers) s.stop(true); });

/** These test one connection's deep pipeline: the pool spreads requests over connections first, so keep it to one. */
async function onOneConnection(f: () => Promise<void>): Promise<void> {
  const before = setPipelining({ connections: 1 });
  try { await f(); } finally { setPipelining(before); }
}

/** A raw HTTP/1.1 server: `behaviour` gets the whole requests of each read, in order. */
function rawServer(behaviour: Behaviour) {
  const peers: Peer[] = [];
  const closed: number[] = [];
  const server = Bun.listen<Peer>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) { s.data = { id: peers.length + 1, buf: Buffer.alloc(0), reads: 0, got: 0, answered: 0, outstanding: 0, maxOutstanding: 0 }; peers.push(s.data); },
      data(s, d) {
        const p = s.data;
        p.reads++;
        p.buf = Buffer.concat([p.buf, d]);
        const reqs: Req[] = [];
        for (;;) {
          const end = p.buf.indexOf("\r\n\r\n");
          if (end < 0) break;
          const head = p.buf.toString("latin1", 0, end);
          const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
          if (p.buf.length < end + 4 + len) break;
          const [method, path] = head.split(" ");
          reqs.push({ n: ++p.got, method, path, head, body: p.buf.toString("utf8", end + 4, end + 4 + len) });
          p.buf = p.buf.subarray(end + 4 + len);
        }
        p.outstanding += reqs.length;
        p.maxOutstanding = Math.max(p.maxOutstanding, p.outstanding);
        if (reqs.length > 0) behaviour(s, reqs);
      },
      close(s) { closed.push(s.data.id); },
    },
  });
  servers.push(server);
  return { url: (path: string) => `http://127.0.0.1:${server.port}${path}`, peers, closed };
}

/** An answer echoing the request (its connection, its number on it, its path and body). */
function answer(s: Socket<Peer>, r: Req, extra = ""): string {
  s.data.outstanding--;
  s.data.answered++;
  const body = JSON.stringify({ conn: s.data.id, n: r.n, path: r.path, body: r.body });
  return `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

interface Echo { conn: number; n: number; path: string; body: string }
const keyed = (i: number) => ({ method: "POST", body: { i }, headers: { "idempotency-key": `k-${crypto.randomUUID()}-${i}` } });
const failure = (p: Promise<unknown>) => p.then(() => { throw new Error("expected a failure"); }, (e) => e as ServiceError);

test("keyed POSTs of one tick go out in fewer writes than requests, and each gets its own answer (several per read, or split anywhere)", async () => {
  // Answers of a read in one write, cut at an arbitrary byte: the client must find the boundaries itself.
  const srv = rawServer((s, reqs) => {
    const all = reqs.map((r) => answer(s, r)).join("");
    const cut = Math.floor(all.length / 3);
    s.write(all.slice(0, cut));
    setTimeout(() => s.write(all.slice(cut)), 2);
  });
  const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => requestJson<Echo>(srv.url(`/p/${i}`), keyed(i))));
  rs.forEach((r, i) => { expect(r.path).toBe(`/p/${i}`); expect(JSON.parse(r.body)).toEqual({ i }); });
  const reads = srv.peers.reduce((a, p) => a + p.reads, 0);
  expect(reads).toBeLessThan(20); // 100 requests; one write per connection (at most 32 requests each)
  expect(srv.peers.length).toBeLessThanOrEqual(8);
  expect(Math.max(...srv.peers.map((p) => p.maxOutstanding))).toBeGreaterThan(1);
  expect(Math.max(...srv.peers.map((p) => p.maxOutstanding))).toBeLessThanOrEqual(32);
});

test("a server that answers pipelined requests one at a time, in order (a front without pipelining): all answered, matched", () => onOneConnection(async () => {
  const queue: [Socket<Peer>, Req][] = [];
  let busy = false;
  const next = () => {
    const item = queue.shift();
    if (item === undefined) { busy = false; return; }
    busy = true;
    setTimeout(() => { item[0].write(answer(item[0], item[1])); next(); }, 1);
  };
  const srv = rawServer((s, reqs) => { for (const r of reqs) queue.push([s, r]); if (!busy) next(); });
  const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => requestJson<Echo>(srv.url(`/q/${i}`), { timeoutMs: 5000 })));
  rs.forEach((r, i) => expect(r.path).toBe(`/q/${i}`));
  expect(srv.peers.length).toBeLessThanOrEqual(2);
}));

test("a server closing after answering 2 of 5 pipelined requests: 2 answered there, the other 3 sent again on a new connection", () => onOneConnection(async () => {
  const srv = rawServer((s, reqs) => {
    if (s.data.id > 1) { s.write(reqs.map((r) => answer(s, r)).join("")); return; }
    s.write(reqs.slice(0, 2).map((r) => answer(s, r)).join(""));
    s.end();
  });
  const rs = await Promise.all(Array.from({ length: 5 }, (_, i) => requestJson<Echo>(srv.url(`/c/${i}`), keyed(i))));
  rs.forEach((r, i) => expect(r.path).toBe(`/c/${i}`));
  expect(srv.peers[0].got).toBe(5); // all five went out together on the first connection
  expect(rs.map((r) => r.conn)).toEqual([1, 1, 2, 2, 2]);
}));

test("connection: close on the 2nd of 5 pipelined answers: the answers the server sends after it are not used, the other 3 go again on a new connection", () => onOneConnection(async () => {
  const srv = rawServer((s, reqs) => s.write(reqs.map((r) => answer(s, r, s.data.id === 1 && r.n === 2 ? "connection: close\r\n" : "")).join("")));
  const rs = await Promise.all(Array.from({ length: 5 }, (_, i) => requestJson<Echo>(srv.url(`/cc/${i}`), keyed(i))));
  rs.forEach((r, i) => expect(r.path).toBe(`/cc/${i}`));
  expect(rs.map((r) => r.conn)).toEqual([1, 1, 2, 2, 2]);
  expect(srv.peers[0].got).toBe(5);
}));

test("a malformed answer mid-pipeline: that request fails, the connection is closed and the later ones fail (never given another's answer)", () => onOneConnection(async () => {
  const srv = rawServer((s, reqs) => {
    const out = reqs.map((r) => (r.n === 2 ? "HTTP/1.1 2x0 Broken\r\ncontent-length: 2\r\n\r\n{}" : answer(s, r)));
    s.write(out.join(""));
  });
  const ps = Array.from({ length: 5 }, (_, i) => requestJson<Echo>(srv.url(`/m/${i}`), keyed(i)).then((r) => r, (e: ServiceError) => e));
  const rs = await Promise.all(ps);
  expect((rs[0] as Echo).path).toBe("/m/0");
  expect(rs.slice(1).every((e) => e instanceof ServiceError && e.status === 0 && e.retryable)).toBe(true);
  expect((rs[1] as ServiceError).code).toBe("CLIENT_ERR_BAD_RESPONSE");
  expect(rs.slice(2).map((e) => (e as ServiceError).code)).toEqual(Array(3).fill("CLIENT_ERR_UNREACHABLE"));
  expect(srv.peers[0].got).toBe(5);
  for (let i = 0; i < 50 && !srv.closed.includes(1); i++) await Bun.sleep(10);
  expect(srv.closed).toContain(1);
}));

test("a timeout mid-pipeline: the late request times out, the connection is closed, the ones behind it fail at once (not at their own deadline)", () => onOneConnection(async () => {
  const srv = rawServer((s, reqs) => { const first = reqs.find((r) => r.n === 1); if (first) s.write(answer(s, first)); }); // then silence
  const t0 = Date.now();
  const ps = Array.from({ length: 5 }, (_, i) => requestJson<Echo>(srv.url(`/t/${i}`), { timeoutMs: i === 1 ? 200 : 5000 }).then((r) => r, (e: ServiceError) => e));
  const rs = await Promise.all(ps);
  expect(Date.now() - t0).toBeLessThan(1500);
  expect((rs[0] as Echo).path).toBe("/t/0");
  expect((rs[1] as ServiceError).message).toContain("timed out");
  for (const e of rs.slice(2)) expect([(e as ServiceError).status, (e as ServiceError).code, /request before this one on it timed out/.test((e as ServiceError).message)]).toEqual([0, "CLIENT_ERR_UNREACHABLE", true]);
  expect(srv.peers[0].got).toBe(5);
  for (let i = 0; i < 50 && !srv.closed.includes(1); i++) await Bun.sleep(10);
  expect(srv.closed).toContain(1);
}));

test("non-replayable requests (POST without an Idempotency-Key) are never pipelined: one in flight per connection", async () => {
  const srv = rawServer((s, reqs) => setTimeout(() => s.write(reqs.map((r) => answer(s, r)).join("")), 10));
  const posts = Array.from({ length: 20 }, (_, i) => requestJson<Echo>(srv.url(`/n/${i}`), { method: "POST", body: { i } }));
  const gets = Array.from({ length: 20 }, (_, i) => requestJson<Echo>(srv.url(`/g/${i}`)));
  const rs = await Promise.all([...posts, ...gets]);
  rs.forEach((r, i) => expect(r.path).toBe(i < 20 ? `/n/${i}` : `/g/${i - 20}`));
  const postConns = new Set(rs.slice(0, 20).map((r) => r.conn));
  expect(postConns.size).toBe(20); // each POST alone on its connection
  for (const p of srv.peers) if (postConns.has(p.id)) expect(p.maxOutstanding).toBe(1);
  expect(new Set(rs.slice(20).map((r) => r.conn)).size).toBeLessThan(20); // the GETs shared connections
});

test("SecurityClient token validations (a read by POST, marked replayable) are pipelined; other un-keyed POSTs are not", async () => {
  const srv = rawServer((s, reqs) => setTimeout(() => s.write(reqs.map((r) => answer(s, r)).join("")), 10));
  const client = new SecurityClient({ baseUrl: srv.url("") });
  const rs = (await Promise.all(Array.from({ length: 40 }, (_, i) => client.validateToken(`t${i}`)))) as unknown as Echo[];
  rs.forEach((r, i) => expect([r.path, JSON.parse(r.body).token]).toEqual(["/tokens/validate", `t${i}`]));
  expect(new Set(rs.map((r) => r.conn)).size).toBeLessThanOrEqual(PIPE_CONNS);
  expect(Math.max(...srv.peers.map((p) => p.maxOutstanding))).toBeGreaterThan(1);
});

test("300 concurrent GETs: all answered in order, over at most 8 connections with at most 32 in flight on each", async () => {
  const srv = rawServer((s, reqs) => setTimeout(() => s.write(reqs.map((r) => answer(s, r)).join("")), 5));
  const rs = await Promise.all(Array.from({ length: 300 }, (_, i) => requestJson<Echo>(srv.url(`/d/${i}`), { timeoutMs: 10_000 })));
  rs.forEach((r, i) => expect(r.path).toBe(`/d/${i}`));
  expect(srv.peers.length).toBeLessThanOrEqual(8);
  expect(Math.max(...srv.peers.map((p) => p.maxOutstanding))).toBe(32);
});

test("spread before deepening: 8 concurrent keyed POSTs take 8 connections, one each; the 9th to 16th go one more on each", async () => {
  // A server that answers a connection's requests one at a time still gets 8 at once.
  const srv = rawServer((s, reqs) => setTimeout(() => s.write(reqs.map((r) => answer(s, r)).join("")), 20));
  const first = await Promise.all(Array.from({ length: 8 }, (_, i) => requestJson<Echo>(srv.url(`/s/${i}`), keyed(i))));
  first.forEach((r, i) => expect(r.path).toBe(`/s/${i}`));
  expect(srv.peers.length).toBe(8);
  expect(srv.peers.map((p) => p.maxOutstanding)).toEqual(Array(8).fill(1));
  const more = await Promise.all(Array.from({ length: 16 }, (_, i) => requestJson<Echo>(srv.url(`/t/${i}`), keyed(i))));
  more.forEach((r, i) => expect(r.path).toBe(`/t/${i}`));
  expect(srv.peers.length).toBe(8);
  expect(Math.max(...srv.peers.map((p) => p.maxOutstanding))).toBe(2);
});

test("setPipelining: depth 1 turns pipelining off (one request in flight per connection), and it can be restored", async () => {
  const srv = rawServer((s, reqs) => setTimeout(() => s.write(reqs.map((r) => answer(s, r)).join("")), 5));
  const before = setPipelining({ depth: 1, connections: 16 });
  try {
    const rs = await Promise.all(Array.from({ length: 16 }, (_, i) => requestJson<Echo>(srv.url(`/o/${i}`), keyed(i))));
    rs.forEach((r, i) => expect(r.path).toBe(`/o/${i}`));
    expect(srv.peers.length).toBe(16);
    expect(srv.peers.every((p) => p.maxOutstanding === 1)).toBe(true);
  } finally { setPipelining(before); }
  expect(setPipelining({})).toEqual({ connections: PIPE_CONNS, depth: PIPE_DEPTH });
});

test("pipelined requests waiting beyond 8 × 32 in flight and the wait queue: one more fails at once (coded, retryable)", async () => {
  const srv = rawServer(() => {}); // accepts, never answers
  const queued = Array.from({ length: 8 * 32 + 8192 }, () => failure(requestJson(srv.url("/x"), { timeoutMs: 400 })));
  const t0 = Date.now();
  const extra = await failure(requestJson(srv.url("/x"), { timeoutMs: 400 }));
  expect(Date.now() - t0).toBeLessThan(100);
  expect([extra.status, extra.code, extra.retryable]).toEqual([0, "CLIENT_ERR_QUEUE_FULL", true]);
  await Bun.sleep(100); // all connected, none timed out yet
  expect(srv.peers.length).toBe(8);
  expect(srv.peers.map((p) => p.got)).toEqual(Array(8).fill(32));
  const rest = await Promise.all(queued);
  expect(rest.every((e) => e.status === 0 && e.code === "CLIENT_ERR_UNREACHABLE")).toBe(true);
});

test("publishes through a proxy that drops the connection after 2 answers: all resolve, the events plugin stores each once", () => onOneConnection(async () => {
  const t = await startHost("host:\n  data_dir: ${DATA_DIR}\nplugins:\n  events:\n    port: 0\n");
  const target = new URL(t.url("events"));
  // Forwards requests as they come; forwards the first 2 answers of each client connection, then closes it.
  interface P { up: Socket<{ down: Socket<P> }> | null; early: Buffer[]; buf: Buffer; passed: number }
  let dropped = 0;
  const proxy = Bun.listen<P>({
    hostname: "127.0.0.1", port: 0,
    socket: {
      async open(down) {
        down.data = { up: null, early: [], buf: Buffer.alloc(0), passed: 0 };
        down.data.up = await Bun.connect<{ down: Socket<P> }>({
          hostname: target.hostname, port: Number(target.port), data: { down },
          socket: {
            data(up, d) {
              const p = up.data.down.data;
              p.buf = Buffer.concat([p.buf, d]);
              for (;;) {
                const end = p.buf.indexOf("\r\n\r\n");
                if (end < 0) return;
                const len = Number(/\r\ncontent-length: *(\d+)/i.exec(p.buf.toString("latin1", 0, end))?.[1] ?? 0);
                if (p.buf.length < end + 4 + len) return;
                up.data.down.write(p.buf.subarray(0, end + 4 + len));
                p.buf = p.buf.subarray(end + 4 + len);
                if (++p.passed === 2) { dropped++; up.data.down.end(); up.end(); return; }
              }
            },
            close(up) { up.data.down.end(); },
          },
        });
        for (const b of down.data.early) down.data.up.write(b);
      },
      data(down, d) { if (down.data.up) down.data.up.write(d); else down.data.early.push(Buffer.from(d)); },
      close(down) { down.data.up?.end(); },
    },
  });
  servers.push(proxy);
  try {
    // One request per publish (coalesce: false): this is about the transport's pipelined requests.
    const client = new EventClient({ baseUrl: `http://127.0.0.1:${proxy.port}`, source: "pipeline-test", retries: 5, retryBaseMs: 5, tls: false, coalesce: false });
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => client.publish("custom.pipelined", { i })));
    expect(dropped).toBeGreaterThan(0);
    expect(results.some((r) => r.duplicate)).toBe(true); // stored before the drop, answered again from the key
    expect(new Set(results.map((r) => r.id)).size).toBe(5);
    const page = await requestJson<{ events: { id: string; payload: { i: number } }[] }>(`${t.url("events")}/events?types=custom.pipelined&limit=100`);
    expect(page.events.map((e) => e.payload.i).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(new Set(page.events.map((e) => e.id))).toEqual(new Set(results.map((r) => r.id)));
  } finally { await t.stop(); }
}));
