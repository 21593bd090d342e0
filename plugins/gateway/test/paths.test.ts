/**
 * One normalised path (issue 11, item 5 / Build 5): encoded slashes and dot segments, backslashes,
 * NUL and invalid UTF-8 are refused (400 GW_ERR_BAD_PATH) on every lane; what is forwarded is
 * exactly the normalised path that was routed, the query as sent; `path_escapes: keep` per route.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startLoggingOrigin } from "../../../test/security/support/logging-origin";
import { codeOf, exchange, leaks, shaped, startLanes, type Lanes } from "../../../test/security/support/lanes";
import { service } from "./support";

const origin = startLoggingOrigin();
let L: Lanes;
const QUIET = "        health_check: { enabled: false }\n        retries: { attempts: 0 }\n";
beforeAll(async () => {
  L = await startLanes(origin, "", service("keepw", "/kapi", [origin.url], QUIET + "        path_escapes: keep\n")
    + service("keeps", "/kfl", [origin.url], QUIET + "        path_escapes: keep\n        bulkhead: { max_concurrent: 64 }\n"));
});
afterAll(async () => { await L.stop(); origin.stop(); });

const LANES = ["wire lane, pooled client", "wire lane, fetch client", "fetch lane (proxy/fetch-lane.ts)"];

/** [path after the prefix, why] — every one of these must be refused. */
const REFUSED: string[] = [
  "/%2e%2e/metrics", "/%2E%2E/metrics", "/.%2e/metrics", "/%2e./metrics", "/%2E./%2e%2E/metrics", "/a/%2e%2e%2f%2e%2e/metrics",
  "/%2e/x", "/x/%2e%2e", "/..%2fmetrics", "/a%2fb", "/a%2Fb", "/a%5cb", "/%5C..%5Cmetrics",
  "/..\\metrics", "/a\\b", "/a%00b", "/%00", "/%c0%ae%c0%ae/metrics", "/%c0%af", "/%e0%80%ae", "/%C1%9C",
  "/%80", "/%ed%a0%80", "/%zz", "/%4", "/a%",
];

for (const [i, name] of LANES.entries()) {
  describe(`refused paths: ${name}`, () => {
    for (const rest of REFUSED) {
      test(rest, async () => {
        origin.reset();
        const l = L.lanes[i];
        const ex = await exchange(l.port, shaped(l, `GET ${l.prefix}${rest} HTTP/1.1\r\nHost: gw\r\n\r\n`));
        expect(ex.responses[0]?.status).toBe(400);
        expect(codeOf(ex.responses[0])).toBe("GW_ERR_BAD_PATH");
        expect(origin.requests.length).toBe(0);
        expect(leaks(origin)).toEqual([]);
      });
    }

    test("a refused path on a POST with a body: nothing forwarded", async () => {
      origin.reset();
      const l = L.lanes[i];
      const ex = await exchange(l.port, shaped(l, `POST ${l.prefix}/%2e%2e/metrics HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n\r\n`, "hello"));
      expect(codeOf(ex.responses[0])).toBe("GW_ERR_BAD_PATH");
      expect(origin.requests.length).toBe(0);
    });

    const FORWARDED: [string, string][] = [
      ["//a/./b/../c%41", "/a/cA"],
      ["/a//b///c/", "/a/b/c/"],
      ["/%7euser/%2D%5F", "/~user/-_"],
      ["/%252e%252e/x", "/%252e%252e/x"],
      ["/caf%C3%A9/%20x", "/caf%C3%A9/%20x"],
      ["/a/b/..", "/a/"],
    ];
    for (const [rest, want] of FORWARDED) {
      test(`${rest} is routed and forwarded as ${want}; the query as sent`, async () => {
        origin.reset();
        const l = L.lanes[i];
        const query = "?next=%2e%2e/x&b=a%2fb//c";
        origin.allow((r) => r.target === `${l.prefix}${want}${query}`);
        const ex = await exchange(l.port, shaped(l, `GET ${l.prefix}${rest}${query} HTTP/1.1\r\nHost: gw\r\n\r\n`));
        expect(ex.responses[0]?.status).toBe(200);
        await origin.waitFor(1);
        expect(origin.requests.map((r) => r.target)).toEqual([`${l.prefix}${want}${query}`]);
        expect(leaks(origin)).toEqual([]);
      });
    }

    test("literal dot segments are resolved before routing: the route is the one the resolved path names", async () => {
      origin.reset();
      const l = L.lanes[i];
      const other = l.prefix === "/api" ? "/fl" : "/api";
      origin.allow((r) => r.target === `${other}/x`);
      const ex = await exchange(l.port, shaped(l, `GET ${l.prefix}/../${other.slice(1)}/x HTTP/1.1\r\nHost: gw\r\n\r\n`));
      expect(ex.responses[0]?.status).toBe(200);
      await origin.waitFor(1);
      expect(origin.requests.map((r) => r.target)).toEqual([`${other}/x`]);
      expect(leaks(origin)).toEqual([]);
    });

    for (const rest of ["/../../services", "/../../services/wire", "/..//auth/login"]) {
      test(`${rest}: a spelling of the gateway's own path is refused, not routed`, async () => {
        origin.reset();
        const l = L.lanes[i];
        const ex = await exchange(l.port, shaped(l, `GET ${l.prefix}${rest} HTTP/1.1\r\nHost: gw\r\n\r\n`));
        expect(codeOf(ex.responses[0])).toBe("GW_ERR_BAD_PATH");
        expect(origin.requests.length).toBe(0);
      });
    }

    test("dots cannot climb above the root into the gateway's own paths", async () => {
      origin.reset();
      const l = L.lanes[i];
      const ex = await exchange(l.port, shaped(l, `GET ${l.prefix}/../../../x HTTP/1.1\r\nHost: gw\r\n\r\n`));
      expect(codeOf(ex.responses[0])).toBe("GW_ERR_NO_ROUTE");
      expect(origin.requests.length).toBe(0);
    });
  });
}

describe("path_escapes: keep (per route)", () => {
  const KEEP = [
    { name: LANES[0], lane: 0, prefix: "/kapi" },
    { name: LANES[1], lane: 1, prefix: "/kapi" },
    { name: LANES[2], lane: 2, prefix: "/kfl" },
  ];
  for (const k of KEEP) {
    const kept: [string, string][] = [["/a%2fb", "/a%2fb"], ["/a%5Cb", "/a%5Cb"]];
    // Bun's fetch() resolves encoded dots and backslashes itself: with that client they stay refused. The
    // fetch lane runs on the fetch-client gateway (lanes.ts: the pooled one's wire lane takes everything, #17).
    const fetchResolves: [string, string][] = [["//%2e%2e/./x", "/%2e%2e/x"], ["/a\\b/%2E", "/a\\b/%2E"]];
    if (k.lane === 0) kept.push(...fetchResolves);
    else {
      for (const [rest] of fetchResolves) {
        test(`${k.name}: ${rest} is refused (the fetch client would resolve it)`, async () => {
          origin.reset();
          const l = { ...L.lanes[k.lane], prefix: k.prefix };
          const ex = await exchange(l.port, shaped(l, `GET ${k.prefix}${rest} HTTP/1.1\r\nHost: gw\r\n\r\n`));
          expect(codeOf(ex.responses[0])).toBe("GW_ERR_BAD_PATH");
          expect(origin.requests.length).toBe(0);
        });
      }
    }
    for (const [rest, want] of kept) {
      test(`${k.name}: ${rest} is forwarded as ${want}`, async () => {
        origin.reset();
        const l = { ...L.lanes[k.lane], prefix: k.prefix };
        origin.allow((r) => r.target === `${k.prefix}${want}`);
        const ex = await exchange(l.port, shaped(l, `GET ${k.prefix}${rest} HTTP/1.1\r\nHost: gw\r\n\r\n`));
        expect(ex.responses[0]?.status).toBe(200);
        await origin.waitFor(1);
        expect(origin.requests.map((r) => r.target)).toEqual([`${k.prefix}${want}`]);
      });
    }
    for (const rest of ["/a%00", "/%c0%ae%c0%ae/x", "/%zz"]) {
      test(`${k.name}: ${rest} is refused even so`, async () => {
        origin.reset();
        const l = { ...L.lanes[k.lane], prefix: k.prefix };
        const ex = await exchange(l.port, shaped(l, `GET ${k.prefix}${rest} HTTP/1.1\r\nHost: gw\r\n\r\n`));
        expect(codeOf(ex.responses[0])).toBe("GW_ERR_BAD_PATH");
        expect(origin.requests.length).toBe(0);
      });
    }
  }

  test("a keep route does not lend its switch to a path that only reaches another route", async () => {
    origin.reset();
    const ex = await exchange(L.lanes[0].port, "GET /api/a%2fb HTTP/1.1\r\nHost: gw\r\n\r\n");
    expect(codeOf(ex.responses[0])).toBe("GW_ERR_BAD_PATH");
    expect(origin.requests.length).toBe(0);
  });
});
