/**
 * End to end through the real gateway: an upstream that starts failing behind plugins/gateway trips its
 * breaker within the configured threshold; while open the gateway answers 503 + Retry-After without
 * upstream traffic; after the recovery timeout trial calls re-open it (still failing) or close it (healthy).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { expectNoOutstandingPermits } from "./support/permits";
import { startHost, type TestHost } from "./support/harness";
import { expectOpenRefusal } from "./support/breaker-expect";

function controllableUpstream() {
  const state = { status: 200, hits: 0 };
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => { state.hits++; return new Response(JSON.stringify({ ok: state.status < 400 }), { status: state.status, headers: { "content-type": "application/json" } }); } });
  return { state, server, url: `http://127.0.0.1:${server.port}` };
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) { if (await cond()) return; await Bun.sleep(10); }
  throw new Error(`timed out waiting for ${what}`);
}

describe("breaker + real gateway", () => {
  let t: TestHost;
  let up: ReturnType<typeof controllableUpstream>;
  const gw = (path = "/orders/list") => fetch(`${t.url("gateway")}${path}`);
  const breaker = async () => (await fetch(`${t.url("breaker")}/circuit-breakers/orders`)).json();

  beforeAll(async () => {
    up = controllableUpstream();
    t = await startHost(`
host:
  data_dir: \${DATA_DIR}
plugins:
  breaker:
    port: 0
    defaults:
      failure_threshold: 4
      recovery_timeout: 400ms
      recovery_backoff_multiplier: 1
      half_open_max_calls: 2
    tick_interval: 50ms
  gateway:
    port: 0
    access_log: { enabled: false }
    services:
      - name: orders
        path_prefix: /orders
        instances: [{ url: "${up.url}" }]
        health_check: { enabled: false }
        outlier: { enabled: false }
        retries: { attempts: 0 }
`);
  });
  afterAll(async () => { await t?.stop(); up?.server.stop(true); });
  afterEach(() => expectNoOutstandingPermits()); // every request of a fault test settled its breaker permit

  test("the gateway's services get breakers", async () => {
    const list = await (await fetch(`${t.url("breaker")}/circuit-breakers`)).json();
    expect(list.breakers).toContainEqual(expect.objectContaining({ name: "orders", state: "closed", source: "gateway" }));
    expect((await gw()).status).toBe(200);
  });

  test("failing upstream trips within the threshold; open → 503 + Retry-After, no upstream traffic", async () => {
    up.state.status = 502;
    for (let i = 0; i < 4; i++) expect((await gw()).status).toBe(502);
    await expectOpenRefusal(() => gw(), () => up.state.hits, 10);
    expect((await breaker()).state).toBe("open");
  });

  test("after the recovery timeout a trial against a still-failing upstream re-opens it", async () => {
    await until(async () => (await breaker()).state === "half_open", 2000, "half-open");
    const hits = up.state.hits;
    expect((await gw()).status).toBe(502);
    expect(up.state.hits).toBe(hits + 1);
    const b = await breaker();
    expect(b.state).toBe("open");
    expect(b.transitions[0]).toMatchObject({ from: "half_open", to: "open" });
  });

  test("when the upstream is healthy again the trial calls close it", async () => {
    up.state.status = 200;
    await until(async () => (await breaker()).state === "half_open", 2000, "half-open");
    expect((await gw()).status).toBe(200);
    expect((await gw()).status).toBe(200);
    const b = await breaker();
    expect(b.state).toBe("closed");
    expect(b.transitions[0].reason).toContain("trial calls succeeded");
    for (let i = 0; i < 5; i++) expect((await gw()).status).toBe(200);
  });
});
