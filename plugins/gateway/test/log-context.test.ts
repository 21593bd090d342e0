/**
 * The gateway's access lines name the request's trace with tracing off, on both lanes, whether the pooled
 * upstream connection is new or reused — and never another request's: a pooled connection is opened outside
 * the request that happens to open it, and the answer is accounted with the context the request arrived in.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startHost, type TestHost } from "../../../test/support/harness";

let t: TestHost;
let origin: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  // A short wait on some requests, so several are in flight on the same pooled connections at once.
  origin = Bun.serve({ port: 0, async fetch(req) { const q = new URL(req.url).searchParams; if (q.has("slow")) await Bun.sleep(20); return q.has("fail") ? new Response("no", { status: 500 }) : new Response("ok"); } });
  t = await startHost(`
host:
  data_dir: \${DATA_DIR}
plugins:
  gateway:
    port: 0
    access_log: { enabled: true, sample_rate: 1, max_per_second: 100000 }
    services:
      - { name: wire, path_prefix: /w, instances: [{ url: "http://127.0.0.1:${origin.port}" }], health_check: { enabled: false } }
      - { name: ejecting, path_prefix: /e, outlier: { consecutive_failures: 1 }, retries: { attempts: 0 }, instances: [{ url: "http://127.0.0.1:${origin.port}" }, { url: "http://localhost:${origin.port}" }], health_check: { enabled: false } }
      - { name: fetchlane, path_prefix: /f, bulkhead: { max_concurrent: 100 }, instances: [{ url: "http://127.0.0.1:${origin.port}" }], health_check: { enabled: false } }
`);
});
afterAll(async () => { await t?.stop(); origin?.stop(true); });

const hex = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");

for (const prefix of ["/w", "/f"]) {
  test(`${prefix === "/w" ? "wire" : "fetch"} lane: 60 requests (20 at a time, new and reused connections): each access line carries its own request's trace id`, async () => {
    const sent = new Map<string, string>(); // request id → trace id
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: 20 }, async (_, i) => {
        const id = `lc-${prefix.slice(1)}-${round}-${i}`;
        const trace = hex(16);
        sent.set(id, trace);
        const r = await fetch(`${t.url("gateway")}${prefix}/x${i % 2 ? "?slow" : ""}`, { headers: { "x-request-id": id, traceparent: `00-${trace}-${hex(8)}-01` } });
        expect(r.status).toBe(200);
        await r.text();
      }));
    }
    await Bun.sleep(50);
    const access = t.logs.filter((l) => l.msg === "access" && sent.has(l.request_id));
    expect(access.length).toBe(60);
    for (const l of access) expect({ id: l.request_id, trace: l.trace_id }).toEqual({ id: l.request_id, trace: sent.get(l.request_id) });
  });
}

test("an instance ejected by a request's failure (logged in the upstream socket's callback) names that request and its trace", async () => {
  // Warm a pooled connection first, so the failing answer arrives in a reused socket's callback.
  await (await fetch(`${t.url("gateway")}/e/x`)).text();
  await (await fetch(`${t.url("gateway")}/e/x`)).text();
  const trace = hex(16);
  const id = `lc-eject-${crypto.randomUUID()}`;
  const r = await fetch(`${t.url("gateway")}/e/x?fail`, { headers: { "x-request-id": id, traceparent: `00-${trace}-${hex(8)}-01` } });
  expect(r.status).toBe(500);
  await r.text();
  await Bun.sleep(50);
  const ejected = t.logs.filter((l) => l.msg === "instance ejected" && l.request_id === id);
  expect(ejected.length).toBe(1);
  expect(ejected[0].trace_id).toBe(trace);
});
