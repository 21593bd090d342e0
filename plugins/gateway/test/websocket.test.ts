/**
 * WebSocket (HTTP Upgrade) proxying on the wire lane, with a real Bun WebSocket server upstream and
 * Bun's WebSocket client: the upgrade reaches the upstream with the forwarding headers, frames flow
 * both ways (text, 1 MB binary, a 4 MB burst), closes propagate both ways, a refused upgrade is an
 * ordinary response, and an upgraded connection does not hold a config reload up.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server, ServerWebSocket } from "bun";
import { gatewayConfig, service, startGateway } from "./support";
import type { TestHost } from "../../../test/support/harness";

interface WsData { headers: Record<string, string> }

let upstream: Server<WsData>;
let upstreamClosed: number[] = [];
let gw: TestHost;
let base: string;

beforeAll(async () => {
  upstream = Bun.serve<WsData>({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req, server) {
      const path = new URL(req.url).pathname;
      if (path === "/ws/refuse") return new Response("no websocket here", { status: 426, headers: { upgrade: "websocket" } });
      if (path === "/ws/plain") return Response.json({ upgrade: req.headers.get("upgrade"), connection: req.headers.get("connection") });
      const headers: Record<string, string> = {};
      req.headers.forEach((v, k) => { headers[k] = v; });
      if (server.upgrade(req, { data: { headers } })) return undefined as unknown as Response;
      return new Response("expected a websocket", { status: 400 });
    },
    websocket: {
      open(ws: ServerWebSocket<WsData>) {
        ws.send(JSON.stringify({ seen: ws.data.headers }));
      },
      message(ws, m) {
        if (m === "burst") { for (let i = 0; i < 64; i++) ws.send(new Uint8Array(64 * 1024).fill(i)); return; }
        if (m === "bye") { ws.close(4001, "upstream says bye"); return; }
        ws.send(typeof m === "string" ? "echo:" + m : m);
      },
      close(_ws, code) { upstreamClosed.push(code); },
    },
  });
  gw = await startGateway(`    services:\n${service("ws", "/ws", [`http://127.0.0.1:${upstream.port}`])}`);
  base = gw.url("gateway").replace("http://", "ws://");
});

afterAll(async () => { await gw?.stop(); upstream?.stop(true); });

/** Open a client and collect what it receives. */
async function open(path: string): Promise<{ ws: WebSocket; got: (string | Uint8Array)[]; closed: Promise<CloseEvent>; next(n: number, ms?: number): Promise<void> }> {
  const ws = new WebSocket(base + path);
  ws.binaryType = "arraybuffer";
  const got: (string | Uint8Array)[] = [];
  const waiters: { n: number; resolve(): void }[] = [];
  ws.onmessage = (e) => {
    got.push(typeof e.data === "string" ? e.data : new Uint8Array(e.data as ArrayBuffer));
    for (const w of waiters.splice(0)) if (got.length >= w.n) w.resolve(); else waiters.push(w);
  };
  const closed = new Promise<CloseEvent>((r) => { ws.onclose = r; });
  await new Promise<void>((resolve, reject) => { ws.onopen = () => resolve(); ws.onerror = () => reject(new Error("websocket failed to open")); });
  return {
    ws, got, closed,
    next(n, ms = 5000) {
      if (got.length >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`only ${got.length} of ${n} messages within ${ms} ms`)), ms);
        waiters.push({ n, resolve: () => { clearTimeout(t); resolve(); } });
      });
    },
  };
}

describe("websocket through the wire lane", () => {
  test("the upgrade reaches the upstream with the forwarding headers; text and a 1 MB binary frame echo back", async () => {
    const c = await open("/ws/chat");
    await c.next(1);
    const seen = JSON.parse(c.got[0] as string).seen as Record<string, string>;
    expect(seen.upgrade?.toLowerCase()).toBe("websocket");
    expect(seen.connection?.toLowerCase()).toContain("upgrade");
    expect(seen["x-forwarded-for"]).toBe("127.0.0.1");
    expect(seen["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen["sec-websocket-key"]).toBeTruthy();
    c.ws.send("one");
    const big = new Uint8Array(1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    c.ws.send(big);
    c.ws.send("two");
    await c.next(4);
    expect(c.got[1]).toBe("echo:one");
    expect(Buffer.from(c.got[2] as Uint8Array).equals(Buffer.from(big))).toBe(true);
    expect(c.got[3]).toBe("echo:two");
    c.ws.close(1000);
    await c.closed;
  });

  test("a 4 MB burst from the upstream arrives whole and in order", async () => {
    const c = await open("/ws/burst");
    await c.next(1);
    c.ws.send("burst");
    await c.next(65, 10_000);
    for (let i = 0; i < 64; i++) {
      const frame = c.got[1 + i] as Uint8Array;
      expect(frame.byteLength).toBe(64 * 1024);
      expect(frame[0]).toBe(i);
      expect(frame[frame.length - 1]).toBe(i);
    }
    c.ws.close(1000);
    await c.closed;
  });

  test("closes propagate: the upstream's close code reaches the client; the client's close reaches the upstream", async () => {
    const a = await open("/ws/a");
    await a.next(1);
    a.ws.send("bye");
    const ev = await a.closed;
    expect(ev.code).toBe(4001);
    expect(ev.reason).toBe("upstream says bye");

    upstreamClosed = [];
    const b = await open("/ws/b");
    await b.next(1);
    b.ws.close(4002, "client leaves");
    await b.closed;
    for (let i = 0; i < 50 && upstreamClosed.length === 0; i++) await Bun.sleep(20);
    expect(upstreamClosed).toContain(4002);
  });

  test("a refused upgrade is relayed as the upstream's response; Upgrade without Connection: upgrade is a plain request", async () => {
    const refused = await fetch(gw.url("gateway") + "/ws/refuse", { headers: { connection: "upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" } });
    expect(refused.status).toBe(426);
    expect(await refused.text()).toBe("no websocket here");

    const plain = await fetch(gw.url("gateway") + "/ws/plain", { headers: { upgrade: "websocket" } });
    expect(plain.status).toBe(200);
    expect((await plain.json()).upgrade).toBeNull();
  });

  test("an open websocket does not hold a config reload up, and keeps working across it", async () => {
    const c = await open("/ws/reload");
    await c.next(1);
    const t0 = performance.now();
    // drain_timeout 10 s: were the upgraded connection still counted in flight, the reload would wait that long.
    const r = await gw.rewrite(gatewayConfig(`    services:\n${service("ws", "/ws", [`http://127.0.0.1:${upstream.port}`], "        timeout: 20s\n")}`, "  drain_timeout: 10s\n"));
    expect(r.ok).toBe(true);
    expect(performance.now() - t0).toBeLessThan(5000);
    c.ws.send("after reload");
    await c.next(2);
    expect(c.got[1]).toBe("echo:after reload");
    c.ws.close(1000);
    await c.closed;
  });
});
