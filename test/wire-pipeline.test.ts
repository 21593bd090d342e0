/**
 * Pipelined requests on a wire port (src/host/wire/front-pipeline.ts), through a real host with test
 * plugins: "piper" opts in (`pipelines`) and answers each request after the delay its target names, so
 * answers complete out of order; "plain" does not opt in. Exact bytes out, answers read back in order.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { Type } from "@sinclair/typebox";
import { definePlugin } from "../src/core/plugin";
import type { WireClient, WireRequest } from "../src/core/wire";
import { MAX_PIPELINED } from "../src/host/wire/front-pipeline";
import { startHost, type TestHost } from "./support/harness";
import { RawConns } from "./support/raw-http";

/** What each handler was offered, and which requests were still unanswered when each was offered. */
const offered: { plugin: string; target: string; open: number }[] = [];
let open = 0;

function reply(client: WireClient, status: number, body: string, keepAlive: boolean): void {
  client.write(`HTTP/1.1 ${status} X\r\ncontent-length: ${body.length}\r\n${keepAlive ? "" : "connection: close\r\n"}\r\n${body}`);
  client.done(keepAlive);
}

const schema = Type.Object({}, { additionalProperties: false });
/** The app behind the tunnel: what the wire handlers decline. */
const app = () => new Elysia().get("/app/*", ({ path }) => `app ${path}`).post("/app/*", ({ path }) => `app ${path}`);

/** /w/<ms>/<name>: answered after <ms> (0: at once, inside the call); /close/<name>: answered with Connection: close; /throw; /app/*: declined. */
function handler(plugin: string) {
  return (req: WireRequest, client: WireClient): boolean => {
    if (req.target.startsWith("/app/")) return false;
    offered.push({ plugin, target: req.target, open });
    if (req.target === "/throw") throw new Error("handler bug");
    const [, kind, a, b] = req.target.split("/");
    const body = `${req.method} ${req.target} ${req.body?.length ?? 0}`;
    if (kind === "close") { reply(client, 200, body, false); return true; }
    const ms = Number(a);
    open++;
    const answer = () => { open--; if (!client.closed) reply(client, 200, body + (b ? "" : ""), req.keepAlive); };
    if (ms === 0) answer(); else setTimeout(answer, ms);
    return true;
  };
}

const piper = definePlugin({
  id: "piper", description: "test: a wire handler that takes pipelined requests", defaultPort: 0, schema,
  serve: { wire: true },
  async provision() {
    const a = app();
    return { app: a, fetch: (r) => a.handle(r), wire: Object.assign(handler("piper"), { pipelines: true }), async stop() {} };
  },
});
const plain = definePlugin({
  id: "plain", description: "test: a wire handler without the opt-in", defaultPort: 0, schema,
  serve: { wire: true },
  async provision() {
    const a = app();
    return { app: a, fetch: (r) => a.handle(r), wire: handler("plain"), async stop() {} };
  },
});

let t: TestHost;
const ports: Record<string, number> = {};
const conns = new RawConns(() => ports.piper);
beforeAll(async () => {
  t = await startHost(`host:\n  data_dir: \${DATA_DIR}\n  log_level: warn\nplugins:\n  piper:\n    port: 0\n  plain:\n    port: 0\n`, { plugins: { piper, plain } });
  for (const id of ["piper", "plain"]) ports[id] = t.host.address(id)!.port;
});
afterAll(async () => { conns.closeAll(); await t?.stop(); });
afterEach(() => { offered.length = 0; open = 0; conns.closeAll(); });

const get = (target: string, extra = "") => `GET ${target} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;
const post = (target: string, body: string) => `POST ${target} HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

async function answers(c: Awaited<ReturnType<RawConns["conn"]>>, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await c.read()).body.toString());
  return out;
}

describe("a handler with pipelines", () => {
  test("is offered every request of a pipeline before any is answered; the answers come in request order, in one write", async () => {
    const c = await conns.conn();
    const delays = [60, 5, 40, 0, 20, 10];
    await c.write(delays.map((ms, i) => (i % 2 ? post(`/w/${ms}/r${i}`, "x".repeat(i)) : get(`/w/${ms}/r${i}`))).join(""));
    expect(await answers(c, delays.length)).toEqual(delays.map((ms, i) => `${i % 2 ? "POST" : "GET"} /w/${ms}/r${i} ${i % 2 ? i : 0}`));
    expect(offered.map((o) => o.target)).toEqual(delays.map((ms, i) => `/w/${ms}/r${i}`));
    // Offered without waiting: the last request was offered while the first five were still open.
    expect(offered[delays.length - 1].open).toBe(4); // r3 (0 ms) answered inside its call
    // The first answer waits for the slowest (60 ms), then all six are ready: one write, so one read here.
    expect(c.reads).toBe(1);
    // The connection goes on.
    expect((await c.request(get("/w/0/after"))).body.toString()).toBe("GET /w/0/after 0");
  });

  test("a declined request waits for the answers before it, goes through the tunnel, and the pipeline goes on after it", async () => {
    const c = await conns.conn();
    await c.write(get("/w/30/a") + post("/app/x", "zz") + get("/w/0/b") + get("/app/y") + get("/w/10/c"));
    expect(await answers(c, 5)).toEqual(["GET /w/30/a 0", "app /app/x", "GET /w/0/b 0", "app /app/y", "GET /w/10/c 0"]);
  });

  test("Connection: close on a pipelined request: answered after the ones before it, then the connection closes; nothing after it is offered", async () => {
    const c = await conns.conn();
    await c.write(get("/w/20/a") + get("/w/0/b", "Connection: close\r\n") + get("/w/0/never"));
    const a = await c.read();
    const b = await c.read();
    expect([a.body.toString(), b.body.toString(), b.header("connection")]).toEqual(["GET /w/20/a 0", "GET /w/0/b 0", "close"]);
    expect(await c.waitClosed(3000)).toBe(true);
    expect(offered.map((o) => o.target)).not.toContain("/w/0/never");
  });

  test("an answer that closes the connection: the answers before it are written, later ones are not, and the connection closes", async () => {
    const c = await conns.conn();
    await c.write(get("/w/20/a") + get("/close/b") + get("/w/0/c"));
    const a = await c.read();
    const b = await c.read();
    expect([a.body.toString(), b.body.toString(), b.header("connection")]).toEqual(["GET /w/20/a 0", "GET /close/b 0", "close"]);
    expect(await c.waitClosed(3000)).toBe(true);
    expect(c.buf.length).toBe(0); // c's answer never written after b's close
  });

  test("a malformed request behind valid ones: they are answered first, then its 400, and the connection closes", async () => {
    const c = await conns.conn();
    await c.write(get("/w/20/a") + get("/w/0/b") + "GET /bad path HTTP/1.1\r\nHost: t\r\n\r\n" + get("/w/0/never"));
    expect(await answers(c, 2)).toEqual(["GET /w/20/a 0", "GET /w/0/b 0"]);
    expect((await c.read()).status).toBe(400);
    expect(await c.waitClosed(3000)).toBe(true);
    expect(offered.map((o) => o.target)).toEqual(["/w/20/a", "/w/0/b"]);
  });

  test("a handler that throws on a pipelined request: 500 in its place, the answers before it kept, then the connection closes", async () => {
    const c = await conns.conn();
    await c.write(get("/w/20/a") + get("/throw") + get("/w/0/never"));
    expect((await c.read()).body.toString()).toBe("GET /w/20/a 0");
    const r = await c.read();
    expect([r.status, JSON.parse(r.body.toString()).error.code]).toEqual([500, "HOST_ERR_INTERNAL"]);
    expect(await c.waitClosed(3000)).toBe(true);
  });

  test(`more than ${MAX_PIPELINED} pipelined requests: at most ${MAX_PIPELINED} offered ahead, every one answered in order`, async () => {
    const c = await conns.conn();
    const n = MAX_PIPELINED * 3 + 5;
    await c.write(Array.from({ length: n }, (_, i) => get(`/w/${i % 3}/r${i}`)).join(""));
    expect(await answers(c, n)).toEqual(Array.from({ length: n }, (_, i) => `GET /w/${i % 3}/r${i} 0`));
    expect(Math.max(...offered.map((o) => o.open))).toBeLessThan(MAX_PIPELINED);
  });

  test("the client leaves with answers owed: nothing breaks, and no request stays counted in flight (a generation could never retire)", async () => {
    const inflight = () => (t.host as unknown as { running: Map<string, { slot: { gen: { inflight: number } } }> }).running.get("piper")!.slot.gen.inflight;
    const c = await conns.conn();
    await c.write(get("/w/50/a") + get("/w/60/b") + get("/w/70/c"));
    await Bun.sleep(10);
    expect(inflight()).toBe(3);
    c.terminate();
    await Bun.sleep(120);
    expect(inflight()).toBe(0);
    const d = await conns.conn();
    expect((await d.request(get("/w/0/z"))).body.toString()).toBe("GET /w/0/z 0");
  });

  test("requests that arrive in later reads while answers are owed join the pipeline", async () => {
    const c = await conns.conn();
    await c.write(get("/w/80/a") + get("/w/0/b"));
    await Bun.sleep(20);
    await c.write(get("/w/0/c"));
    await Bun.sleep(20);
    expect(offered.map((o) => o.target)).toEqual(["/w/80/a", "/w/0/b", "/w/0/c"]); // c offered before a's answer
    expect(await answers(c, 3)).toEqual(["GET /w/80/a 0", "GET /w/0/b 0", "GET /w/0/c 0"]);
  });
});

describe("a handler without the opt-in", () => {
  test("is offered each pipelined request only after the one before it is answered, as before", async () => {
    const c = await conns.conn(ports.plain);
    await c.write(get("/w/30/a") + get("/w/0/b") + get("/w/10/c"));
    expect(await answers(c, 3)).toEqual(["GET /w/30/a 0", "GET /w/0/b 0", "GET /w/10/c 0"]);
    expect(offered.map((o) => o.open)).toEqual([0, 0, 0]);
  });
});
