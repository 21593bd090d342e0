/**
 * Issue 11, events: a client cannot make the event bus answer 500, store a giant event, or hold its
 * memory with a body. Raw sockets against a started host (defaults: 1 MB events, 8 MB bodies, depth 32).
 * The plugin's own suites (plugins/events/test/limits-*.test.ts) cover the variants on both stores.
 */
import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import { startHost, type TestHost } from "../../../test/support/harness";
import { RawConn } from "../../../test/support/raw-http";
import { join } from "node:path";
import { unreadAllowance } from "./support";

const MB = 1024 * 1024;
let t: TestHost;
let port: number;
let base: string;

beforeAll(async () => {
  t = await startHost(`
host:
  data_dir: \${DATA_DIR}
plugins:
  events:
    port: 0
`);
  base = t.url("events");
  port = Number(new URL(base).port);
});
afterAll(async () => { await t.stop(); });

async function raw(head: string, body: string | Buffer = "") {
  const c = await RawConn.open(port);
  try {
    const res = await c.request(Buffer.concat([Buffer.from(head, "latin1"), Buffer.from(body)]), { method: "POST", timeoutMs: 5000 });
    return { status: res.status, code: JSON.parse(res.body.toString() || "{}").error?.code as string | undefined, connection: res.header("connection") };
  } finally { c.terminate(); }
}
const framed = (path: string, body: string) => raw(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`, body);
const length = async () => (await (await fetch(`${base}/events/stats`)).json()).length as number;

describe("events: hostile bodies", () => {
  test("deep nesting (the issue's 100k, objects, mixed, a 1 MB run of '[') is a 400 on every route, never a 500", async () => {
    const bodies = [
      "[".repeat(100_000) + "]".repeat(100_000),
      '{"a":'.repeat(100_000) + "1" + "}".repeat(100_000),
      `{"type":"custom.x","payload":{"v":${"[{\"a\":".repeat(20_000)}1${"}]".repeat(20_000)}}}`,
      "[".repeat(MB - 100),
    ];
    for (const path of ["/events", "/events/trading-signal", "/events/ack", "/events/replay"]) {
      for (const b of bodies) expect([path, ...Object.values(await framed(path, b)).slice(0, 2)]).toEqual([path, 400, "EV_ERR_TOO_DEEP"]);
    }
  });

  test("the issue's 10 MB event is refused and not stored; so is a body that only claims to be big", async () => {
    const before = await length();
    const big = `{"type":"custom.big","payload":{"s":"${"x".repeat(10 * MB)}"}}`;
    expect(await framed("/events", big)).toEqual({ status: 413, code: "EV_ERR_BODY_TOO_LARGE", connection: "close" });
    const medium = `{"type":"custom.big","payload":{"s":"${"x".repeat(2 * MB)}"}}`;
    expect((await framed("/events", medium)).code).toBe("EV_ERR_EVENT_TOO_LARGE");
    // a Content-Length of 15 MB with 10 bytes sent: answered at once, nothing waited for
    const t0 = performance.now();
    expect(await raw(`POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${15 * MB}\r\n\r\n`, '{"type":"c')).toMatchObject({ status: 413, connection: "close" });
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(await length()).toBe(before);
  });

  test("ten endless chunked uploads at once are cut off and closed; the bus keeps serving", async () => {
    const rssBefore = process.memoryUsage().rss;
    // The attackers run in their own process (endless-uploads.ts): the host's raw front and tunnel share no event loop with them.
    const proc = Bun.spawn(["bun", "run", join(import.meta.dir, "endless-uploads.ts"), String(port), "10"], { stdout: "pipe", stderr: "inherit" });
    const out = await new Response(proc.stdout).text();
    await proc.exited;
    const results = JSON.parse(out) as { status: number; closed: boolean; sent: number }[];
    expect(results.length).toBe(10);
    for (const r of results) {
      expect([r.status, r.closed]).toEqual([413, true]);
      expect(r.sent).toBeLessThan(8 * MB + unreadAllowance()); // never read to the end (there is none): the 64 MiB cap is not reached
    }
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * MB); // the host's memory (the attackers are another process)
    const ok = await fetch(`${base}/events`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"type":"custom.after","payload":{}}' });
    expect(ok.status).toBe(201);
    expect((await fetch(`${base}/health`)).status).toBe(200);
  });
});
