/**
 * Methods (issue 11, items 2 and 3): RFC 9110 tokens only, case-sensitive, per route an allowed
 * list (default GET HEAD POST PUT DELETE PATCH OPTIONS). A known method a route does not take is
 * 405 with Allow; an unknown one (`get`, `FOO`) is 501; neither reaches the origin, so a client
 * cannot make an upstream fail (and count against its breaker) with a method it would choke on.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startLoggingOrigin } from "../../../test/security/support/logging-origin";
import { codeOf, exchange, leaks, shaped, startLanes, type Lane, type Lanes } from "../../../test/security/support/lanes";
import { service } from "./support";

const origin = startLoggingOrigin();
let L: Lanes;
const QUIET = "        health_check: { enabled: false }\n        retries: { attempts: 0 }\n";
beforeAll(async () => {
  L = await startLanes(origin, "",
    service("getonly", "/ro", [origin.url], QUIET + "        methods: [GET]\n")
    + service("dav", "/dav", [origin.url], QUIET + "        methods: [GET, PROPFIND, M-SEARCH, TRACE]\n"));
});
afterAll(async () => { await L.stop(); origin.stop(); });

const LANES = ["wire lane, pooled client", "wire lane, fetch client", "fetch lane (proxy/fetch-lane.ts)"];
const STANDARD = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS";

async function send(l: Lane, method: string, path: string, body = "") {
  const head = `${method} ${path} HTTP/1.1\r\nHost: gw\r\n${body ? `Content-Length: ${body.length}\r\n` : ""}\r\n`;
  return exchange(l.port, shaped(l, head, body), 1, 100, method);
}

for (const [i, name] of LANES.entries()) {
  describe(name, () => {
    for (const m of ["get", "Get", "post", "gET", "FOO", "BREW", "propfind", "X-CUSTOM", "GET2"]) {
      test(`${m} → 501 GW_ERR_METHOD_NOT_IMPLEMENTED, never sent upstream`, async () => {
        origin.reset();
        const l = L.lanes[i];
        const ex = await send(l, m, `${l.prefix}/x`, m === "post" ? "abc" : "");
        expect(ex.responses[0]?.status).toBe(501);
        // The slow lane's Bun.serve cannot parse these methods: the host's front answers before it.
        expect(codeOf(ex.responses[0])).toBe(l.slow ? "HOST_ERR_METHOD_NOT_IMPLEMENTED" : "GW_ERR_METHOD_NOT_IMPLEMENTED");
        expect(origin.requests.length).toBe(0);
        expect(leaks(origin)).toEqual([]);
      });
    }

    for (const m of ["TRACE", "CONNECT", "PROPFIND", "M-SEARCH"]) {
      test(`${m} (a method the gateway knows, not listed for this route) → 405 with Allow`, async () => {
        origin.reset();
        const l = L.lanes[i];
        const ex = await send(l, m, `${l.prefix}/x`);
        expect(ex.responses[0]?.status).toBe(405);
        expect(codeOf(ex.responses[0])).toBe("GW_ERR_METHOD_NOT_ALLOWED");
        expect(ex.responses[0]?.header("allow")).toBe(STANDARD);
        expect(origin.requests.length).toBe(0);
      });
    }

    for (const m of ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
      test(`${m} is a standard method: forwarded by default`, async () => {
        origin.reset();
        const l = L.lanes[i];
        origin.allow((r) => r.method === m && r.target === `${l.prefix}/ok`);
        const ex = await send(l, m, `${l.prefix}/ok`, m === "POST" || m === "PUT" || m === "PATCH" ? "data" : "");
        expect(ex.responses[0]?.status).toBe(200);
        await origin.waitFor(1);
        expect(origin.requests.map((r) => r.method)).toEqual([m]);
        expect(leaks(origin)).toEqual([]);
      });
    }
  });
}

describe("per-route method lists", () => {
  // Lanes 0 and 1 are the wire lane; HTTP/1.0 (shaped with slow) on the fetch-client gateway takes them to the fetch lane.
  const lanes = () => [L.lanes[0], L.lanes[1], { ...L.lanes[1], slow: true, name: "fetch lane" }];
  for (const k of [0, 1, 2]) {
    test(`lane ${k}: a GET-only route answers 405 Allow: GET to POST, HEAD, DELETE`, async () => {
      for (const m of ["POST", "HEAD", "DELETE"]) {
        origin.reset();
        const ex = await send({ ...lanes()[k], prefix: "/ro" }, m, "/ro/x", m === "POST" ? "abc" : "");
        expect([m, ex.responses[0]?.status, ex.responses[0]?.header("allow")]).toEqual([m, 405, "GET"]);
        expect(origin.requests.length).toBe(0);
      }
    });

    test(`lane ${k}: listed extension methods are forwarded (PROPFIND, M-SEARCH, TRACE); case still matters`, async () => {
      origin.reset();
      origin.allow((r) => r.target === "/dav/x");
      for (const m of ["PROPFIND", "M-SEARCH", "TRACE"]) {
        const ex = await send({ ...lanes()[k], prefix: "/dav" }, m, "/dav/x");
        expect([m, ex.responses[0]?.status]).toEqual([m, 200]);
      }
      await origin.waitFor(3);
      expect(origin.requests.map((r) => r.method)).toEqual(["PROPFIND", "M-SEARCH", "TRACE"]);
      const low = await send({ ...lanes()[k], prefix: "/dav" }, "propfind", "/dav/x");
      expect(low.responses[0]?.status).toBe(501);
      const post = await send({ ...lanes()[k], prefix: "/dav" }, "POST", "/dav/x", "a");
      expect(post.responses[0]?.header("allow")).toBe("GET, PROPFIND, M-SEARCH, TRACE");
      expect(leaks(origin)).toEqual([]);
    });
  }
});

describe("methods that are not tokens never get past the front", () => {
  for (const m of ["G(T", "GE\x01T", "G\u00e9T", "GET/", "G\"T", "[GET]"]) {
    test(JSON.stringify(m), async () => {
      origin.reset();
      const ex = await exchange(L.lanes[0].port, `${m} /api/x HTTP/1.1\r\nHost: gw\r\n\r\n`);
      expect(ex.responses[0]?.status).toBe(400);
      expect(codeOf(ex.responses[0])).toBe("HOST_ERR_BAD_REQUEST");
      expect(origin.requests.length).toBe(0);
    });
  }
});

test("a stream of refused methods leaves the upstream's record clean: the next good request goes through", async () => {
  origin.reset();
  for (let k = 0; k < 12; k++) {
    const ex = await send(L.lanes[0], k % 2 ? "get" : "FOO", "/api/x");
    expect(ex.responses[0]?.status).toBe(501);
  }
  origin.allow((r) => r.target === "/api/after");
  const ok = await send(L.lanes[0], "GET", "/api/after");
  expect(ok.responses[0]?.status).toBe(200);
  await origin.waitFor(1);
  expect(origin.requests.map((r) => r.target)).toEqual(["/api/after"]);
});
