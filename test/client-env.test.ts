/**
 * Clients configured like the platform (issue 13, Build 4): a process started with the platform's
 * environment (the plugins' port variables, DATA_DIR, BIND_ADDRESS) reaches every plugin with clients
 * built without options, and uses the admin tokens the plugins generated into DATA_DIR. A token variable
 * wins over the file; bad values fail at construction with CLIENT_ERR_CONFIG.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startHost, type TestHost } from "./support/harness";
import { runClientProbe } from "./support/client-probe";
import { ClientConfigError, serviceToken, serviceUrl } from "../src/clients/env";
import { EventClient } from "../src/clients/event-client";

let t: TestHost;
const port = (id: string) => new URL(t.url(id)).port;

beforeAll(async () => {
  t = await startHost(`host:
  data_dir: \${DATA_DIR}
  log_level: warn
  bind: 127.0.0.1
plugins:
  security: { port: 0, services: { trading_service: { scopes: [read] } } }
  events: { port: 0 }
  breaker: { port: 0, services: { trading: {} } }
`, { only: ["security", "events", "breaker"] });
}, 60_000);
afterAll(async () => { await t?.stop(); });

const probe = (extra: Record<string, string> = {}) => runClientProbe(t, extra);

test("no options: ports from the plugins' variables, admin tokens from DATA_DIR", async () => {
  const r = await probe();
  expect(r.security.ok).toEqual({ baseUrl: t.url("security"), valid: true });
  expect(r.events.ok.baseUrl).toBe(t.url("events"));
  expect(r.events.ok.delivered).toBe(r.events.ok.published);
  expect(r.breaker.ok).toEqual({ baseUrl: t.url("breaker"), forced: "forced_open" });
}, 30_000);

test("a token variable wins over the generated file", async () => {
  const r = await probe({ SECURITY_ADMIN_TOKEN: "not-the-admin-token-xxxxxxxx", BREAKER_ADMIN_TOKEN: "not-the-admin-token-xxxxxxxx" });
  expect(r.security.error).toBe("SEC_ERR_BAD_TOKEN");
  expect(r.breaker.error).toBe("BR_ERR_UNAUTHORIZED");
  expect(r.events.ok.delivered).toBe(r.events.ok.published); // events needs no token
}, 30_000);

test("a port variable pointing elsewhere is used, not a default", async () => {
  const r = await probe({ EVENT_SERVICE_PORT: port("breaker") }); // the breaker answers 404 on /events
  expect(r.events.error).toMatch(/^(HTTP_404|BR_ERR_)/);
}, 30_000);

describe("serviceUrl / serviceToken", () => {
  test("URL variable, then port variable; empty counts as unset; wildcard binds mean loopback", () => {
    expect(serviceUrl("X_URL", "X_PORT", 8011, {})).toBe("http://127.0.0.1:8011");
    expect(serviceUrl("X_URL", "X_PORT", 8011, { X_PORT: "9100", BIND_ADDRESS: "0.0.0.0" })).toBe("http://127.0.0.1:9100");
    expect(serviceUrl("X_URL", "X_PORT", 8011, { X_PORT: "", BIND_ADDRESS: "::" })).toBe("http://127.0.0.1:8011");
    expect(serviceUrl("X_URL", "X_PORT", 8011, { X_PORT: "9100", BIND_ADDRESS: "10.1.2.3" })).toBe("http://10.1.2.3:9100");
    expect(serviceUrl("X_URL", "X_PORT", 8011, { X_PORT: "9100", BIND_ADDRESS: "::1" })).toBe("http://[::1]:9100");
    expect(serviceUrl("X_URL", "X_PORT", 8011, { X_URL: "https://events.internal:443/", X_PORT: "9100" })).toBe("https://events.internal:443");
  });

  test("bad values are CLIENT_ERR_CONFIG naming the variable", () => {
    for (const [env, variable] of [[{ X_PORT: "eighty" }, "X_PORT"], [{ X_PORT: "70000" }, "X_PORT"], [{ X_PORT: "80.5" }, "X_PORT"], [{ X_URL: "events:8011" }, "X_URL"]] as const) {
      let err: unknown;
      try { serviceUrl("X_URL", "X_PORT", 8011, env); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(ClientConfigError);
      expect(err).toMatchObject({ code: "CLIENT_ERR_CONFIG", variable });
    }
    const saved = process.env.EVENT_SERVICE_PORT;
    process.env.EVENT_SERVICE_PORT = "not-a-port";
    try { expect(() => new EventClient()).toThrow("EVENT_SERVICE_PORT"); } finally { if (saved === undefined) delete process.env.EVENT_SERVICE_PORT; else process.env.EVENT_SERVICE_PORT = saved; }
  });

  test("token: first set variable, else the DATA_DIR file, else none", () => {
    const dir = mkdtempSync(join(tmpdir(), "client-env-"));
    try {
      expect(serviceToken(["A", "B"], "svc/admin-token", { DATA_DIR: dir })).toBeUndefined();
      mkdirSync(join(dir, "svc"));
      writeFileSync(join(dir, "svc", "admin-token"), "from-file\n", { mode: 0o600 });
      expect(serviceToken(["A", "B"], "svc/admin-token", { DATA_DIR: dir })).toBe("from-file");
      expect(serviceToken(["A", "B"], "svc/admin-token", { DATA_DIR: dir, A: "", B: "b" })).toBe("b");
      expect(serviceToken(["A", "B"], "svc/admin-token", { DATA_DIR: dir, A: "a", B: "b" })).toBe("a");
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});
