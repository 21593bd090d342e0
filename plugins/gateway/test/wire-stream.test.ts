/**
 * Issue #17, the second parse: request bodies that do not arrive whole with their head (chunked, or a
 * Content-Length longer than the first read) are parsed once, by the host's front, and relayed by the
 * gateway's wire lane straight to the upstream's pooled connection, never through the tunnel to the
 * inner Bun.serve (host `wire_tunnel_requests_total`, read as tunnelStats, stays put). The upstream is a
 * raw recorder (body-upstream.ts) that sees the framing the gateway wrote; the client is a raw socket.
 * Hosted with the breaker plugin: client faults must leave the instance and the breaker clean, upstream
 * faults must count.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { freePort, startHost, type TestHost } from "../../../test/support/harness";
import { RawConns, pseudoRandom, sha256 } from "../../../test/support/raw-http";
import { expectNoOutstandingPermits } from "../../../test/support/permits";
import { tunnelStats } from "../../../src/host/wire/tunnel";
import { bodyUpstream, type BodyUpstream, type Mode } from "./body-upstream";

const H = "Host: gw.test\r\n";
let t: TestHost;
let up: BodyUpstream;
let flaky: BodyUpstream[];
let port: number;
let dead: number;
const conns = new RawConns(() => port);

const modes: Record<string, Mode> = { "/early413": "early413", "/close-mid": "close-mid", "/slow": "slow" };

function config(): string {
  const svc = (name: string, prefix: string, urls: string[]) => `
      - name: ${name}
        path_prefix: ${prefix}
        strip_prefix: true
        instances: [${urls.map((u) => `{ url: "${u}" }`).join(", ")}]
        health_check: { enabled: false, panic: false }
        outlier: { enabled: true, consecutive_failures: 50 }
        retries: { attempts: 2, on_status: [502, 503, 504], non_idempotent: true }
        timeout: 10s`;
  return `
host:
  data_dir: \${DATA_DIR}
  log_level: error
plugins:
  breaker:
    port: 0
    defaults: { failure_threshold: 50, recovery_timeout: 30s, minimum_calls: 100, failure_rate_threshold: 100 }
  gateway:
    port: 0
    upstream_client: pooled
    max_body_size: 16mb
    access_log: { enabled: false }
    rate_limiting: { enabled: false }
    retry_budget: { ratio: 1, min_per_second: 100, window: 1m }
    services:${svc("rec", "/rec", [up.url])}${svc("half", "/half", [`http://127.0.0.1:${dead}`, up.url])}${svc("flaky", "/flaky", flaky.map((f) => f.url))}
`;
}

beforeAll(async () => {
  up = bodyUpstream((p) => modes[p] ?? "echo", 300, 15);
  dead = freePort();
  flaky = [0, 1].map(() => bodyUpstream((p) => (p === "/small" ? "drop" : "close-mid")));
  t = await startHost(config(), { only: ["gateway", "breaker"] });
  port = t.host.address("gateway")!.port;
});
afterAll(async () => { conns.closeAll(); await t?.stop(); up?.stop(); for (const f of flaky ?? []) f.stop(); });
afterEach(async () => { conns.closeAll(); await expectNoOutstandingPermits(); });

/** The tunnel's request count around `work`: these requests must not cross it. */
async function untunnelled<T>(work: () => Promise<T>): Promise<T> {
  const before = tunnelStats.requests;
  const out = await work();
  expect(tunnelStats.requests - before).toBe(0);
  return out;
}

const instance = async (svc: string) => (await (await fetch(`${t.url("gateway")}/services/${svc}`)).json()).instances;
const breaker = async (svc: string) => (await fetch(`${t.url("breaker")}/circuit-breakers/${svc}`)).json();

function chunk(data: string | Buffer, ext = ""): Buffer {
  const b = typeof data === "string" ? Buffer.from(data, "latin1") : data;
  return Buffer.concat([Buffer.from(b.length.toString(16) + ext + "\r\n"), b, Buffer.from("\r\n")]);
}

/** Every chunk the upstream saw is framed canonically: hex size, CRLF, data, CRLF; the last "0\r\n\r\n". */
function canonical(wire: string): boolean {
  return /^(?:[0-9a-f]+\r\n[\s\S]*?\r\n)*0\r\n\r\n$/.test(wire) && !/;/.test(wire.replace(/\r\n[\s\S]*$/, ""));
}

describe("chunked request bodies on the wire lane", () => {
  test("1-byte chunks, written a few at a time, arrive whole and re-framed", async () => {
    const c = await conns.conn();
    const data = "abcdefghijklmnopqrstuvwxyz0123456789".repeat(5);
    const r = await untunnelled(async () => {
      await c.write(`POST /rec/one HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`);
      for (let i = 0; i < data.length; i += 20) {
        await c.write(Buffer.concat([...data.slice(i, i + 20)].map((ch) => chunk(ch))));
        await Bun.sleep(5);
      }
      await c.write("0\r\n\r\n");
      return c.read();
    });
    expect(r.status).toBe(200);
    const got = JSON.parse(r.body.toString());
    expect(got).toMatchObject({ len: data.length, sha: sha256(data), te: "chunked", cl: null });
    // Coalesced: one upstream chunk per read of the client's, never one per client chunk.
    expect(got.wire.split("\r\n").length).toBeLessThan(data.length);
  });

  test("big chunks (1 MB each, split mid-chunk across writes)", async () => {
    const c = await conns.conn();
    const parts = [pseudoRandom(1024 * 1024, 1), pseudoRandom(1024 * 1024 + 3, 2), pseudoRandom(700_001, 3)];
    const wire = Buffer.concat([...parts.map((p) => chunk(p)), Buffer.from("0\r\n\r\n")]);
    const r = await untunnelled(async () => {
      await c.write(`PUT /rec/big HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`);
      for (let i = 0; i < wire.length; i += 300_000) await c.write(wire.subarray(i, i + 300_000));
      return c.read({ timeoutMs: 10_000 });
    });
    const all = Buffer.concat(parts);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toMatchObject({ len: all.length, sha: sha256(all), te: "chunked" });
  });

  test("chunk extensions and trailer fields are not forwarded: the upstream parses only framing we wrote", async () => {
    const c = await conns.conn();
    const body = Buffer.concat([
      chunk("hello", ';name=value;quoted="a;b\\"c"'), chunk(" world", ";x"),
      Buffer.from("0;last=1\r\nX-Trailer: evil\r\nContent-Length: 5\r\nTransfer-Encoding: identity\r\n\r\n"),
    ]);
    const r = await untunnelled(() => c.request(Buffer.concat([Buffer.from(`POST /rec/ext HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`), body])));
    expect(r.status).toBe(200);
    const got = JSON.parse(r.body.toString());
    expect(got).toMatchObject({ len: 11, sha: sha256("hello world"), te: "chunked", cl: null });
    expect(got.wire).not.toContain(";");
    expect(got.wire).not.toContain("X-Trailer");
    expect(got.wire.endsWith("0\r\n\r\n")).toBe(true);
    expect(canonical(got.wire)).toBe(true);
    // The connection carries on.
    expect((await c.request(`GET /rec/after HTTP/1.1\r\n${H}\r\n`)).status).toBe(200);
  });

  test("bad chunk framing mid-stream: coded 400, connection closed, nothing counted against the upstream", async () => {
    const c = await conns.conn();
    const r = await untunnelled(async () => {
      await c.write(`POST /rec/bad HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${chunk("abc").toString()}`);
      await Bun.sleep(30);
      await c.write("zz\r\nxyz\r\n0\r\n\r\n");
      return c.read();
    });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body.toString()).error.code).toBe("GW_ERR_AMBIGUOUS_LENGTH");
    expect(await c.waitClosed(2000)).toBe(true);
    expect((await instance("rec"))[0]).toMatchObject({ failures: 0, available: true });
  });
});

describe("Content-Length request bodies that follow their head", () => {
  test("0 B, 1 KB split across writes, 8 MB sent slowly: each arrives exactly", async () => {
    const c = await conns.conn();
    await untunnelled(async () => {
      const zero = await c.request(`POST /rec/zero HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n`);
      expect(JSON.parse(zero.body.toString())).toMatchObject({ len: 0, cl: "0" });

      const kb = pseudoRandom(1024, 7);
      await c.write(`POST /rec/kb HTTP/1.1\r\n${H}Content-Length: 1024\r\n\r\n`);
      for (let i = 0; i < 1024; i += 300) { await Bun.sleep(10); await c.write(kb.subarray(i, i + 300)); }
      expect(JSON.parse((await c.read()).body.toString())).toMatchObject({ len: 1024, sha: sha256(kb), cl: "1024", te: null });

      const big = pseudoRandom(8 * 1024 * 1024, 8);
      await c.write(`POST /rec/eight HTTP/1.1\r\n${H}Content-Length: ${big.length}\r\n\r\n`);
      for (let i = 0; i < big.length; i += 256 * 1024) { await c.write(big.subarray(i, i + 256 * 1024)); await Bun.sleep(3); }
      expect(JSON.parse((await c.read({ timeoutMs: 15_000 })).body.toString())).toMatchObject({ len: big.length, sha: sha256(big) });
    });
  }, 30_000);

  test("through an upstream that reads slowly (its socket backs up, the client is paused): intact", async () => {
    const c = await conns.conn();
    const big = pseudoRandom(6 * 1024 * 1024, 9);
    const r = await untunnelled(async () => {
      await c.write(`POST /rec/slow HTTP/1.1\r\n${H}Content-Length: ${big.length}\r\n\r\n`);
      for (let i = 0; i < big.length; i += 512 * 1024) await c.write(big.subarray(i, i + 512 * 1024));
      return c.read({ timeoutMs: 20_000 });
    });
    expect(JSON.parse(r.body.toString())).toMatchObject({ len: big.length, sha: sha256(big) });
  }, 30_000);

  test("requests pipelined behind a streamed body are answered in order", async () => {
    const c = await conns.conn();
    await untunnelled(async () => {
      await c.write(`POST /rec/p1 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${chunk("first").toString()}`);
      await Bun.sleep(20);
      await c.write(`0\r\n\r\nPOST /rec/p2 HTTP/1.1\r\n${H}Content-Length: 6\r\n\r\nsec`);
      await Bun.sleep(20);
      await c.write(`ondGET /rec/p3 HTTP/1.1\r\n${H}\r\nPOST /rec/p4 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${chunk("fourth").toString()}0\r\n\r\n`);
      const bodies = [];
      for (let i = 0; i < 4; i++) bodies.push(JSON.parse((await c.read()).body.toString()));
      expect(bodies.map((b) => b.len)).toEqual([5, 6, 0, 6]);
      expect(bodies[1].sha).toBe(sha256("second"));
    });
    expect(up.got.slice(-4).map((g) => g.path)).toEqual(["/p1", "/p2", "/p3", "/p4"]);
  });
});

describe("faults mid-body", () => {
  test("a client aborting mid-body (length and chunked) counts against nothing upstream", async () => {
    const before = await breaker("rec");
    await untunnelled(async () => {
      for (const framing of [`Content-Length: 100000\r\n\r\n${"a".repeat(5000)}`, `Transfer-Encoding: chunked\r\n\r\n${chunk("b".repeat(3000)).toString()}`]) {
        for (let i = 0; i < 5; i++) {
          const c = await conns.conn();
          await c.write(`POST /rec/abort HTTP/1.1\r\n${H}${framing}`);
          await Bun.sleep(30);
          c.terminate();
        }
      }
      await Bun.sleep(200);
    });
    const b = await breaker("rec");
    expect(b.state).toBe("closed");
    expect(b.totals.failure).toBe(before.totals.failure);
    expect(b.totals.ignored).toBeGreaterThanOrEqual(before.totals.ignored + 10);
    expect((await instance("rec"))[0]).toMatchObject({ failures: 0, available: true, ejections: 0 });
  });

  test("an upstream answering 413 before reading the body: the client gets the 413", async () => {
    const c = await conns.conn();
    const r = await untunnelled(async () => {
      await c.write(`POST /rec/early413 HTTP/1.1\r\n${H}Content-Length: 4000000\r\n\r\n`);
      await c.write(pseudoRandom(64 * 1024, 4));
      return c.read();
    });
    expect(r.status).toBe(413);
    expect(r.body.toString()).toBe("too big!");
    // The unread rest is either read and dropped or the connection closed; never parsed as a request.
    void c.write(pseudoRandom(512 * 1024, 5)).catch(() => undefined);
    await Bun.sleep(100);
    expect(c.buf.length).toBe(0);
    expect((await instance("rec"))[0]).toMatchObject({ failures: 0 });
  });

  test("an upstream closing mid-body: 502 coded, the instance records it, and no retry resends the body", async () => {
    const heads = () => flaky[0].heads.length + flaky[1].heads.length;
    const beforeHeads = heads();
    const failuresBefore = (await instance("flaky")).reduce((n: number, i: { failures: number }) => n + i.failures, 0);
    const c = await conns.conn();
    const r = await untunnelled(async () => {
      await c.write(`POST /flaky/upload HTTP/1.1\r\n${H}Content-Length: 1000000\r\n\r\n`);
      const data = pseudoRandom(1_000_000, 6);
      for (let i = 0; i < data.length; i += 100_000) { await c.write(data.subarray(i, i + 100_000)); await Bun.sleep(2); }
      return c.read({ timeoutMs: 10_000 });
    });
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body.toString()).error.code).toBe("GW_ERR_PROXY_UPSTREAM_RESET");
    expect(heads() - beforeHeads).toBe(1); // retries are configured, but the body went out
    const failuresAfter = (await instance("flaky")).reduce((n: number, i: { failures: number }) => n + i.failures, 0);
    expect(failuresAfter).toBe(failuresBefore + 1);
  });

  test("nothing of a streamed body is read before an attempt holds a connection: a refused connect is retried, the body arrives whole", async () => {
    const data = pseudoRandom(200_000, 17);
    await untunnelled(async () => {
      for (let i = 0; i < 4; i++) {
        const c = await conns.conn();
        await c.write(`POST /half/r${i} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${chunk("x").toString()}`);
        await Bun.sleep(20);
        await c.write(Buffer.concat([chunk(data), Buffer.from("0\r\n\r\n")]));
        const r = await c.read();
        expect(JSON.parse(r.body.toString())).toMatchObject({ len: data.length + 1, sha: sha256(Buffer.concat([Buffer.from("x"), data])) });
      }
    });
    const dead0 = (await instance("half")).find((i: { url: string }) => i.url.endsWith(`:${dead}`));
    expect(dead0.failures).toBeGreaterThan(0); // tried, refused, and the request went on to the other instance
  });

  test("a small chunked body that came whole is kept: a reset attempt is retried on the other instance", async () => {
    const got = () => [...flaky[0].got, ...flaky[1].got];
    const beforeGot = got().length;
    const c = await conns.conn();
    const r = await untunnelled(() => c.request(`POST /flaky/small HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${chunk("tiny").toString()}0\r\n\r\n`));
    expect(r.status).toBe(502); // both instances drop it
    expect(got().length - beforeGot).toBeGreaterThanOrEqual(2);
    expect(flaky.every((f) => f.got.length > 0 && f.got[f.got.length - 1].body.toString() === "tiny")).toBe(true);
  });
});

describe("smuggling is still refused before any upstream", () => {
  const variants: [string, string][] = [
    ["CL + TE", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"],
    ["duplicate CL", "Content-Length: 5\r\nContent-Length: 6\r\n"],
    ["TE chunked, identity", "Transfer-Encoding: chunked, identity\r\n"],
    ["TE identity, chunked", "Transfer-Encoding: identity, chunked\r\n"],
    ["obfuscated TE (xchunked)", "Transfer-Encoding: xchunked\r\n"],
    ["two TE lines", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"],
    ["TE with NBSP", "Transfer-Encoding: chunked\xa0\r\n"],
  ];
  for (const expectContinue of [false, true]) {
    for (const [name, fields] of variants) {
      test(`${name}${expectContinue ? " with Expect: 100-continue" : ""} → 400 GW_ERR_AMBIGUOUS_LENGTH, nothing upstream, no 100`, async () => {
        const heads = up.heads.length;
        const c = await conns.conn();
        const r = await untunnelled(() => c.request(`POST /rec/smuggle HTTP/1.1\r\n${H}${fields}${expectContinue ? "Expect: 100-continue\r\n" : ""}\r\n5\r\nhello\r\n0\r\n\r\n`));
        expect(r.status).toBe(400);
        expect(JSON.parse(r.body.toString()).error.code).toBe("GW_ERR_AMBIGUOUS_LENGTH");
        expect(await c.waitClosed(2000)).toBe(true);
        expect(up.heads.length).toBe(heads);
      });
    }
  }
});
