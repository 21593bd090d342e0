/** The shared services handed to plugins: bus, shared pool, dependency order, logger, metrics facade, HTTP conventions. */
import { describe, test, expect } from "bun:test";
import { Elysia, t } from "elysia";
import { createBus } from "../src/core/bus";
import { UNGUARDED } from "../src/contracts/bus-topics";
import { createSharedPool } from "../src/core/shared-pool";
import { dependencyOrder } from "../src/host/order";
import { createLogger, parseLogLevel } from "../src/core/log";
import { createPluginMetrics } from "../src/core/metrics";
import { httpConventions, requestIdOf } from "../src/core/http";
import { defineErrors } from "../src/core/errors";
import { fullJitterBackoff } from "../src/lib/resilience";

describe("bus", () => {
  test("topics deliver to every subscriber; a throwing subscriber is isolated; last value replays", () => {
    const lines: string[] = [];
    const bus = createBus(createLogger({ sink: (l) => lines.push(l) }));
    const seen: number[] = [];
    bus.on("upstream.outcome", () => { throw new Error("bad subscriber"); });
    const off = bus.on("upstream.outcome", (o) => seen.push(o.status));
    bus.emit("upstream.outcome", { service: "a", status: 200, latencyMs: 1 });
    off();
    bus.emit("upstream.outcome", { service: "a", status: 500, latencyMs: 1 });
    expect(seen).toEqual([200]);
    expect(lines.some((l) => l.includes("bus subscriber failed"))).toBe(true);
    const late: number[] = [];
    bus.on("upstream.outcome", (o) => late.push(o.status), { replay: true });
    expect(late).toEqual([500]);
  });
  test("services: provide, call, withdraw only by the current provider", () => {
    const bus = createBus();
    expect(bus.service("breaker.permit")).toBeUndefined();
    const withdrawOld = bus.provide("breaker.permit", () => UNGUARDED);
    bus.provide("breaker.permit", () => ({ allowed: false, retryAfterMs: 5, state: "open" }));
    withdrawOld(); // a stale provider (old instance) must not remove the new one
    expect(bus.service("breaker.permit")!("x")).toEqual({ allowed: false, retryAfterMs: 5, state: "open" });
  });
});

describe("shared pool", () => {
  test("get-or-create keeps one value per key and closes on delete", async () => {
    const pool = createSharedPool();
    let created = 0;
    let closed = 0;
    const make = () => { created++; return { close: () => { closed++; } }; };
    const a = pool.getOrCreate("p:a", make);
    expect(pool.getOrCreate("p:a", make)).toBe(a);
    expect(created).toBe(1);
    expect(pool.keys("p:")).toEqual(["p:a"]);
    await pool.delete("p:a");
    expect(closed).toBe(1);
    pool.getOrCreate("p:b", make);
    await pool.closeAll();
    expect(closed).toBe(2);
  });
});

describe("dependency order", () => {
  test("dependencies first, config order otherwise; missing deps ignored; cycles refused", () => {
    const order = dependencyOrder([{ id: "gateway", dependsOn: ["breaker", "security"] }, { id: "events" }, { id: "breaker", dependsOn: ["events"] }]);
    expect(order.map((p) => p.id)).toEqual(["events", "breaker", "gateway"]);
    expect(() => dependencyOrder([{ id: "a", dependsOn: ["b"] }, { id: "b", dependsOn: ["a"] }])).toThrow("cycle");
  });
});

describe("logger", () => {
  test("JSON lines, level filter, child fields, errors serialised", () => {
    const lines: string[] = [];
    const log = createLogger({ level: parseLogLevel("WARNING"), sink: (l) => lines.push(l) });
    log.info("hidden");
    log.child({ plugin: "x" }).error("boom", { err: new Error("why") });
    expect(lines.length).toBe(1);
    expect(JSON.parse(lines[0])).toMatchObject({ level: "error", plugin: "x", msg: "boom", err: { message: "why" } });
    expect(parseLogLevel("DEBUG")).toBe("debug");
    expect(parseLogLevel("nonsense")).toBe("info");
  });
});

describe("metrics facade", () => {
  test("get-or-create by name with the common prefix; gauges scrape the newest collect", async () => {
    const m = createPluginMetrics("demo");
    const c1 = m.counter({ name: "hits_total", help: "h" });
    const c2 = m.counter({ name: "hits_total", help: "h" });
    expect(c1).toBe(c2);
    c1.inc(2);
    m.gauge({ name: "depth", help: "d", collect: (g) => g.set(1) });
    m.gauge({ name: "depth", help: "d", collect: (g) => g.set(7) }); // a reloaded instance re-points collect
    const text = await m.registry.metrics();
    expect(text).toContain("tradpal_demo_hits_total 2");
    expect(text).toContain("tradpal_demo_depth 7");
  });
});

describe("http conventions", () => {
  const log = createLogger({ sink: () => {} });
  const E = defineErrors({ DEMO_ERR_TEAPOT: { status: 418, message: "short and stout" }, DEMO_ERR_VALIDATION: { status: 400, message: "request failed validation" }, DEMO_ERR_PARSE: { status: 400, message: "request body could not be parsed" }, DEMO_ERR_NOT_FOUND: { status: 404, message: "no route" }, DEMO_ERR_INTERNAL: { status: 500, message: "internal error" }, DEMO_ERR_REQUEST: { status: 400, message: "bad request" } });
  const app = new Elysia()
    .use(httpConventions({ errors: E, log }))
    .post("/items", ({ body }) => body, { body: t.Object({ n: t.Number(), name: t.String() }) })
    .get("/teapot", () => { throw E.DEMO_ERR_TEAPOT(undefined, "/teapot"); })
    .get("/boom", () => { throw new Error("secret internals"); });
  const call = (path: string, init?: RequestInit) => app.handle(new Request(`http://localhost${path}`, init));

  test("a catalogue without its convention codes is refused when the app is built", () => {
    expect(() => httpConventions({ errors: defineErrors({ DEMO_ERR_TEAPOT: { status: 418, message: "x" } }), log })).toThrow("lacks its *_ERR_VALIDATION code");
  });

  test("validation errors are 400 with every violated path", async () => {
    const res = await call("/items", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ n: "x" }) });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error.code).toBe("DEMO_ERR_VALIDATION");
    expect(body.error.details.map((d: any) => d.where).sort()).toEqual(["/n", "/name"]);
  });
  test("malformed JSON is 400, unknown routes 404, coded errors keep their status, crashes are a coded 500 without internals", async () => {
    expect((await call("/items", { method: "POST", headers: { "content-type": "application/json" }, body: "{" })).status).toBe(400);
    const nf = await call("/nope");
    expect(nf.status).toBe(404);
    expect((await nf.json()).error.code).toBe("DEMO_ERR_NOT_FOUND");
    const tp = await call("/teapot");
    expect(tp.status).toBe(418);
    expect(await tp.json()).toEqual({ error: { code: "DEMO_ERR_TEAPOT", message: "short and stout", where: "/teapot" } });
    const boom = await call("/boom");
    expect(boom.status).toBe(500);
    expect(await boom.text()).not.toContain("secret internals");
  });
  test("X-Request-Id is echoed when sane and generated otherwise", async () => {
    expect((await call("/nope", { headers: { "x-request-id": "abc-123" } })).headers.get("x-request-id")).toBe("abc-123");
    const generated = (await call("/nope", { headers: { "x-request-id": "bad id with spaces" } })).headers.get("x-request-id");
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    expect(requestIdOf(new Request("http://localhost/"))).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("full-jitter backoff", () => {
  test("bounded by min(cap, base·2^attempt)", () => {
    expect(fullJitterBackoff(0, 100, 1000, () => 0.999)).toBe(99);
    expect(fullJitterBackoff(3, 100, 1000, () => 0.999)).toBe(799);
    expect(fullJitterBackoff(10, 100, 1000, () => 0.999)).toBe(999);
    expect(fullJitterBackoff(5, 100, 1000, () => 0)).toBe(0);
  });
});
