/** The proxy path against real upstreams: headers in both directions, 404/405, timeouts (504), connect errors (502). */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startGateway, startUpstream, service, rawRequest, type Upstream } from "./support";
import { freePort, type TestHost } from "../../../test/support/harness";

let t: TestHost;
let base: string;
let echo: Upstream;
let slow: Upstream;
const deadPort = freePort();

beforeAll(async () => {
  echo = startUpstream((req) => {
    const u = new URL(req.url);
    if (u.pathname === "/hop") {
      return new Response("hop", { headers: { connection: "x-private, keep-alive", "x-private": "secret", "keep-alive": "timeout=5", "x-kept": "yes" } });
    }
    return Response.json({ path: u.pathname + u.search, method: req.method });
  });
  slow = startUpstream(async () => { await Bun.sleep(1500); return new Response("late"); });
  t = await startGateway(`    services:
${service("echo", "/echo", [echo.url], "        strip_prefix: true\n        health_check: { enabled: false }\n        methods: [GET, POST, HEAD]\n")}
${service("slow", "/slow", [slow.url], "        timeout: 300ms\n        health_check: { enabled: false }\n        retries: { attempts: 0 }\n")}
${service("dead", "/dead", [`http://127.0.0.1:${deadPort}`], "        health_check: { enabled: false }\n        retries: { attempts: 0 }\n")}
`);
  base = t.url("gateway");
});

afterAll(async () => {
  await t?.stop();
  echo?.stop();
  slow?.stop();
});

describe("routing", () => {
  test("strip_prefix forwards the rest of the path and the query", async () => {
    const r = await fetch(`${base}/echo/a/b?x=1&y=2`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ path: "/a/b?x=1&y=2", method: "GET" });
  });

  test("the prefix alone maps to /", async () => {
    expect(await (await fetch(`${base}/echo`)).json()).toMatchObject({ path: "/" });
  });

  test("a prefix matches whole segments only: /echoes is not /echo", async () => {
    const r = await fetch(`${base}/echoes`);
    expect(r.status).toBe(404);
    expect((await r.json()).error.code).toBe("GW_ERR_NO_ROUTE");
  });

  test("an unmatched path is a 404 with a coded JSON error and a request id", async () => {
    const r = await fetch(`${base}/nowhere`, { headers: { "x-request-id": "abc-123" } });
    expect(r.status).toBe(404);
    expect(r.headers.get("content-type")).toContain("application/json");
    expect(r.headers.get("x-request-id")).toBe("abc-123");
    expect(await r.json()).toEqual({ error: { code: "GW_ERR_NO_ROUTE", message: "no service is routed at /nowhere" } });
  });

  test("a method the service does not accept is 405", async () => {
    const r = await fetch(`${base}/echo/x`, { method: "DELETE" });
    expect(r.status).toBe(405);
    expect((await r.json()).error.code).toBe("GW_ERR_METHOD_NOT_ALLOWED");
  });

  test("dot segments on the wire are refused (400), never routed past the prefix", async () => {
    const before = echo.hits;
    const reply = await rawRequest(Number(new URL(base).port), "GET /echo/../admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(reply).toMatch(/^HTTP\/1.1 (400|404)/);
    expect(echo.hits).toBe(before);
  });
});

describe("headers", () => {
  test("forwarding headers are set and the request id and trace are propagated", async () => {
    const before = echo.seen.length;
    const trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const r = await fetch(`${base}/echo/h`, { headers: { "x-request-id": "req-42", traceparent: trace, "x-forwarded-for": "6.6.6.6" } });
    expect(r.status).toBe(200);
    expect(r.headers.get("x-request-id")).toBe("req-42");
    const seen = echo.seen[before].headers;
    expect(seen.get("x-request-id")).toBe("req-42");
    expect(seen.get("x-forwarded-for")).toBe("127.0.0.1"); // spoofed chain dropped: trust_forwarded is off
    expect(seen.get("x-forwarded-proto")).toBe("http");
    expect(seen.get("x-forwarded-host")).toBe(new URL(base).host);
    expect(seen.get("forwarded")).toBe(`for=127.0.0.1;proto=http;host="${new URL(base).host}"`);
    const tp = seen.get("traceparent")!;
    expect(tp).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    expect(tp).not.toBe(trace); // a new span id for our hop
    expect(seen.get("host")).toBe(new URL(echo.url).host);
  });

  test("a missing request id is generated and echoed; a fresh trace is started", async () => {
    const before = echo.seen.length;
    const r = await fetch(`${base}/echo/h2`);
    const id = r.headers.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(echo.seen[before].headers.get("x-request-id")).toBe(id!);
    expect(echo.seen[before].headers.get("traceparent")).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  test("hop-by-hop request headers (and those named by Connection) are not forwarded", async () => {
    const before = echo.seen.length;
    // fetch() refuses to send some of these itself, so use a raw socket.
    const port = new URL(base).port;
    const reply = await rawRequest(Number(port), `GET /echo/hop-req HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, x-secret-hop\r\nX-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\nX-Normal: 1\r\n\r\n`);
    expect(reply).toStartWith("HTTP/1.1 200");
    const seen = echo.seen[before].headers;
    expect(seen.get("x-normal")).toBe("1");
    for (const h of ["x-secret-hop", "keep-alive", "te", "upgrade", "proxy-connection"]) expect(seen.get(h)).toBeNull();
  });

  test("hop-by-hop response headers are stripped, others kept", async () => {
    const r = await fetch(`${base}/echo/hop`);
    expect(await r.text()).toBe("hop");
    expect(r.headers.get("x-kept")).toBe("yes");
    expect(r.headers.get("x-private")).toBeNull();
    expect(r.headers.get("keep-alive")).toBeNull();
  });
});

describe("failures", () => {
  test("an upstream slower than the route timeout is a 504 GW_ERR_PROXY_UPSTREAM_TIMEOUT, promptly", async () => {
    const t0 = performance.now();
    const r = await fetch(`${base}/slow/x`);
    const ms = performance.now() - t0;
    expect(r.status).toBe(504);
    expect((await r.json()).error.code).toBe("GW_ERR_PROXY_UPSTREAM_TIMEOUT");
    expect(ms).toBeLessThan(1400); // well before the upstream's 1.5 s answer
  });

  test("a refused connection is a 502 GW_ERR_PROXY_UPSTREAM_CONNECT", async () => {
    const r = await fetch(`${base}/dead/x`);
    expect(r.status).toBe(502);
    const body = await r.json();
    expect(body.error.code).toBe("GW_ERR_PROXY_UPSTREAM_CONNECT");
    expect(body.error.message).toContain("dead");
  });

  test("/services is served by the gateway, not proxied", async () => {
    const r = await fetch(`${base}/services`);
    expect(r.status).toBe(200);
    const names = (await r.json()).services.map((s: { name: string }) => s.name);
    expect(names).toEqual(["echo", "slow", "dead"]);
  });
});
