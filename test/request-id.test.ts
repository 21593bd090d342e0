/**
 * X-Request-Id on every response of every port (issue 13, Build 5): the host's own /health and
 * /metrics, the plugins' routes and 404s, and host-made refusals (a bad Host, the wire front's
 * 400/431/501, a body over the port's limit). A caller's id that matches the one accepted pattern
 * (src/core/http.ts REQUEST_ID_RE) is echoed; anything else gets a fresh UUID. Real curl and raw bytes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startHost, type TestHost } from "./support/harness";
import { RawConn } from "./support/raw-http";
import { startUpstream } from "../plugins/gateway/test/support";
import { REQUEST_ID_RE } from "../src/core/http";

const upstream = startUpstream();
let t: TestHost;
const ports: Record<string, number> = {};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

beforeAll(async () => {
  t = await startHost(`host:
  data_dir: \${DATA_DIR}
  log_level: warn
plugins:
  security: { port: 0 }
  events: { port: 0 }
  breaker: { port: 0, admin_token: request-id-test-admin-token }
  gateway:
    port: 0
    rate_limiting: { enabled: false }
    max_body_size: 4kb
    services:
      - name: up
        path_prefix: /api
        instances: [{ url: "${upstream.url}" }]
        health_check: { enabled: false }
`, { only: ["security", "events", "breaker", "gateway"] });
  for (const id of ["gateway", "events", "security", "breaker"]) ports[id] = Number(new URL(t.url(id)).port);
});
afterAll(async () => { await t.stop(); upstream.stop(); });

/** Real curl: status and the X-Request-Id values of the response head. */
async function curl(url: string, ...args: string[]): Promise<{ status: number; ids: string[] }> {
  const p = Bun.spawn(["curl", "-s", "-o", "/dev/null", "-D", "-", ...args, url], { stdout: "pipe", stderr: "pipe" });
  const head = await new Response(p.stdout).text();
  await p.exited;
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(head)?.[1] ?? 0);
  const ids = [...head.matchAll(/^x-request-id: *(.*?)\r?$/gim)].map((m) => m[1]);
  return { status, ids };
}

const PATHS: Record<string, string[]> = {
  gateway: ["/health", "/metrics", "/services", "/api/x", "/nowhere", "/openapi.json"],
  events: ["/health", "/metrics", "/events/stats", "/nowhere"],
  security: ["/health", "/metrics", "/.well-known/jwks.json", "/nowhere"],
  breaker: ["/health", "/metrics", "/circuit-breakers", "/nowhere"],
};

describe("X-Request-Id on every port and path", () => {
  for (const [plugin, paths] of Object.entries(PATHS)) {
    for (const path of paths) {
      test(`${plugin} ${path}: a fresh id without one, the caller's echoed, a bad one replaced`, async () => {
        const url = `http://127.0.0.1:${ports[plugin]}${path}`;
        const none = await curl(url);
        expect(none.status).toBeGreaterThan(0);
        expect(none.ids).toHaveLength(1);
        expect(none.ids[0]).toMatch(UUID);

        const mine = await curl(url, "-H", "X-Request-Id: caller.id:42-abc_Z");
        expect(mine.ids).toEqual(["caller.id:42-abc_Z"]);

        for (const bad of ["has space", "x".repeat(129), "semi;colon", "ünï"]) {
          const r = await curl(url, "-H", `X-Request-Id: ${bad}`);
          expect(r.ids).toHaveLength(1);
          expect(r.ids[0]).toMatch(UUID);
        }
      });
    }
  }

  test("two requests without an id get different ones", async () => {
    const a = await curl(`http://127.0.0.1:${ports.events}/health`);
    const b = await curl(`http://127.0.0.1:${ports.events}/health`);
    expect(a.ids[0]).not.toBe(b.ids[0]);
  });
});

describe("host-made refusals carry it too", () => {
  const raw = async (port: number, bytes: string) => {
    const c = await RawConn.open(port);
    try { return await c.request(bytes); } finally { c.terminate(); }
  };

  for (const plugin of ["gateway", "events", "security", "breaker"]) {
    // Wire fronts (gateway, events, security) refuse the head before its fields are parsed: the caller's id is found in the raw bytes.
    test(`${plugin}: a malformed Host is 400 with the caller's id`, async () => {
      const r = await raw(ports[plugin], "GET /health HTTP/1.1\r\nHost: a@b\r\nX-Request-Id: rid-host-1\r\n\r\n");
      expect(r.status).toBe(400);
      expect(r.header("x-request-id")).toBe("rid-host-1");
    });
    test(`${plugin}: a malformed head with an unacceptable id gets a fresh one`, async () => {
      const r = await raw(ports[plugin], "GET /health HTTP/1.1\r\nHost: a@b\r\nX-Request-Id: bad id with spaces\r\n\r\n");
      expect(r.status).toBe(400);
      expect(r.header("x-request-id")!).toMatch(UUID);
    });
  }

  test("gateway wire front: unparsable head, ambiguous framing, unknown method, huge head — all carry an id", async () => {
    const cases: [string, number, string | null][] = [
      ["GET /x HTTP/1.1\r\nHost: a\r\nbad header line\r\n\r\n", 400, null],
      ["POST /api/x HTTP/1.1\r\nHost: a\r\nX-Request-Id: rid-frame\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "rid-frame"],
      ["BREW /api/x HTTP/1.1\r\nHost: a\r\nX-Request-Id: rid-brew\r\n\r\n", 501, "rid-brew"],
      ["GET /x HTTP/1.1\r\nHost: a\r\nX-Big: " + "b".repeat(20_000) + "\r\n\r\n", 431, null],
    ];
    for (const [bytes, status, echoed] of cases) {
      const r = await raw(ports.gateway, bytes);
      expect(r.status).toBe(status);
      const id = r.header("x-request-id");
      expect(id).not.toBeNull();
      expect(REQUEST_ID_RE.test(id!)).toBe(true);
      if (echoed) expect(id).toBe(echoed);
      else expect(id!).toMatch(UUID);
    }
  });

  test("a body over the port's limit: 413 with an id (events publish, security, gateway)", async () => {
    const big = "x".repeat(9 * 1024 * 1024);
    const ev = await fetch(`http://127.0.0.1:${ports.events}/events`, { method: "POST", headers: { "content-type": "application/json", "x-request-id": "rid-413-ev" }, body: `{"type":"a","payload":"${big}"}` });
    expect(ev.status).toBe(413);
    expect(ev.headers.get("x-request-id")).toBe("rid-413-ev");
    const sec = await fetch(`http://127.0.0.1:${ports.security}/secrets/a`, { method: "PUT", headers: { "content-type": "application/json", "x-request-id": "rid-413-sec" }, body: `{"value":"${big}"}` });
    expect(sec.status).toBe(413);
    expect(sec.headers.get("x-request-id")).toBe("rid-413-sec");
    const gw = await curl(`http://127.0.0.1:${ports.gateway}/api/x`, "-XPOST", "-H", "X-Request-Id: rid-413-gw", "--data-binary", "y".repeat(8192));
    expect(gw.status).toBe(413);
    expect(gw.ids).toEqual(["rid-413-gw"]);
  });
});
