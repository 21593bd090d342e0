/**
 * DEBUG logging that helps (issue 13, Build 5): with LOG_LEVEL=DEBUG (the seed's spelling, through
 * config.yaml's ${LOG_LEVEL:-info}) the gateway writes one JSON line per decision of every request,
 * keyed by its request id: route, edge (auth, limiter), breaker, instance (per attempt), retry, done,
 * on both proxy lanes (wire; fetch for a service with a bulkhead). No credential ever appears. After a
 * reload to info nothing of it is written.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startHost, type TestHost } from "./support/harness";
import { startUpstream, type Upstream } from "../plugins/gateway/test/support";

const PASSWORD = "debug-log-password-correct-horse";
const BREAKER_ADMIN = "debug-log-breaker-admin-token";
let t: TestHost;
let bad: Upstream;
let good: Upstream;
let token = "";

const config = (level: string) => `host:
  data_dir: \${DATA_DIR}
  log_level: ${level}
plugins:
  breaker: { port: 0, admin_token: ${BREAKER_ADMIN} }
  gateway:
    port: 0
    auth: { hs256_secret: "debug-log-test-secret-0123456789abcdef" }
    users: [{ name: alice, password_hash: "${Bun.password.hashSync(PASSWORD)}", scopes: [trade] }]
    services:
      - name: trading
        path_prefix: /api/trading
        load_balancing: round_robin
        instances: [{ url: "${bad.url}" }, { url: "${good.url}" }]
        health_check: { enabled: false }
        auth_required: true
        scopes: [trade]
        rate_limit: 5/min
        retries: { attempts: 2, on_status: [503] }
      - name: reports
        path_prefix: /api/reports
        instances: [{ url: "${good.url}" }]
        health_check: { enabled: false }
        bulkhead: { max_concurrent: 10 }
`;

beforeAll(async () => {
  bad = startUpstream(() => new Response("down", { status: 503 }));
  good = startUpstream();
  t = await startHost(config("${LOG_LEVEL:-info}"), { env: { LOG_LEVEL: "DEBUG" }, only: ["breaker", "gateway"] });
  const login = await fetch(`${t.url("gateway")}/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "alice", password: PASSWORD }) });
  expect(login.status).toBe(200);
  token = (await login.json()).access_token;
}, 60_000);
afterAll(async () => { await t?.stop(); bad?.stop(); good?.stop(); });

const get = (path: string, id: string, auth = true) =>
  fetch(`${t.url("gateway")}${path}`, { headers: { "x-request-id": id, ...(auth ? { authorization: `Bearer ${token}` } : {}) } });
const decisions = (id: string) => t.logs.filter((l) => l.msg === "proxy decision" && l.request_id === id);
const one = (id: string, decision: string) => decisions(id).find((l) => l.decision === decision);

test("every decision of a proxied request, in order, at debug", async () => {
  // Round robin over [bad, good]: of two requests one starts on the instance that answers 503 and is retried.
  expect((await get("/api/trading/a", "dbg-a")).status).toBe(200);
  expect((await get("/api/trading/b", "dbg-b")).status).toBe(200);
  for (const id of ["dbg-a", "dbg-b"]) {
    expect(decisions(id).map((l) => l.level)).toEqual(decisions(id).map(() => "debug"));
    expect(one(id, "route")).toMatchObject({ plugin: "gateway", method: "GET", path: "/api/trading/" + id.slice(4), service: "trading", route: "trading", auth_required: true });
    expect(one(id, "edge")).toMatchObject({ auth: "ok", subject: "alice", via: "jwt", limiter: "allowed", limiter_policy: expect.any(String), limiter_remaining: expect.any(Number) });
    expect(one(id, "breaker")).toMatchObject({ breaker: "permitted" });
    expect(one(id, "done")).toMatchObject({ status: 200, instance: good.url });
  }
  const retried = ["dbg-a", "dbg-b"].find((id) => one(id, "retry"))!;
  expect(retried).toBeDefined();
  expect(decisions(retried).map((l) => l.decision)).toEqual(["route", "edge", "breaker", "instance", "retry", "instance", "done"]);
  expect(one(retried, "retry")).toMatchObject({ retry: "granted" });
  const [first, second] = decisions(retried).filter((l) => l.decision === "instance");
  expect(first).toMatchObject({ attempt: 1, instance: bad.url, members: 2, usable: 2, balancer: "round_robin" });
  expect(second).toMatchObject({ attempt: 2, instance: good.url, excluded: bad.url, previous_outcome: 503 });
  expect(one(retried, "done")).toMatchObject({ attempts: 2 });
});

test("refusals say why: breaker open, limiter, auth, no route", async () => {
  const force = await fetch(`${t.url("breaker")}/circuit-breakers/trading/force-open`, { method: "POST", headers: { authorization: `Bearer ${BREAKER_ADMIN}` } });
  expect(force.status).toBe(200);
  expect((await get("/api/trading/c", "dbg-open")).status).toBe(503);
  expect(one("dbg-open", "breaker")).toMatchObject({ breaker: "refused", reason: expect.stringContaining("forced_open") });
  expect(one("dbg-open", "done")).toMatchObject({ status: 503, code: "GW_ERR_CIRCUIT_OPEN" });
  expect(one("dbg-open", "instance")).toBeUndefined();

  let limited = "";
  for (let i = 0; i < 10 && !limited; i++) if ((await get("/api/trading/d", `dbg-rl-${i}`)).status === 429) limited = `dbg-rl-${i}`;
  expect(limited).not.toBe("");
  expect(one(limited, "edge")).toMatchObject({ auth: "ok", limiter: "refused", limiter_retry_after_ms: expect.any(Number), refused_status: 429 });
  expect(one(limited, "breaker")).toBeUndefined(); // the edge refused before the breaker was asked

  expect((await get("/api/trading/e", "dbg-anon", false)).status).toBe(401);
  expect(one("dbg-anon", "edge")).toMatchObject({ auth: "refused: 401", limiter: "not reached" });

  expect((await get("/nowhere", "dbg-none")).status).toBe(404);
  expect(decisions("dbg-none").map((l) => [l.decision, l.code])).toEqual([["done", "GW_ERR_NO_ROUTE"]]);
});

test("the fetch lane (a service with a bulkhead) logs the same decisions", async () => {
  expect((await get("/api/reports/x", "dbg-fetch", false)).status).toBe(200);
  expect(decisions("dbg-fetch").map((l) => l.decision)).toEqual(["route", "edge", "breaker", "instance", "done"]);
  expect(one("dbg-fetch", "edge")).toMatchObject({ auth: "not required", limiter: "allowed" });
});

test("no credential in any log line", () => {
  const all = t.logs.map((l) => JSON.stringify(l)).join("\n");
  expect(all).toContain("proxy decision");
  expect(token.length).toBeGreaterThan(20);
  for (const secret of [token, token.split(".")[2], PASSWORD, BREAKER_ADMIN, "debug-log-test-secret-0123456789abcdef"]) expect(all).not.toContain(secret);
  expect(all.toLowerCase()).not.toContain("bearer ");
});

test("after a reload to info: no debug line at all (the level of the applied config, not the old one)", async () => {
  const r = await t.rewrite(config("info"));
  expect(r.ok).toBe(true);
  expect((await get("/api/reports/y", "dbg-info", false)).status).toBe(200);
  expect(decisions("dbg-info")).toEqual([]);
  const before = t.logs.length;
  expect((await get("/api/trading/f", "dbg-info-2")).status).toBeLessThan(600);
  expect(t.logs.slice(before).filter((l) => l.level === "debug")).toEqual([]);
});
