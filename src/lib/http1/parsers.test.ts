/**
 * The HTTP/1.1 byte parsers of the wire lane, unit by unit: request heads (parseRequestHead),
 * body framing (BodyFramer) and response heads (scanResponseHead, checked against parseResponseHead
 * on the same bytes wherever both answer).
 */
import { describe, test, expect } from "bun:test";
import { CRLFCRLF, MalformedHead, parseRequestHead, parseResponseHead, responseHasNoBody, type RequestHead } from "./head";
import { BodyFramer, FRAMER_ERROR, FRAMER_MORE } from "./framer";
import { ResponseScan, keptHeadSize, scanResponseHead, writeKeptHead } from "./response-scan";
import { PairHeaders } from "./pair-headers";
import { FRAMING_FIELDS, HOP_BY_HOP } from "./hop-by-hop";

/** Parse a whole head given as text (latin1), with some junk before it to prove offsets are honoured. */
function req(text: string, prefix = "XX"): RequestHead {
  const buf = Buffer.from(prefix + text, "latin1");
  const end = buf.indexOf(CRLFCRLF, prefix.length);
  if (end === -1) throw new Error("test input has no blank line");
  return parseRequestHead(buf, prefix.length, end);
}

function malformed(text: string): string {
  try {
    req(text);
  } catch (err) {
    expect(err).toBeInstanceOf(MalformedHead);
    return (err as MalformedHead).reason;
  }
  throw new Error(`expected MalformedHead for ${JSON.stringify(text)}`);
}

describe("parseRequestHead", () => {
  test("a plain GET: method, target, version, headers, offsets", () => {
    const text = "GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\nBODY";
    const h = req(text);
    expect(h.method).toBe("GET");
    expect(h.target).toBe("/a/b?x=1&y=%20");
    expect(h.minor).toBe(1);
    expect(h.headers.get("host")).toBe("example.com");
    expect(h.headers.get("accept")).toBe("*/*");
    expect(h.contentLength).toBe(-1);
    expect(h.chunked).toBe(false);
    expect(h.framing).toBeUndefined();
    expect(h.keepAlive).toBe(true);
    expect(h.special).toBe(false);
    expect(h.ascii).toBe(true);
    // bodyStart is absolute in the buffer (prefix "XX" + head + CRLFCRLF)
    const buf = Buffer.from("XX" + text, "latin1");
    expect(buf.toString("latin1", h.bodyStart)).toBe("BODY");
    expect(h.headerBytes).toBe("\r\nHost: example.com\r\nAccept: */*".length);
  });

  test("names are lower-cased, values trimmed, order kept", () => {
    const h = req("POST /x HTTP/1.1\r\nHOST: h\r\nX-Mixed-Case:   v1  \r\nContent-LENGTH: 12\r\n\r\n");
    expect(h.headers.pairs).toEqual(["host", "h", "x-mixed-case", "v1", "content-length", "12"]);
    expect(h.headers.get("X-Mixed-Case")).toBeNull(); // lookups are by lower-case name
    expect(h.contentLength).toBe(12);
  });

  test("names in any case come out lower-cased, common or not; a name only as long as a common one stays itself", () => {
    const names = ["Host", "USER-AGENT", "Accept-Encoding", "x-REQUEST-id", "Sec-WebSocket-Key", "TE", "X-Custom-Thing", "x_request_id", "x-request-ie", "Hosts", "Ho-t", "ACCEPT~", "A^B"];
    const head = "GET / HTTP/1.1\r\n" + names.map((n, i) => `${n.toLowerCase() === "host" ? "Host" : n}: v${i}\r\n`).join("") + "\r\n";
    const h = req(head);
    expect(h.headers.pairs.filter((_, i) => i % 2 === 0)).toEqual(names.map((n) => n.toLowerCase()));
    expect(h.headers.get("x_request_id")).toBe("v7");
    expect(h.headers.get("x-request-id")).toBe("v3");
    expect(h.headers.get("te")).toBe("v5");
  });

  test("repeated headers: get joins with ', ', forEach sees each line", () => {
    const h = req("GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\nX-Other: o\r\naccept: b\r\nACCEPT: c\r\n\r\n");
    expect(h.headers.get("accept")).toBe("a, b, c");
    expect(h.headers.has("accept")).toBe(true);
    expect(h.headers.has("missing")).toBe(false);
    const seen: string[] = [];
    h.headers.forEach((v, n) => seen.push(`${n}=${v}`));
    expect(seen).toEqual(["host=h", "accept=a", "x-other=o", "accept=b", "accept=c"]);
    expect(new PairHeaders([]).get("x")).toBeNull();
  });

  test("framing problems are reported, not thrown", () => {
    const both = req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
    expect(both.framing).toBe("both");
    expect(both.contentLength).toBe(-1);
    expect(both.chunked).toBe(false);
    expect(req("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n").framing).toBe("both");

    expect(req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n").framing).toBe("duplicate-length");
    expect(req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n").framing).toBe("duplicate-length");

    for (const v of ["abc", "-1", "+5", "5 5", "0x10", "1234567890123456", ""]) {
      const h = req(`POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ${v}\r\n\r\n`);
      expect([v, h.framing]).toEqual([v, "bad-length"]);
      expect(h.contentLength).toBe(-1);
    }

    for (const te of ["gzip", "chunked, chunked", "gzip, chunked", "identity", "chunkedx"]) {
      expect([te, req(`POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ${te}\r\n\r\n`).framing]).toEqual([te, "bad-transfer-encoding"]);
    }
    expect(req("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n").framing).toBe("bad-transfer-encoding");
    expect(req("POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n").framing).toBe("bad-transfer-encoding");

    const ok = req("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n");
    expect(ok.framing).toBeUndefined();
    expect(ok.chunked).toBe(true);
    expect(ok.contentLength).toBe(-1);
    const zero = req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    expect([zero.framing, zero.contentLength]).toEqual([undefined, 0]);
  });

  test("malformed heads throw MalformedHead", () => {
    expect(malformed("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n  folded\r\n\r\n")).toMatch(/fold/);
    expect(malformed("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n\tfolded\r\n\r\n")).toMatch(/fold/);
    expect(malformed("GET / HTTP/1.1\r\nHost : h\r\n\r\n")).toMatch(/header name/);
    expect(malformed("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n")).toMatch(/header name/);
    expect(malformed("GET / HTTP/1.1\r\nNoColonHere\r\n\r\n")).toMatch(/colon/);
    expect(malformed("GET / HTTP/1.1\r\n: empty-name\r\n\r\n")).toMatch(/header name/);
    expect(malformed("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n")).toMatch(/control/);
    expect(malformed("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n")).toMatch(/control/);
    expect(malformed("GET / HTTP/1.1\r\nX-A: a\nX-B: b\r\n\r\n")).toMatch(/control/);
    // bad methods
    expect(malformed("G(T / HTTP/1.1\r\nHost: h\r\n\r\n")).toMatch(/method/);
    expect(malformed("G\u00e9T / HTTP/1.1\r\nHost: h\r\n\r\n")).toMatch(/method/);
    expect(malformed(" GET / HTTP/1.1\r\nHost: h\r\n\r\n")).toMatch(/request line/);
    // bad targets
    expect(malformed("GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n")).toMatch(/target/);
    expect(malformed("GET /caf\u00e9 HTTP/1.1\r\nHost: h\r\n\r\n")).toMatch(/target/);
    expect(malformed("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n")).toMatch(/version/);
    expect(malformed("GET  / HTTP/1.1\r\nHost: h\r\n\r\n")).toBeTruthy();
    // versions
    expect(malformed("GET / HTTP/2.0\r\nHost: h\r\n\r\n")).toMatch(/version/);
    expect(malformed("GET / HTTP/1.2\r\nHost: h\r\n\r\n")).toMatch(/version/);
    expect(malformed("GET / http/1.1\r\nHost: h\r\n\r\n")).toMatch(/version/);
    expect(malformed("GET / HTTP/1.1 \r\nHost: h\r\n\r\n")).toMatch(/version/);
    expect(malformed("GET / HTTP/1.10\r\nHost: h\r\n\r\n")).toMatch(/version/);
    expect(malformed("GET / HTTP/1.\r\nHost: h\r\n\r\n")).toMatch(/version/);
    expect(malformed("GET / HTTP/1.0x\r\nHost: h\r\n\r\n")).toMatch(/version/);
    expect(malformed("GET /\r\nHost: h\r\n\r\n")).toMatch(/request line/);
    expect(malformed("GET / HTTP/1.1\nHost: h\r\n\r\n")).toBeTruthy(); // bare LF after the request line
    // two Host fields (any case)
    expect(malformed("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n")).toMatch(/Host/);
    expect(malformed("GET / HTTP/1.1\r\nHost: a\r\nHOST: a\r\n\r\n")).toMatch(/Host/);
  });

  test("control bytes other than HTAB, and DEL, are refused in any field value (issue 11)", () => {
    for (const c of [0x01, 0x08, 0x0b, 0x0c, 0x1b, 0x1f, 0x7f]) {
      expect([c, malformed(`GET / HTTP/1.1\r\nHost: h\r\nX-A: a${String.fromCharCode(c)}b\r\n\r\n`)]).toEqual([c, expect.stringMatching(/control/)]);
    }
    expect(malformed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \x0bchunked\r\n\r\n")).toMatch(/transfer-encoding.*control/);
    expect(malformed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\x0c\r\n\r\n")).toMatch(/control/);
    expect(req("GET / HTTP/1.1\r\nHost: h\r\nX-A: \ta\tb\t\r\n\r\n").headers.get("x-a")).toBe("a\tb");
  });

  test("only SP and HTAB are trimmed around values: NBSP makes a framing field unusable, not 'chunked'", () => {
    expect(req("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\xa0\r\n\r\n").framing).toBe("bad-transfer-encoding");
    expect(req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \xa05\r\n\r\n").framing).toBe("bad-length");
    expect(req("GET / HTTP/1.1\r\nHost: h\r\nX-A: \xa0v\xa0\r\n\r\n").headers.get("x-a")).toBe("\xa0v\xa0");
  });

  test("Host: one, well-formed (no userinfo, '/', spaces, commas, bad port), not empty", () => {
    for (const h of ["a/b@c", "u@h", "u:p@h", "a b", "a,b", "a\\b", "a?b", "a#b", "h:99999", "h:", "h:8o", "h:80:80", ":80", "[zz]", "[::1", "[1]", "a..b", "a%20b", "", "\xe9t\xe9"]) {
      expect([h, malformed(`GET / HTTP/1.1\r\nHost: ${h}\r\n\r\n`)]).toEqual([h, expect.stringMatching(/Host/)]);
    }
    expect(malformed("GET / HTTP/1.0\r\nHost: a@b\r\n\r\n")).toMatch(/Host/);
    for (const h of ["a", "ab", "example.com", "a-b.c_d~e", "h:1", "h:65535", "[::1]", "[::1]:8000", "[2001:db8::7]", "127.0.0.1:80"]) {
      expect(req(`GET / HTTP/1.1\r\nHost: ${h}\r\n\r\n`).headers.get("host")).toBe(h);
    }
    expect(req("GET / HTTP/1.0\r\n\r\n").headers.has("host")).toBe(false);
  });

  test("lower-case and extension methods are tokens and accepted", () => {
    expect(req("PURGE /x HTTP/1.1\r\nHost: h\r\n\r\n").method).toBe("PURGE");
    expect(req("get /x HTTP/1.1\r\nHost: h\r\n\r\n").method).toBe("get");
    // The common methods come out whole whatever their neighbours: not a prefix of a longer one, nor one of a shorter.
    for (const m of ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "GETS", "POS", "PUTT", "DELET", "HEADER", "PATC", "OPTION", "Get", "pUT"]) {
      expect(req(`${m} /x HTTP/1.0\r\n\r\n`).method).toBe(m);
      expect(req(`${m} /x HTTP/1.1\r\nHost: h\r\n\r\n`).minor).toBe(1);
    }
  });

  test("keep-alive: HTTP/1.1 default on, Connection: close off; HTTP/1.0 default off, keep-alive on", () => {
    expect(req("GET / HTTP/1.1\r\nHost: h\r\n\r\n").keepAlive).toBe(true);
    expect(req("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").keepAlive).toBe(false);
    expect(req("GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, CLOSE\r\n\r\n").keepAlive).toBe(false);
    expect(req("GET / HTTP/1.1\r\nHost: h\r\nConnection: x-foo\r\nConnection: close\r\n\r\n").keepAlive).toBe(false);
    expect(req("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed-caption\r\n\r\n").keepAlive).toBe(true);
    const h10 = req("GET / HTTP/1.0\r\nHost: h\r\n\r\n");
    expect([h10.minor, h10.keepAlive]).toEqual([0, false]);
    expect(req("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keepAlive).toBe(true);
    expect(req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keepAlive).toBe(true);
    expect(req("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").keepAlive).toBe(false);
  });

  test("Upgrade / Expect mark the head special", () => {
    expect(req("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n").special).toBe(true);
    expect(req("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n").special).toBe(true);
  });

  test("a non-ASCII byte in a value: ascii false, the value keeps the byte as latin1", () => {
    const h = req("GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\u00e9\r\n\r\n");
    expect(h.ascii).toBe(false);
    expect(h.headers.get("x-name")).toBe("caf\u00e9");
    expect([...Buffer.from(h.headers.get("x-name")!, "latin1")]).toEqual([0x63, 0x61, 0x66, 0xe9]);
    // UTF-8 bytes too (two bytes above 0x7f)
    const buf = Buffer.concat([Buffer.from("GET / HTTP/1.1\r\nHost: h\r\nX-U: "), Buffer.from("é", "utf8"), Buffer.from("\r\n\r\n")]);
    const u = parseRequestHead(buf, 0, buf.indexOf(CRLFCRLF));
    expect(u.ascii).toBe(false);
    expect([...Buffer.from(u.headers.get("x-u")!, "latin1")]).toEqual([0xc3, 0xa9]);
  });

  test("a head with no header lines at all: fine for HTTP/1.0, refused for HTTP/1.1 (Host is required)", () => {
    const h = req("GET / HTTP/1.0\r\n\r\n");
    expect(h.headers.pairs).toEqual([]);
    expect(h.target).toBe("/");
    expect(() => req("GET / HTTP/1.1\r\n\r\n")).toThrow(MalformedHead);
    expect(() => req("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n")).toThrow(/Host/);
  });
});

// ---- BodyFramer -----------------------------------------------------------------------------------

/** Feed `bytes` to a framer in slices cut at `cuts`; return the absolute end offset (or the error code). */
function feed(framer: BodyFramer, bytes: Buffer, cuts: number[]): number {
  let prev = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut <= prev) continue;
    const r = framer.advance(bytes, prev, cut);
    if (r === FRAMER_ERROR) return FRAMER_ERROR;
    if (r !== FRAMER_MORE) return r;
    prev = cut;
  }
  return FRAMER_MORE;
}

const CHUNKED_BODY =
  "5;name=value;other=\"quoted;x\"\r\nhello\r\n" +
  "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n" +
  "a \t;ext\r\n0123456789\r\n" +
  "4\r\n\r\n\r\n\r\n" + // data that is itself CRLFCRLF
  "0;last=1\r\n" +
  "X-Checksum: abc\r\n" +
  "X-Other: 1\r\n" +
  "\r\n";

describe("BodyFramer", () => {
  test("length: split across many buffers (separate Buffers, offsets inside each)", () => {
    const f = new BodyFramer().length(10);
    expect(f.done).toBe(false);
    const parts = ["ab", "c", "defg", "hi"];
    for (const p of parts) {
      const b = Buffer.from("##" + p);
      expect(f.advance(b, 2, b.length)).toBe(FRAMER_MORE);
    }
    const last = Buffer.from("jNEXT");
    expect(f.advance(last, 0, last.length)).toBe(1); // one byte taken, "NEXT" is not the body's
    expect(f.done).toBe(true);
    expect(f.advance(last, 1, last.length)).toBe(1); // done: nothing more is consumed
  });

  test("length 0 and none are done at once; untilClose never ends", () => {
    const b = Buffer.from("xyz");
    expect(new BodyFramer().length(0).advance(b, 0, 3)).toBe(0);
    expect(new BodyFramer().none().advance(b, 1, 3)).toBe(1);
    const u = new BodyFramer().untilClose();
    expect(u.closeDelimited).toBe(true);
    expect(u.advance(b, 0, 3)).toBe(FRAMER_MORE);
    expect(u.done).toBe(false);
  });

  test("chunked: whole body in one buffer returns its exact end, bytes after it untouched", () => {
    const tail = "GET /next HTTP/1.1\r\n\r\n";
    const b = Buffer.from("PRE" + CHUNKED_BODY + tail, "latin1");
    const f = new BodyFramer().chunked();
    expect(f.advance(b, 3, b.length)).toBe(3 + CHUNKED_BODY.length);
    expect(f.done).toBe(true);
    expect(b.toString("latin1", 3 + CHUNKED_BODY.length)).toBe(tail);
  });

  test("chunked: split at every single byte boundary (2 pieces) gives the same end", () => {
    const b = Buffer.from(CHUNKED_BODY + "NEXT", "latin1");
    for (let cut = 1; cut < CHUNKED_BODY.length + 4; cut++) {
      const f = new BodyFramer().chunked();
      expect([cut, feed(f, b, [cut])]).toEqual([cut, CHUNKED_BODY.length]);
    }
  });

  test("chunked: fed one byte at a time, every prefix is MORE and the last byte ends it", () => {
    const b = Buffer.from(CHUNKED_BODY + "NEXT", "latin1");
    const f = new BodyFramer().chunked();
    for (let i = 0; i < CHUNKED_BODY.length - 1; i++) expect([i, f.advance(b, i, i + 1)]).toEqual([i, FRAMER_MORE]);
    expect(f.advance(b, CHUNKED_BODY.length - 1, b.length)).toBe(CHUNKED_BODY.length);
  });

  test("chunked: split at every pair of boundaries, each piece its own Buffer copy", () => {
    const body = Buffer.from(CHUNKED_BODY, "latin1");
    const n = body.length;
    for (let a = 1; a < n; a += 3) {
      for (let c = a + 1; c < n; c += 5) {
        const f = new BodyFramer().chunked();
        const pieces = [body.subarray(0, a), body.subarray(a, c), Buffer.concat([body.subarray(c), Buffer.from("ZZ")])];
        let r = FRAMER_MORE;
        for (let k = 0; k < pieces.length && r === FRAMER_MORE; k++) {
          r = f.advance(Buffer.from(pieces[k]), 0, pieces[k].length);
          if (r !== FRAMER_MORE) expect([a, c, k, r]).toEqual([a, c, 2, n - c]);
        }
        expect(r).toBe(n - c);
      }
    }
  });

  test("chunked: a large body split into many random pieces", () => {
    const parts: Buffer[] = [];
    let payload = 0;
    for (let i = 0; i < 200; i++) {
      const size = (i * 7919) % 5000 + 1;
      payload += size;
      parts.push(Buffer.from(size.toString(16) + "\r\n"), Buffer.alloc(size, i & 0xff), Buffer.from("\r\n"));
    }
    parts.push(Buffer.from("0\r\n\r\n"));
    const body = Buffer.concat(parts);
    expect(payload).toBeGreaterThan(400_000);
    let seed = 42;
    const cuts: number[] = [];
    for (let at = 0; at < body.length;) { seed = (seed * 1103515245 + 12345) & 0x7fffffff; at += 1 + (seed % 4096); cuts.push(at); }
    expect(feed(new BodyFramer().chunked(), Buffer.concat([body, Buffer.from("after")]), cuts)).toBe(body.length);
  });

  const bad: [string, string][] = [
    ["bad hex", "zz\r\nhello\r\n0\r\n\r\n"],
    ["bad hex after digits", "5x\r\nhello\r\n0\r\n\r\n"],
    ["empty size line", "\r\nhello\r\n0\r\n\r\n"],
    ["negative size", "-5\r\nhello\r\n0\r\n\r\n"],
    ["size too long", "1000000000000\r\n"],
    ["missing CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n"],
    ["data longer than size", "3\r\nhello\r\n0\r\n\r\n"],
    ["only CR after data", "5\r\nhello\r0\r\n\r\n"],
    ["bare LF after size", "5\nhello\r\n0\r\n\r\n"],
    ["bare LF after data", "5\r\nhello\n0\r\n\r\n"],
    ["bare LF in extension", "5;a=b\nhello\r\n0\r\n\r\n"],
    ["CR not followed by LF after size", "5\rXhello\r\n0\r\n\r\n"],
    ["bare LF in a trailer line", "0\r\nX-T: v\nX-U: w\r\n\r\n"],
    ["trailer line CR without LF", "0\r\nX-T: v\rX\r\n\r\n"],
    ["final CR without LF", "0\r\n\rX"],
  ];
  for (const [why, text] of bad) {
    test(`chunked FRAMER_ERROR: ${why} (whole and byte by byte)`, () => {
      const b = Buffer.from(text, "latin1");
      const f = new BodyFramer().chunked();
      expect(f.advance(b, 0, b.length)).toBe(FRAMER_ERROR);
      expect(f.error).not.toBe("");
      const g = new BodyFramer().chunked();
      let r = FRAMER_MORE;
      for (let i = 0; i < b.length && r === FRAMER_MORE; i++) r = g.advance(b, i, i + 1);
      expect(r).toBe(FRAMER_ERROR);
    });
  }

  // Regression: a bare LF where the trailer section starts was once taken as the first byte of a trailer
  // line, so "0\r\n\n" swallowed what followed (here a whole pipelined request) as "trailers".
  test("chunked FRAMER_ERROR: bare LF where the trailer section starts (last chunk then LF)", () => {
    const b = Buffer.from("0\r\n\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", "latin1");
    const f = new BodyFramer().chunked();
    expect(f.advance(b, 0, b.length)).toBe(FRAMER_ERROR);
  });

  test("chunked: a zero-size body with no trailers, then the framer can be re-armed", () => {
    const f = new BodyFramer().chunked();
    const b = Buffer.from("0\r\n\r\nrest");
    expect(f.advance(b, 0, b.length)).toBe(5);
    f.chunked();
    const b2 = Buffer.from("2\r\nok\r\n0\r\n\r\n");
    expect(f.advance(b2, 0, b2.length)).toBe(b2.length);
    f.length(3);
    expect(f.advance(Buffer.from("abcd"), 0, 4)).toBe(3);
  });

  // The pooled client reads bodies through the same framer: `data` gives it the decoded runs.
  test("decoding: data runs without chunk framing, whatever the cuts; length and until-close pass their bytes", () => {
    const body = Buffer.from("3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: t\r\n\r\n", "latin1");
    for (const cut of [1, 2, 5, 9, 13, 20, body.length]) {
      const f = new BodyFramer().chunked();
      let out = "";
      let end = FRAMER_MORE;
      for (let at = 0; at < body.length && end === FRAMER_MORE; at += cut) {
        const piece = body.subarray(at, Math.min(body.length, at + cut));
        end = f.advance(piece, 0, piece.length, (s, e) => { out += piece.toString("latin1", s, e); });
        if (end >= 0) end = at + end;
      }
      expect(out).toBe("abc0123456789abcdef");
      expect(end).toBe(body.length);
    }
    const l = new BodyFramer().length(4);
    let got = "";
    const b = Buffer.from("xxabcdef");
    expect(l.advance(b, 2, b.length, (s, e) => { got += b.toString("latin1", s, e); })).toBe(6);
    expect(got).toBe("abcd");
    const u = new BodyFramer().untilClose();
    got = "";
    expect(u.advance(b, 5, b.length, (s, e) => { got += b.toString("latin1", s, e); })).toBe(FRAMER_MORE);
    expect(got).toBe("def");
  });
});

// ---- scanResponseHead vs parseResponseHead -------------------------------------------------------

function scan(text: string, prefix = "junk"): { ok: boolean; s: ResponseScan; buf: Buffer; end: number; at: number } {
  const buf = Buffer.from(prefix + text, "latin1");
  const at = prefix.length;
  const end = buf.indexOf(CRLFCRLF, at);
  const s = new ResponseScan();
  const ok = scanResponseHead(buf, at, end, s);
  return { ok, s, buf, end, at };
}

/** The kept field lines, as the relay would copy them (bytes, each with its CRLF; the status line, when kept, left out). */
function keptLines(r: ReturnType<typeof scan>): string {
  const all = keptRanges(r);
  return r.s.statusKept ? all.slice(all.indexOf("\r\n") + 2) : all;
}

function keptRanges(r: ReturnType<typeof scan>): string {
  let out = "";
  for (let k = 0; k < r.s.keptCount; k++) out += r.buf.toString("latin1", r.s.kept[k * 2], r.s.kept[k * 2 + 1]);
  return out;
}

function parsed(r: ReturnType<typeof scan>) {
  return parseResponseHead(r.buf, r.at, r.end);
}

describe("scanResponseHead", () => {
  test("drops hop-by-hop fields and X-Request-Id in any case, keeps the rest byte for byte", () => {
    const head =
      "HTTP/1.1 200 OK\r\n" +
      "Content-Type: text/plain; charset=utf-8\r\n" +
      "CONNECTION: keep-alive\r\n" +
      "Keep-Alive: timeout=5\r\n" +
      "X-Custom:  spaced   value \r\n" +
      "te: trailers\r\n" +
      "TRAILER: X-Sum\r\n" +
      "Upgrade: h2c\r\n" +
      "proxy-Connection: keep-alive\r\n" +
      "x-REQUEST-id: upstream-id\r\n" +
      "Set-Cookie: a=1\r\n" +
      "Set-Cookie: b=2\r\n" +
      "X-Latin: caf\u00e9\r\n" +
      "Content-Length: 2\r\n\r\n";
    const r = scan(head + "ok");
    expect(r.ok).toBe(true);
    expect(r.s.status).toBe(200);
    expect(r.s.contentLength).toBe(2);
    expect(r.s.chunked).toBe(false);
    expect(r.s.close).toBe(false);
    expect(r.s.needsParse).toBe(false);
    const expected = "Content-Type: text/plain; charset=utf-8\r\nX-Custom:  spaced   value \r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Latin: caf\u00e9\r\nContent-Length: 2\r\n";
    expect(keptLines(r)).toBe(expected);
    expect(r.s.keptBytes).toBe(Buffer.byteLength(expected, "latin1"));
    expect(r.buf.toString("latin1", r.s.codeAt, r.s.statusLineEnd)).toBe("200 OK");
    // the string parser agrees on status, framing and close
    const p = parsed(r);
    expect([p.status, p.contentLength, p.chunked, p.close]).toEqual([r.s.status, r.s.contentLength, r.s.chunked, r.s.close]);
    // and on which fields survive a DROP of the same names: the one hop-by-hop list (framing kept: re-decided apart)
    const drop = new Set([...HOP_BY_HOP, "x-request-id"].filter((n) => !FRAMING_FIELDS.has(n)));
    const survivors: string[] = [];
    for (let i = 0; i < p.pairs.length; i += 2) if (!drop.has(p.pairs[i])) survivors.push(p.pairs[i]);
    expect(survivors).toEqual(["content-type", "x-custom", "set-cookie", "set-cookie", "x-latin", "content-length"]);
  });

  test("the byte-level scan drops exactly the hop-by-hop list (src/lib/http1/hop-by-hop.ts), framing aside", () => {
    const names = [...HOP_BY_HOP].filter((n) => !FRAMING_FIELDS.has(n));
    const head = "HTTP/1.1 200 OK\r\n" + names.map((n) => `${n}: x\r\n`).join("") + "x-kept: 1\r\ncontent-length: 0\r\n\r\n";
    const r = scan(head);
    expect(r.ok).toBe(true);
    expect(keptLines(r)).toBe("x-kept: 1\r\ncontent-length: 0\r\n");
  });

  test("names that only start like hop-by-hop ones are kept", () => {
    const r = scan("HTTP/1.1 200 OK\r\nConnectionx: 1\r\nTE-Extra: 2\r\nUpgrades: 3\r\nX-Request-Ids: 4\r\nKeep-Alive-Not: 5\r\nTrailers: 6\r\nContent-Length: 0\r\n\r\n");
    expect(r.ok).toBe(true);
    expect(keptLines(r)).toBe("Connectionx: 1\r\nTE-Extra: 2\r\nUpgrades: 3\r\nX-Request-Ids: 4\r\nKeep-Alive-Not: 5\r\nTrailers: 6\r\nContent-Length: 0\r\n");
  });

  test("content-length, chunked, and chunked wins over a length", () => {
    const cl = scan("HTTP/1.1 201 Created\r\ncontent-length:  1234 \r\n\r\n");
    expect([cl.ok, cl.s.status, cl.s.contentLength, cl.s.chunked]).toEqual([true, 201, 1234, false]);
    expect(parsed(cl).contentLength).toBe(1234);

    const ch = scan("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    expect([ch.ok, ch.s.chunked, ch.s.contentLength]).toEqual([true, true, -1]);
    expect([parsed(ch).chunked, parsed(ch).contentLength]).toEqual([true, -1]);
    expect(keptLines(ch)).toBe("Transfer-Encoding: chunked\r\n"); // framing stays: the body is relayed as is

    const gz = scan("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n");
    expect(gz.s.chunked).toBe(true);
    expect(parsed(gz).chunked).toBe(true);

    const notLast = scan("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
    expect(notLast.s.chunked).toBe(false);
    expect(parsed(notLast).chunked).toBe(false);

    const both = scan("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n");
    expect([both.s.chunked, both.s.contentLength]).toEqual([true, -1]);
    expect([parsed(both).chunked, parsed(both).contentLength]).toEqual([true, -1]);

    const none = scan("HTTP/1.1 200 OK\r\nX: y\r\n\r\n");
    expect([none.s.contentLength, none.s.chunked]).toEqual([-1, false]);
  });

  test("close: HTTP/1.0 closes by default, keep-alive keeps it; HTTP/1.1 keeps, close closes", () => {
    const cases: [string, boolean][] = [
      ["HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", true],
      ["HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", false],
      ["HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", false],
      ["HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false],
      ["HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", true],
      ["HTTP/1.1 200 OK\r\nConnection: CLOSE\r\nContent-Length: 0\r\n\r\n", true],
      ["HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", false],
    ];
    for (const [text, close] of cases) {
      const r = scan(text);
      expect([text, r.ok, r.s.close]).toEqual([text, true, close]);
      expect([text, parsed(r).close]).toEqual([text, close]);
    }
  });

  test("conflicting duplicate Content-Length → false (the string parser throws too); equal duplicates pass", () => {
    const r = scan("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
    expect(r.ok).toBe(false);
    expect(() => parsed(r)).toThrow(MalformedHead);
    const same = scan("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n");
    expect([same.ok, same.s.contentLength]).toEqual([true, 5]);
    expect(parsed(same).contentLength).toBe(5);
    for (const v of ["abc", "-1", "5, 6", "", "1234567890123456"]) {
      const b = scan(`HTTP/1.1 200 OK\r\nContent-Length: ${v}\r\n\r\n`);
      expect([v, b.ok]).toEqual([v, false]);
      expect(() => parsed(b)).toThrow(MalformedHead);
    }
  });

  test("garbage is not a response head", () => {
    const garbage = [
      "HTTP/2 200 OK\r\nX: y\r\n\r\n",
      "HTTP/1.1 20 OK\r\nX: y\r\n\r\n",
      "HTTP/1.1 099 Odd\r\nX: y\r\n\r\n",
      "HTTP/1.1 600 Odd\r\nX: y\r\n\r\n",
      "HTTP/1.1 2x0 OK\r\nX: y\r\n\r\n",
      "HTTP/1.1200 OK\r\nX: y\r\n\r\n",
      "http/1.1 200 OK\r\nX: y\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
      "SSH-2.0-OpenSSH_9.0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nNo colon line\r\n\r\n",
    ];
    for (const g of garbage) {
      const r = scan(g);
      expect([g, r.ok]).toEqual([g, false]);
      expect(() => parsed(r)).toThrow(MalformedHead);
    }
    // An empty field name: the scan refuses it (the string parser is laxer and keeps name "").
    expect(scan("HTTP/1.1 200 OK\r\n: empty name\r\n\r\n").ok).toBe(false);
    const tiny = Buffer.from("HTTP/1.1\r\n\r\n");
    expect(scanResponseHead(tiny, 0, tiny.indexOf(CRLFCRLF), new ResponseScan())).toBe(false);
  });

  test("a status line with no header lines", () => {
    const r = scan("HTTP/1.1 204 No Content\r\n\r\n");
    expect([r.ok, r.s.status, keptLines(r), r.s.keptBytes]).toEqual([true, 204, "", 0]);
    // An HTTP/1.1 status line is copied as it came: the whole kept head is one range.
    expect([r.s.statusKept, r.s.keptCount, keptRanges(r)]).toEqual([true, 1, "HTTP/1.1 204 No Content\r\n"]);
    expect(parsed(r).pairs).toEqual([]);
  });

  test("Connection naming other fields → needsParse; the string parser lists the tokens", () => {
    const r = scan("HTTP/1.1 200 OK\r\nConnection: close, x-foo\r\nX-Foo: 1\r\nContent-Length: 0\r\n\r\n");
    expect([r.ok, r.s.needsParse, r.s.close]).toEqual([true, true, true]);
    const p = parsed(r);
    expect(p.connectionTokens).toEqual(["x-foo"]);
    expect(p.close).toBe(true);
    const only = scan("HTTP/1.1 200 OK\r\nConnection: X-Secret-Hop\r\nX-Secret-Hop: 1\r\nContent-Length: 0\r\n\r\n");
    expect([only.s.needsParse, only.s.close]).toEqual([true, false]);
    expect(parsed(only).connectionTokens).toEqual(["x-secret-hop"]);
    const plain = scan("HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n");
    expect(plain.s.needsParse).toBe(false);
    expect(parsed(plain).connectionTokens).toBeUndefined();
  });

  // Regression (a length heuristic in response-scan.ts once missed this): a Connection
  // header naming a field of one or two characters is not flagged needsParse, and the field it names
  // (hop-by-hop by RFC 9110 §7.6.1) is kept, so the relay forwards it. parseResponseHead lists it.
  test("Connection naming a one- or two-letter field → needsParse too", () => {
    for (const token of ["ab", "x"]) {
      const r = scan(`HTTP/1.1 200 OK\r\nConnection: ${token}\r\n${token}: hop-secret\r\nContent-Length: 0\r\n\r\n`);
      expect(parsed(r).connectionTokens).toEqual([token]);
      expect([token, r.s.needsParse]).toEqual([token, true]);
    }
  });

  test("interim and no-body statuses", () => {
    const c = scan("HTTP/1.1 100 Continue\r\n\r\n");
    expect([c.ok, c.s.status]).toEqual([true, 100]);
    expect(responseHasNoBody("GET", 100)).toBe(true);
    expect(responseHasNoBody("GET", 204)).toBe(true);
    expect(responseHasNoBody("GET", 304)).toBe(true);
    expect(responseHasNoBody("HEAD", 200)).toBe(true);
    expect(responseHasNoBody("GET", 200)).toBe(false);
    expect(responseHasNoBody("POST", 205)).toBe(false);
  });

  test("one ResponseScan reused: every field is reset between heads", () => {
    const s = new ResponseScan();
    const a = Buffer.from("HTTP/1.0 200 OK\r\nConnection: close, x-a\r\nTransfer-Encoding: chunked\r\nA: 1\r\nB: 2\r\n\r\n");
    expect(scanResponseHead(a, 0, a.indexOf(CRLFCRLF), s)).toBe(true);
    expect([s.close, s.needsParse, s.chunked, s.statusKept, s.keptBytes]).toEqual([true, true, true, false, "Transfer-Encoding: chunked\r\nA: 1\r\nB: 2\r\n".length]);
    const b = Buffer.from("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnop");
    expect(scanResponseHead(b, 0, b.indexOf(CRLFCRLF), s)).toBe(true);
    expect([s.status, s.close, s.needsParse, s.chunked, s.contentLength, s.statusKept, s.keptCount, s.keptBytes]).toEqual([404, false, false, false, 3, true, 1, "Content-Length: 3\r\n".length]);
  });

  test("many header lines: adjacent kept lines are one range; past the range table the scan asks for the string parser", () => {
    let head = "HTTP/1.1 200 OK\r\n";
    for (let i = 0; i < 200; i++) head += `X-H${i}: v${i}\r\n`;
    head += "Content-Length: 0\r\n\r\n";
    const r = scan(head);
    expect([r.ok, r.s.needsParse, r.s.keptCount]).toEqual([true, false, 1]);
    expect(keptLines(r)).toBe(head.slice(head.indexOf("\r\n") + 2, -2));

    // Every kept line cut off from the next by a dropped one: 200 ranges overflow the table.
    let holes = "HTTP/1.1 200 OK\r\n";
    for (let i = 0; i < 200; i++) holes += `X-H${i}: v${i}\r\nKeep-Alive: timeout=5\r\n`;
    holes += "Content-Length: 0\r\n\r\n";
    const h = scan(holes);
    expect(h.ok).toBe(true);
    expect(h.s.needsParse).toBe(true);
    expect(parsed(h).pairs.length).toBe(802);
  });
});

describe("writeKeptHead", () => {
  const relayed = (text: string, extra: string) => {
    const r = scan(text);
    const out = Buffer.alloc(keptHeadSize(r.s, extra));
    return out.toString("latin1", 0, writeKeptHead(r.s, r.buf, extra, out));
  };

  test("an HTTP/1.1 head: its status line and kept lines as bytes, hop-by-hop ones out, ours appended", () => {
    expect(relayed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nX-A: 1\r\n\r\nok", "x-request-id: r1\r\n"))
      .toBe("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\nx-request-id: r1\r\n\r\n");
  });

  test("an HTTP/1.0 head gets our HTTP/1.1 status line before its code and reason", () => {
    expect(relayed("HTTP/1.0 404 Not Found\r\nX-B: 2\r\n\r\n", "")).toBe("HTTP/1.1 404 Not Found\r\nX-B: 2\r\n\r\n");
  });
});
