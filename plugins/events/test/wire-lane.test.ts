/**
 * POST /events on both lanes, same answers (both stores). The raw lane (publish-wire.ts) takes a publish
 * whose body arrived whole with its head: here the requests of one pipelined write on one keep-alive
 * connection. The fetch lane (hot-path.ts, through the host's tunnel to Bun.serve) takes the same bytes
 * sent head first and body a moment later (not whole with the head), and chunked bodies. Each answer's
 * status, coded error (code, message, where, details), content-type, connection and X-Request-Id rule
 * must match; the host's debug line names the lane that answered, so the comparison cannot pass by
 * both requests taking the same lane (it fails on the code before the raw lane existed: no line says "wire").
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type TestHost } from "../../../test/support/harness";
import { RawConn, type RawResponse } from "../../../test/support/raw-http";
import { chunkedBody, backends, startEvents, type EventsHost, laneOfRequest } from "./support";

interface Case { name: string; body: string; headers?: Record<string, string> }

const ev = (type: string, payload: unknown, extra: Record<string, unknown> = {}) => ({ type, payload, ...extra });
const md = (price: unknown) => ev("market.data_update", { symbol: "BTC/USDT", price });
const nest = (n: number): unknown => (n <= 1 ? { v: 1 } : { v: nest(n - 1) });
const J = JSON.stringify;

/** The host below: max_event_size 4kb, max_batch_bytes 16kb, max_batch 5, max_depth 8. `{lane}` in a header value is replaced per lane. */
const CASES: Case[] = [
  { name: "one event", body: J(md(1)) },
  { name: "a batch", body: J({ events: [md(1), md(2)] }) },
  { name: "a bare array", body: J([md(1), md(2), md(3)]) },
  { name: "another content type (read as JSON on both lanes)", body: J(md(1)), headers: { "content-type": "text/plain" } },
  { name: "bad JSON", body: "{not json" },
  { name: "empty body", body: "" },
  { name: "not an object", body: "42" },
  { name: "unknown type", body: J(ev("nope.nope", {})) },
  { name: "validation: every violation named", body: J(ev("market.data_update", { price: "x" })) },
  { name: "batch: the bad event named by index", body: J({ events: [md(1), md(2), md("x")] }) },
  { name: "bare array: the bad event named by index", body: J([md(1), ev("order.filled", {})]) },
  { name: "empty batch", body: J({ events: [] }) },
  { name: "batch over max_batch", body: J([md(1), md(2), md(3), md(4), md(5), md(6)]) },
  { name: "too deep", body: J(ev("custom.deep", nest(9))) },
  { name: "hostile nesting", body: "[".repeat(3000) },
  { name: "batch: the too-deep event named by index", body: J({ events: [md(1), ev("custom.deep", nest(8))] }) },
  { name: "event over max_event_size", body: J(ev("custom.big", { s: "x".repeat(5000) })) },
  { name: "batch: the oversize event named by index", body: J([md(1), ev("custom.big", { s: "x".repeat(5000) })]) },
  { name: "bad Idempotency-Key (too long)", body: J(md(1)), headers: { "idempotency-key": "k".repeat(201) } },
  { name: "bad Idempotency-Key (space)", body: J(md(1)), headers: { "idempotency-key": "a b" } },
  { name: "keyed publish", body: J(md(7)), headers: { "idempotency-key": "wl-{lane}-1" } },
  { name: "keyed repeat answers the first ids", body: J({ payload: { price: 7, symbol: "BTC/USDT" }, type: "market.data_update" }), headers: { "idempotency-key": "wl-{lane}-1" } },
  { name: "keyed conflict", body: J(md(8)), headers: { "idempotency-key": "wl-{lane}-1" } },
  { name: "explicit event id, then its repeat", body: J([ev("custom.x", {}, { id: "wl-{lane}-e1" }), ev("custom.x", {}, { id: "wl-{lane}-e1" })]) },
  { name: "source and correlation headers", body: J(md(1)), headers: { "x-event-source": "wl-src", "x-correlation-id": "wl-corr" } },
  { name: "unacceptable X-Request-Id on success", body: J(md(1)), headers: { "x-request-id": "has spaces" } },
  { name: "unacceptable X-Request-Id on refusal", body: "[", headers: { "x-request-id": "x".repeat(200) } },
  { name: "no X-Request-Id on success", body: J(md(1)), headers: { "x-request-id": "" } },
  { name: "no X-Request-Id on refusal", body: "{", headers: { "x-request-id": "" } },
];
/** Over max_batch_bytes by Content-Length: 413 with Connection: close, so it ends a connection. */
const TOO_LARGE: Case = { name: "body over max_batch_bytes", body: J([md("y".repeat(17000))]) };

function requestBytes(c: Case, lane: string, i: number): { head: string; body: string } {
  const h: Record<string, string> = { host: "127.0.0.1", "content-type": "application/json", "x-request-id": `wl-${lane}-${i}-${crypto.randomUUID().slice(0, 8)}` };
  for (const [k, v] of Object.entries(c.headers ?? {})) h[k] = v.replaceAll("{lane}", lane);
  if (h["x-request-id"] === "") delete h["x-request-id"];
  const body = c.body.replaceAll("{lane}", lane);
  let head = "POST /events HTTP/1.1\r\n";
  for (const [k, v] of Object.entries(h)) head += `${k}: ${v}\r\n`;
  // An empty body is whole with any head: the fetch lane gets it as an empty chunked body.
  if (body === "" && lane === "fetch") return { head: head + "transfer-encoding: chunked\r\n\r\n", body: "0\r\n\r\n" };
  return { head: head + `content-length: ${Buffer.byteLength(body)}\r\n\r\n`, body };
}

/** What must be equal on both lanes: generated ids are replaced by their shape, the request id by its rule. */
function normalize(r: RawResponse, sentId: string | undefined) {
  const body = r.body.length ? JSON.parse(r.body.toString("utf8")) : null;
  const rid = r.header("x-request-id");
  const idRule = sentId !== undefined && /^[A-Za-z0-9._:\-]{1,128}$/.test(sentId)
    ? (rid === sentId ? "echoed" : `not echoed: ${rid}`)
    : r.status === 201 ? (rid === (body.id ?? body.ids[0]) ? "the first event's id" : `other: ${rid}`) : (/^[0-9a-f-]{36}$/.test(rid ?? "") ? "minted uuid" : `other: ${rid}`);
  const shape = (v: unknown): unknown => Array.isArray(v) ? v.map(shape) : typeof v === "string" ? (/^\d+-\d+$/.test(v) ? "<streamId>" : "<id>") : v;
  let out = body;
  if (r.status === 201) out = { ...body, id: shape(body.id), streamId: shape(body.streamId), ids: shape(body.ids), streamIds: shape(body.streamIds) };
  else if (body?.error?.details?.ids) out = { error: { ...body.error, details: { ids: shape(body.error.details.ids), streamIds: shape(body.error.details.streamIds) } } };
  return { status: r.status, contentType: r.header("content-type"), connection: r.header("connection"), retryAfter: r.header("retry-after"), idRule, body: out };
}

const idOf = (head: string) => /x-request-id: (.*)\r\n/.exec(head)?.[1];

for (const b of backends) {
  describe(`publish on both lanes (${b.name})`, () => {
    let h: EventsHost;
    let t: TestHost;
    let port = 0;
    beforeAll(async () => {
      h = await startEvents(b.redis, `wire_${b.name}`, { logLevel: "debug", settings: "max_event_size: 4kb, max_batch_bytes: 16kb, max_batch: 5, max_depth: 8" });
      ({ t, port } = h);
    });
    afterAll(() => h?.stop());

    const laneOf = (rid: string | null) => laneOfRequest(t, rid);

    test("every case: the raw lane (pipelined, keep-alive) answers as the fetch lane (body after the head) does", async () => {
      const wire = CASES.map((c, i) => requestBytes(c, "wire", i));
      const c = await RawConn.open(port);
      const wireAnswers: RawResponse[] = [];
      try {
        await c.write(wire.map((r) => r.head + r.body).join("")); // one write: every body is whole with its head
        for (let i = 0; i < wire.length; i++) wireAnswers.push(await c.read({ method: "POST" }));
        expect(c.closed).toBe(false);
      } finally { c.terminate(); }

      for (let i = 0; i < CASES.length; i++) {
        const f = requestBytes(CASES[i], "fetch", i);
        const s = await RawConn.open(port);
        let answer: RawResponse;
        try {
          await s.write(f.head);
          await Bun.sleep(15); // the head alone first: its body is not whole with it, so the fetch lane answers
          answer = await s.request(f.body, { method: "POST" });
        } finally { s.terminate(); }
        const w = wireAnswers[i];
        expect({ case: CASES[i].name, ...normalize(w, idOf(wire[i].head)) }).toEqual({ case: CASES[i].name, ...normalize(answer, idOf(f.head)) });
        expect([CASES[i].name, await laneOf(w.header("x-request-id"))]).toEqual([CASES[i].name, "wire"]);
        expect([CASES[i].name, await laneOf(answer.header("x-request-id"))]).toEqual([CASES[i].name, "fetch"]);
      }
      // spot checks of the answers themselves
      const byName = (n: string) => normalize(wireAnswers[CASES.findIndex((c) => c.name === n)], undefined);
      expect(byName("keyed repeat answers the first ids").body.duplicate).toBe(true);
      expect(byName("keyed conflict").status).toBe(409);
      expect(byName("batch: the bad event named by index").body.error.where).toBe("/events/2/payload/price");
      expect(byName("batch: the too-deep event named by index").body.error).toMatchObject({ code: "EV_ERR_TOO_DEEP", where: "/events/1" });
      expect(byName("batch: the oversize event named by index").body.error).toMatchObject({ code: "EV_ERR_EVENT_TOO_LARGE", where: "/1" });
      expect(wireAnswers[0].header("content-length")).toBe(String(wireAnswers[0].body.length));
    });

    test("a keyed repeat on the raw lane answers the ids the fetch lane stored (one store, one contract)", async () => {
      const key = `wl-cross-${crypto.randomUUID()}`;
      const body = J(md(9));
      const viaFetch = await fetch(`${t.url("events")}/events`, { method: "POST", headers: { "idempotency-key": key }, body: chunkedBody(body) });
      const viaWire = await fetch(`${t.url("events")}/events`, { method: "POST", headers: { "idempotency-key": key }, body });
      const [a, w] = [await viaFetch.json(), await viaWire.json()];
      expect([viaFetch.status, viaWire.status]).toEqual([201, 201]);
      expect(w).toEqual({ ...a, duplicate: true });
      const page = await (await fetch(`${t.url("events")}/events?from_id=${a.streamId}&to_id=${a.streamId}`)).json();
      expect(page.events.map((e: any) => e.id)).toEqual([a.id]);
    });

    test("over max_batch_bytes by Content-Length: the same 413, connection closed, on both lanes", async () => {
      const answers: ReturnType<typeof normalize>[] = [];
      for (const lane of ["wire", "fetch"]) {
        const r = requestBytes(TOO_LARGE, lane, 0);
        const c = await RawConn.open(port);
        try {
          if (lane === "wire") await c.write(r.head + r.body); else { await c.write(r.head); await Bun.sleep(15); }
          const a = await c.read({ method: "POST" });
          answers.push(normalize(a, idOf(r.head)));
          expect(await c.waitClosed(3000)).toBe(true);
        } finally { c.terminate(); }
      }
      expect(answers[0]).toEqual(answers[1]);
      expect(answers[0]).toMatchObject({ status: 413, connection: "close", body: { error: { code: "EV_ERR_BODY_TOO_LARGE", where: "body" } } });
    });

    test("pipelined publishes share one store call, each answered in its own request's context", async () => {
      // Without an X-Request-Id an answer is named by its first event id, and so is its request's log line
      // (set through its request's context): the store settles the coalesced call's publishes from one
      // callback, which runs in no request's context.
      const heads = Array.from({ length: 6 }, (_, i) => requestBytes(CASES[0], "wire", 200 + i));
      for (const r of heads) r.head = r.head.replace(/x-request-id: [^\r]*\r\n/, "");
      const c = await RawConn.open(port);
      try {
        await c.write(heads.map((r) => r.head + r.body).join(""));
        const ids: (string | null)[] = [];
        for (let i = 0; i < heads.length; i++) {
          const a = await c.read({ method: "POST" });
          expect(a.status).toBe(201);
          expect(a.header("x-request-id")).toBe(JSON.parse(a.body.toString()).id);
          ids.push(a.header("x-request-id"));
        }
        for (const id of ids) expect([id, await laneOf(id)]).toEqual([id, "wire"]);
      } finally { c.terminate(); }
    });

    test("pipelined with other routes and methods: answers in order, keep-alive; Connection: close ends it", async () => {
      const pub = requestBytes(CASES[0], "wire", 100);
      const reqs: [string, string][] = [
        ["POST", pub.head + pub.body],
        ["HEAD", "HEAD /events?limit=1 HTTP/1.1\r\nhost: x\r\n\r\n"],
        ["GET", "GET /events/stats HTTP/1.1\r\nhost: x\r\n\r\n"],
        ["POST", pub.head + pub.body],
        ["PUT", "PUT /events HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}"],
        ["POST", "POST /events/ HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}"],
        ["GET", "GET /events?limit=1 HTTP/1.1\r\nhost: x\r\n\r\n"],
        ["POST", pub.head.replace("\r\n\r\n", "\r\nconnection: close\r\n\r\n") + pub.body],
      ];
      const c = await RawConn.open(port);
      try {
        await c.write(reqs.map(([, r]) => r).join(""));
        const got: [number, string | null][] = [];
        for (const [method] of reqs) { const a = await c.read({ method }); got.push([a.status, a.header("connection")]); }
        const statuses = got.map(([s]) => s);
        expect(statuses[0]).toBe(201);
        expect(statuses[1]).toBe(200);
        expect(statuses[2]).toBe(200);
        expect(statuses[3]).toBe(201);
        expect(statuses[4]).toBeGreaterThanOrEqual(400);
        expect(statuses[4]).toBeLessThan(500);
        expect(statuses[5]).toBeGreaterThanOrEqual(400);
        expect(statuses[5]).toBeLessThan(500);
        expect(statuses[6]).toBe(200);
        expect(got[7]).toEqual([201, "close"]);
        expect(await c.waitClosed(3000)).toBe(true);
      } finally { c.terminate(); }
    });
  });
}
