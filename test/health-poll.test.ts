/**
 * Health monitoring (issue 18 item 3): the host polls every plugin's health on host.health_interval, exports
 * tradpal_host_plugin_healthy{plugin}, and publishes service.health_changed on each flip — stored by the
 * events plugin; the gateway publishes the same event when an upstream instance flips.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { Type } from "@sinclair/typebox";
import { definePlugin } from "../src/core/plugin";
import { startHost, type TestHost } from "./support/harness";

const state = { ok: true };
/** TEST-ONLY plugin whose health the test switches. */
const flaky = definePlugin({
  id: "flaky", description: "test-only plugin with a switchable health", defaultPort: 0, schema: Type.Object({}),
  async provision() {
    return { app: new Elysia(), async stop() {}, health: () => (state.ok ? { ok: true } : { ok: false, reason: "switched off by the test" }) };
  },
});

let upstreamOk = true;
const upstream = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("x", { status: upstreamOk ? 200 : 500 }) });
let t: TestHost;

beforeAll(async () => {
  t = await startHost(`
host:
  data_dir: \${DATA_DIR}
  bind: 127.0.0.1
  health_interval: 100ms
plugins:
  flaky: { port: 0 }
  events: { port: 0 }
  gateway:
    port: 0
    rate_limiting: { enabled: false }
    services:
      - { name: orders, path_prefix: /orders, instances: [{ url: "http://127.0.0.1:${upstream.port}" }], health_check: { interval: 100ms, timeout: 200ms, unhealthy_threshold: 1, healthy_threshold: 1 } }
`, { plugins: { flaky } });
});
afterAll(async () => { await t?.stop(); upstream.stop(true); });

async function events(): Promise<{ source: string; payload: Record<string, string> }[]> {
  return (await (await fetch(`${t.url("events")}/events?type=service.health_changed&limit=100`)).json()).events;
}
async function until<T>(probe: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) { const v = await probe(); if (v !== undefined) return v; if (Date.now() > end) throw new Error("timed out"); await Bun.sleep(25); }
}
const healthy = async () => (await (await fetch(`${t.url("flaky")}/metrics`)).text()).match(/tradpal_host_plugin_healthy\{plugin="flaky"\} (\d)/)?.[1];

test("a plugin's health flip: the gauge follows, and one service.health_changed event per change is stored", async () => {
  expect(await until(async () => ((await healthy()) === "1" ? true : undefined))).toBe(true);
  state.ok = false;
  expect(await until(async () => ((await healthy()) === "0" ? true : undefined))).toBe(true);
  state.ok = true;
  expect(await until(async () => ((await healthy()) === "1" ? true : undefined))).toBe(true);
  const mine = await until(async () => { const e = (await events()).filter((x) => x.source === "host" && x.payload.plugin === "flaky"); return e.length >= 2 ? e : undefined; });
  expect(mine.map((e) => `${e.payload.status}: ${e.payload.reason ?? "-"}`)).toEqual(["unhealthy: switched off by the test", "healthy: -"]);
});

test("an upstream instance's flip under the gateway's checks is a service.health_changed event too", async () => {
  upstreamOk = false;
  const down = await until(async () => (await events()).find((x) => x.source === "gateway" && x.payload.status === "unhealthy"));
  expect(down.payload).toMatchObject({ service: "orders", instance: `http://127.0.0.1:${upstream.port}`, reason: "status 500" });
  upstreamOk = true;
  const up = await until(async () => (await events()).find((x) => x.source === "gateway" && x.payload.status === "healthy"));
  expect(up.payload.service).toBe("orders");
});
