/**
 * Framing that cannot be confused (issue 11, items 2 and 3): a Connection header naming a field
 * that decides framing or routing is refused, never forwarded with that field dropped; control
 * bytes, non-SP/HTAB whitespace, obs-fold and bare CR in a head are 400s. The logging origin fails
 * a test when anything at all (or anything smuggled) reaches it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startLoggingOrigin } from "./support/logging-origin";
import { codeOf, exchange, leaks, shaped, startLanes, type Lane, type Lanes } from "./support/lanes";

const origin = startLoggingOrigin();
let L: Lanes;
beforeAll(async () => { L = await startLanes(origin); });
afterAll(async () => { await L.stop(); origin.stop(); });

/** The body that an origin reading no Content-Length would take for a second request. */
const SMUGGLED = "GET /api/smuggled HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n";
const lanes = (): Lane[] => L.lanes;
const LANE_NAMES = ["wire lane, pooled client", "wire lane, fetch client", "fetch lane (proxy/fetch-lane.ts)"];
const lane = (i: number) => lanes()[i];

const CONNECTION_CL = ["content-length", "Content-Length", "CONTENT-LENGTH", "\tcontent-length ", "close, Content-Length", "keep-alive,content-length", "te,  content-length", "content-length, close", "x-a, Content-length, x-b"];

for (const [i, name] of LANE_NAMES.entries()) {
  describe(`Connection naming a framing field: ${name}`, () => {
    for (const v of CONNECTION_CL) {
      test(`POST with Connection: ${JSON.stringify(v)} → 400, nothing reaches the origin`, async () => {
        origin.reset();
        const l = lane(i);
        const ex = await exchange(l.port, shaped(l, `POST ${l.prefix}/x HTTP/1.1\r\nHost: gw\r\nConnection: ${v}\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n`, SMUGGLED));
        expect(ex.responses[0]?.status).toBe(400);
        expect(codeOf(ex.responses[0])).toBe("GW_ERR_CONNECTION_NAMES_FRAMING");
        expect(ex.closed).toBe(true);
        expect(origin.requests.length).toBe(0);
        expect(leaks(origin)).toEqual([]);
      });
    }

    test("repeated Connection lines are read together", async () => {
      origin.reset();
      const l = lane(i);
      const ex = await exchange(l.port, shaped(l, `POST ${l.prefix}/x HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive\r\nContent-Length: ${SMUGGLED.length}\r\nconnection: content-length\r\n\r\n`, SMUGGLED));
      expect(codeOf(ex.responses[0])).toBe("GW_ERR_CONNECTION_NAMES_FRAMING");
      expect(leaks(origin)).toEqual([]);
      expect(origin.requests.length).toBe(0);
    });

    test("Connection: transfer-encoding on a chunked upload → 400", async () => {
      origin.reset();
      const l = lane(i);
      const ex = await exchange(l.port, [`POST ${l.prefix}/x HTTP/1.1\r\nHost: gw\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n`, `${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`]);
      expect(codeOf(ex.responses[0])).toBe("GW_ERR_CONNECTION_NAMES_FRAMING");
      expect(origin.requests.length).toBe(0);
      expect(leaks(origin)).toEqual([]);
    });

    for (const v of ["host", "Host", "close, HOST", "content-length"]) {
      test(`GET without a body, Connection: ${v} → 400`, async () => {
        origin.reset();
        const l = lane(i);
        const ex = await exchange(l.port, shaped(l, `GET ${l.prefix}/x HTTP/1.1\r\nHost: gw\r\nConnection: ${v}\r\n\r\n`));
        expect(codeOf(ex.responses[0])).toBe("GW_ERR_CONNECTION_NAMES_FRAMING");
        expect(origin.requests.length).toBe(0);
      });
    }

    test("hop-by-hop names that decide nothing are still dropped and the request forwarded (Connection: TE, x-private)", async () => {
      origin.reset();
      const l = lane(i);
      origin.allow((r) => r.target === `${l.prefix}/ok`);
      const ex = await exchange(l.port, shaped(l, `GET ${l.prefix}/ok HTTP/1.1\r\nHost: gw\r\nConnection: TE, x-private\r\nTE: trailers\r\nX-Private: secret\r\nX-Kept: yes\r\n\r\n`));
      expect(ex.responses[0]?.status).toBe(200);
      await origin.waitFor(1);
      const got = origin.requests[0];
      expect(got.header("x-kept")).toBe("yes");
      expect(got.header("x-private")).toBeUndefined();
      expect(got.header("te")).toBeUndefined();
      expect(leaks(origin)).toEqual([]);
    });
  });
}

describe("pipelined and keep-alive (wire lanes)", () => {
  for (const i of [0, 1]) {
    test(`${LANE_NAMES[i]}: a good request, then one naming Content-Length: the first is forwarded, the second refused, the connection closed`, async () => {
      origin.reset();
      const l = lane(i);
      origin.allow((r) => r.target === "/api/first");
      const bytes = "GET /api/first HTTP/1.1\r\nHost: gw\r\n\r\n"
        + `POST /api/second HTTP/1.1\r\nHost: gw\r\nConnection: content-length\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`
        + "GET /api/third HTTP/1.1\r\nHost: gw\r\n\r\n";
      const ex = await exchange(l.port, bytes, 3, 300);
      expect(ex.responses.map((r) => r.status)).toEqual([200, 400]);
      expect(codeOf(ex.responses[1])).toBe("GW_ERR_CONNECTION_NAMES_FRAMING");
      expect(ex.closed).toBe(true);
      expect(origin.requests.map((r) => r.target)).toEqual(["/api/first"]);
      expect(leaks(origin)).toEqual([]);
    });

    test(`${LANE_NAMES[i]}: keep-alive requests before the bad one all arrive intact, nothing after it`, async () => {
      origin.reset();
      const l = lane(i);
      origin.allow((r) => /^\/api\/k[0-9]$/.test(r.target));
      let bytes = "";
      for (let k = 0; k < 4; k++) bytes += `POST /api/k${k} HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nab${k}`;
      bytes += `POST /api/bad HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, Content-Length\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`;
      const ex = await exchange(l.port, bytes, 6, 300);
      expect(ex.responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 400]);
      expect(origin.requests.map((r) => r.body.toString())).toEqual(["ab0", "ab1", "ab2", "ab3"]);
      expect(leaks(origin)).toEqual([]);
    });
  }
});

describe("pipelined on the fetch lane (chunked uploads go through Bun.serve and proxy/fetch-lane.ts)", () => {
  test("a good chunked upload, then one whose Connection names Transfer-Encoding: first forwarded, second refused, nothing after", async () => {
    origin.reset();
    const l = lane(2);
    origin.allow((r) => r.target === "/fl/first" && r.body.toString() === "hello");
    const chunk = (b: string) => `${b.length.toString(16)}\r\n${b}\r\n0\r\n\r\n`;
    const ex = await exchange(l.port, [
      `POST /fl/first HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n`,
      chunk("hello") + `POST /fl/second HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n` + chunk(SMUGGLED)
        + "GET /fl/third HTTP/1.1\r\nHost: gw\r\n\r\n",
    ], 3, 300);
    expect(ex.responses.map((r) => r.status)).toEqual([200, 400]);
    expect(codeOf(ex.responses[1])).toBe("GW_ERR_CONNECTION_NAMES_FRAMING");
    expect(origin.requests.map((r) => r.target)).toEqual(["/fl/first"]);
    expect(leaks(origin)).toEqual([]);
  });
});

/** Heads the front refuses before any lane sees them. */
const LENIENT: [string, string][] = [
  ["vertical tab before chunked", "POST /api/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n"],
  ["vertical tab after chunked", "POST /api/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n"],
  ["form feed in Content-Length", "POST /api/x HTTP/1.1\r\nHost: gw\r\nContent-Length: \x0c3\r\n\r\nabc"],
  ["DEL in a value", "GET /api/x HTTP/1.1\r\nHost: gw\r\nX-A: a\x7fb\r\n\r\n"],
  ["ESC in a value", "GET /api/x HTTP/1.1\r\nHost: gw\r\nX-A: a\x1bb\r\n\r\n"],
  ["0x01 in a value", "GET /api/x HTTP/1.1\r\nHost: gw\r\nX-A: \x01\r\n\r\n"],
  ["NUL in a value", "GET /api/x HTTP/1.1\r\nHost: gw\r\nX-A: a\x00b\r\n\r\n"],
  ["bare CR in a value", "GET /api/x HTTP/1.1\r\nHost: gw\r\nX-A: a\rX-B: b\r\n\r\n"],
  ["bare CR ending the request line", "GET /api/x HTTP/1.1\rHost: gw\r\n\r\n"],
  ["obs-fold (space)", "GET /api/x HTTP/1.1\r\nHost: gw\r\nX-A: a\r\n b\r\n\r\n"],
  ["obs-fold (tab) of Transfer-Encoding", "POST /api/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding:\r\n\tchunked\r\n\r\n0\r\n\r\n"],
  ["space before the colon", "POST /api/x HTTP/1.1\r\nHost: gw\r\nContent-Length : 3\r\n\r\nabc"],
];

/** NBSP (0xA0) is obs-text, legal in values; no longer trimmed away, it makes the framing field unusable. */
const NBSP: [string, string][] = [
  ["NBSP after chunked", "POST /api/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\xa0\r\n\r\n0\r\n\r\n"],
  ["NBSP before a length", "POST /api/x HTTP/1.1\r\nHost: gw\r\nContent-Length: \xa03\r\n\r\nabc"],
];

describe("whitespace other than SP/HTAB is not trimmed from framing fields", () => {
  for (const [what, bytes] of NBSP) {
    test(what, async () => {
      origin.reset();
      const ex = await exchange(lane(0).port, bytes);
      expect(codeOf(ex.responses[0])).toBe("GW_ERR_AMBIGUOUS_LENGTH");
      expect(ex.closed).toBe(true);
      expect(origin.requests.length).toBe(0);
    });
  }
});

describe("lenient parsing is gone: 400 from the front, nothing forwarded", () => {
  for (const [what, bytes] of LENIENT) {
    for (const prefix of ["/api", "/fl"]) {
      test(`${what} (${prefix})`, async () => {
        origin.reset();
        const ex = await exchange(lane(0).port, bytes.replaceAll("/api/x", `${prefix}/x`));
        expect(ex.responses[0]?.status).toBe(400);
        expect(codeOf(ex.responses[0])).toBe("HOST_ERR_BAD_REQUEST");
        expect(ex.closed).toBe(true);
        expect(origin.requests.length).toBe(0);
        expect(leaks(origin)).toEqual([]);
      });
    }
  }

  test("HTAB and spaces around values are still fine", async () => {
    origin.reset();
    origin.allow((r) => r.target === "/api/tab");
    const ex = await exchange(lane(0).port, "POST /api/tab HTTP/1.1\r\nHost: gw\r\nContent-Length:\t 3 \t\r\nX-A: \ta b\t\r\n\r\nabc");
    expect(ex.responses[0]?.status).toBe(200);
    await origin.waitFor(1);
    expect(origin.requests[0].header("x-a")).toBe("a b");
    expect(origin.requests[0].body.toString()).toBe("abc");
  });
});
