/**
 * Host handling (issue 11, Build 8 and the Host items of 3): routing never depends on the Host
 * field's length or absence, on every plugin port (gateway, events, security): Elysia takes the
 * path from a fixed offset of the url, so the host gives each Request an origin long enough (breaker
 * port too); an
 * HTTP/1.0 request without Host is routed by its path. A malformed Host is a 400 everywhere.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startHost, type TestHost } from "../support/harness";
import { startLoggingOrigin } from "./support/logging-origin";
import { codeOf, exchange, leaks } from "./support/lanes";

const origin = startLoggingOrigin();
let t: TestHost;
const ports: Record<string, number> = {};

beforeAll(async () => {
  t = await startHost(`host:
  data_dir: \${DATA_DIR}
  log_level: warn
plugins:
  security:
    port: 0
  events:
    port: 0
  breaker:
    port: 0
    admin_token: host-test-admin-token
  gateway:
    port: 0
    rate_limiting: { enabled: false }
    services:
      - name: origin
        path_prefix: /api
        instances: [{ url: "${origin.url}" }]
        health_check: { enabled: false }
`, { only: ["security", "events", "breaker", "gateway"] });
  for (const id of ["gateway", "events", "security", "breaker"]) ports[id] = Number(new URL(t.url(id)).port);
});
afterAll(async () => { await t.stop(); origin.stop(); });

/** Paths each port serves itself (their answer with a normal Host is the reference). */
const PATHS: Record<string, string[]> = {
  gateway: ["/services", "/auth/login", "/health", "/metrics", "/nowhere/x"],
  events: ["/events/stats", "/events", "/health", "/metrics"],
  security: ["/.well-known/jwks.json", "/ca/certificate", "/health", "/tokens/revoked"],
  breaker: ["/circuit-breakers", "/alerts", "/dashboard", "/health"],
};

/** Host lines to try: short, bracketed, with ports, and none at all on HTTP/1.0. */
const HOSTS: { name: string; version: "1.1" | "1.0"; line: string }[] = [
  ...["a", "ab", "abc", "abcd", "a:1", "ab:80", "[::1]", "[::1]:8000", "x.y", "localhost:65535"].map((h) => ({ name: `Host: ${h}`, version: "1.1" as const, line: `Host: ${h}\r\n` })),
  { name: "HTTP/1.0 without Host", version: "1.0", line: "" },
  { name: "HTTP/1.0 with Host: a", version: "1.0", line: "Host: a\r\n" },
];

async function answer(port: number, path: string, version: string, hostLine: string): Promise<string> {
  const ex = await exchange(port, `GET ${path} HTTP/${version}\r\n${hostLine}Connection: close\r\n\r\n`, 1, 50);
  const r = ex.responses[0];
  return r === undefined ? "<none>" : `${r.status} ${codeOf(r)}`;
}

for (const id of ["gateway", "events", "security", "breaker"]) {
  describe(`${id} port: same answer whatever the Host's length, or without one`, () => {
    for (const path of PATHS[id]) {
      test(path, async () => {
        const port = ports[id];
        const reference = await answer(port, path, "1.1", `Host: localhost:${port}\r\n`);
        expect(reference).not.toStartWith("<none>");
        const got: Record<string, string> = {};
        for (const h of HOSTS) got[h.name] = await answer(port, path, h.version, h.line);
        const want = Object.fromEntries(HOSTS.map((h) => [h.name, reference]));
        expect(got).toEqual(want);
      });
    }
  });
}

describe("gateway: the proxied path is the one sent, whatever the Host", () => {
  for (const h of HOSTS) {
    test(h.name, async () => {
      origin.reset();
      origin.allow((r) => r.target === "/api/first/second?q=1");
      const ex = await exchange(ports.gateway, `GET /api/first/second?q=1 HTTP/${h.version}\r\n${h.line}\r\n`);
      expect(ex.responses[0]?.status).toBe(200);
      await origin.waitFor(1);
      expect(origin.requests.map((r) => r.target)).toEqual(["/api/first/second?q=1"]);
      expect(leaks(origin)).toEqual([]);
    });
  }

  test("a POST on the slow lane (HTTP/1.0, body after the head) keeps its path too", async () => {
    origin.reset();
    origin.allow((r) => r.target === "/api/up/load");
    const ex = await exchange(ports.gateway, ["POST /api/up/load HTTP/1.0\r\nContent-Length: 3\r\n\r\n", "abc"]);
    expect(ex.responses[0]?.status).toBe(200);
    await origin.waitFor(1);
    expect(origin.requests.map((r) => [r.target, r.body.toString()])).toEqual([["/api/up/load", "abc"]]);
  });
});

describe("events port: a POST with a body is routed and stored whatever the Host", () => {
  for (const [name, version, line] of [["Host: a", "1.1", "Host: a\r\n"], ["Host: [::1]", "1.1", "Host: [::1]\r\n"], ["HTTP/1.0 without Host", "1.0", ""]] as const) {
    test(name, async () => {
      const body = JSON.stringify({ type: "trading.signal", payload: { symbol: "BTC/USDT", action: "BUY", confidence: 0.5, note: name } });
      const ex = await exchange(ports.events, `POST /events HTTP/${version}\r\n${line}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      expect(ex.responses[0]?.status).toBe(201);
    });
  }
});

const BAD_HOSTS: [string, string][] = [
  ["userinfo and a slash", "Host: a/b@c\r\n"], ["userinfo", "Host: user@h\r\n"], ["user:pass@", "Host: u:p@h\r\n"],
  ["space", "Host: a b\r\n"], ["comma", "Host: a,b\r\n"], ["backslash", "Host: a\\b\r\n"], ["query", "Host: a?b\r\n"], ["fragment", "Host: a#b\r\n"],
  ["port too big", "Host: h:99999\r\n"], ["empty port", "Host: h:\r\n"], ["port not digits", "Host: h:8o\r\n"], ["two ports", "Host: h:80:80\r\n"],
  ["no host before the port", "Host: :80\r\n"], ["bad IP literal", "Host: [zz]\r\n"], ["unclosed IP literal", "Host: [::1\r\n"], ["dot-dot", "Host: a..b\r\n"],
  ["percent", "Host: a%20b\r\n"], ["empty (HTTP/1.1)", "Host: \r\n"], ["two Host fields", "Host: a\r\nHost: b\r\n"],
];

for (const id of ["gateway", "events", "security", "breaker"]) {
  describe(`${id} port: a malformed Host is a 400`, () => {
    for (const [what, line] of BAD_HOSTS) {
      test(what, async () => {
        origin.reset();
        const path = ({ gateway: "/api/x", events: "/events/stats", security: "/.well-known/jwks.json", breaker: "/circuit-breakers" } as Record<string, string>)[id];
        const ex = await exchange(ports[id], `GET ${path} HTTP/1.1\r\n${line}\r\n`);
        expect(ex.responses[0]?.status).toBe(400);
        expect(codeOf(ex.responses[0])).toBe("HOST_ERR_BAD_REQUEST");
        expect(origin.requests.length).toBe(0);
      });
    }
  });
}

test("an HTTP/1.1 request without Host is still a 400 on the gateway", async () => {
  const ex = await exchange(ports.gateway, "GET /api/x HTTP/1.1\r\n\r\n");
  expect(ex.responses[0]?.status).toBe(400);
});
