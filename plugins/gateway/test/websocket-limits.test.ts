/**
 * WebSockets through the gateway, the rest of issue 19's list: auth at upgrade time, 10,000 messages each
 * way intact and in order, an upstream that dies (the client learns at once), and the per-route limits
 * (services[].websocket: idle_timeout → Close 1001, max_message_size → Close 1009). Real Bun WebSocket
 * server upstream, Bun's WebSocket client.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Server } from "bun";
import { service, startGateway } from "./support";
import type { TestHost } from "../../../test/support/harness";

const SECRET = "websocket-limits-test-secret-0123456789";
let upstream: Server<undefined>;
let gw: TestHost;
let base: string;
const upstreamGot: (string | number)[] = [];

beforeAll(async () => {
  upstream = Bun.serve({
    port: 0, hostname: "127.0.0.1",
    fetch(req, server) {
      if (new URL(req.url).pathname === "/health") return new Response("ok");
      return server.upgrade(req, { data: undefined }) ? (undefined as unknown as Response) : new Response("no", { status: 400 });
    },
    websocket: {
      maxPayloadLength: 64 * 1024 * 1024,
      message(ws, m) {
        upstreamGot.push(typeof m === "string" ? m.length : m.byteLength);
        if (m === "die") { ws.terminate(); return; }
        if (typeof m === "string" && m.startsWith("n=")) { ws.send("ack:" + m.slice(2)); return; }
      },
    },
  });
  const up = [`http://127.0.0.1:${upstream.port}`];
  gw = await startGateway(`    auth: { hs256_secret: "${SECRET}" }\n    services:\n`
    + service("ws", "/ws", up, "        websocket: { idle_timeout: 1s, max_message_size: 1kb }\n")
    + service("wsauth", "/wsauth", up, "        auth_required: true\n"));
  base = gw.url("gateway").replace("http://", "ws://");
});
afterAll(async () => { await gw?.stop(); upstream?.stop(true); });

async function open(path: string, headers?: Record<string, string>): Promise<{ ws: WebSocket; got: string[]; closed: Promise<CloseEvent> }> {
  const ws = new WebSocket(base + path, headers ? ({ headers } as unknown as string[]) : undefined);
  const got: string[] = [];
  ws.onmessage = (e) => got.push(String(e.data));
  const closed = new Promise<CloseEvent>((r) => { ws.onclose = r; });
  await new Promise<void>((resolve, reject) => { ws.onopen = () => resolve(); ws.onerror = () => reject(new Error("websocket failed to open")); });
  return { ws, got, closed };
}

async function hs256(sub: string): Promise<string> {
  const { SignJWT } = await import("jose");
  return new SignJWT({ scope: "" }).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setIssuer("tradpal-gateway").setAudience("tradpal").setIssuedAt().setExpirationTime("5m").sign(new TextEncoder().encode(SECRET));
}

test("auth applies at upgrade time: no token → 401, no switch; a valid token → 101 and messages flow", async () => {
  const r = await fetch(gw.url("gateway") + "/wsauth/x", { headers: { connection: "upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" } });
  expect(r.status).toBe(401);
  const c = await open("/wsauth/x", { authorization: `Bearer ${await hs256("trader")}` });
  c.ws.send("n=1");
  const deadline = Date.now() + 3000;
  while (c.got.length < 1 && Date.now() < deadline) await Bun.sleep(5);
  expect(c.got).toEqual(["ack:1"]);
  c.ws.close(1000);
  await c.closed;
});

test("10,000 messages each way, intact and in order", async () => {
  const c = await open("/wsauth/y", { authorization: `Bearer ${await hs256("trader")}` });
  for (let i = 0; i < 10_000; i++) c.ws.send(`n=${i}`);
  const deadline = Date.now() + 15_000;
  while (c.got.length < 10_000 && Date.now() < deadline) await Bun.sleep(10);
  expect(c.got.length).toBe(10_000);
  expect(c.got.every((m, i) => m === `ack:${i}`)).toBe(true);
  c.ws.close(1000);
  await c.closed;
}, 30_000);

test("an upstream that dies: the client's connection ends at once (1006), not at the idle timeout", async () => {
  const c = await open("/wsauth/z", { authorization: `Bearer ${await hs256("trader")}` });
  const t0 = Date.now();
  c.ws.send("die");
  const ev = await c.closed;
  expect([1006, 1011]).toContain(ev.code);
  expect(Date.now() - t0).toBeLessThan(1000);
});

test("idle_timeout: no byte either way for 1 s → Close 1001 'idle timeout'; traffic keeps it open", async () => {
  const busy = await open("/ws/busy");
  const idle = await open("/ws/idle");
  const t0 = Date.now();
  const keep = setInterval(() => busy.ws.send("n=k"), 300);
  const ev = await idle.closed;
  expect([ev.code, ev.reason, ev.wasClean]).toEqual([1001, "idle timeout", true]);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  expect(Date.now() - t0).toBeLessThan(4000);
  await Bun.sleep(1500);
  expect(busy.ws.readyState).toBe(WebSocket.OPEN);
  clearInterval(keep);
  busy.ws.close(1000);
  await busy.closed;
}, 15_000);

test("max_message_size: a message over 1 KiB → Close 1009 to the client; it never reaches the upstream whole", async () => {
  for (const size of [1024, 1025, 64 * 1024]) {
    upstreamGot.length = 0;
    const c = await open("/ws/big");
    c.ws.send("x".repeat(size));
    if (size <= 1024) {
      c.ws.send("n=after");
      const deadline = Date.now() + 3000;
      while (c.got.length < 1 && Date.now() < deadline) await Bun.sleep(5);
      expect(c.got).toEqual(["ack:after"]);
      expect(upstreamGot).toEqual([size, 7]);
      c.ws.close(1000);
      await c.closed;
      continue;
    }
    const ev = await c.closed;
    expect([ev.code, ev.reason]).toEqual([1009, "message too big"]);
    await Bun.sleep(100);
    expect(upstreamGot).toEqual([]);
  }
});
