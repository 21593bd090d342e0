/**
 * WebSockets on a listener that retires (issue 12): after a port change they keep working for
 * host.upgrade_grace, then both sides get a Close frame with 1012 "service restart" — between frames,
 * even in the middle of a burst — never a cut connection (1006). On shutdown: 1001 "going away".
 * Real Bun WebSocket server upstream, Bun's WebSocket client.
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import type { Server } from "bun";
import { gatewayConfig, service, startGateway } from "./support";
import { freePort, type TestHost } from "../../../test/support/harness";

const upstreamCloses: { code: number; reason: string }[] = [];
const upstream: Server<undefined> = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch(req, server) {
    if (new URL(req.url).pathname === "/health") return new Response("ok"); // the gateway's active checks
    if (server.upgrade(req, { data: undefined })) return undefined as unknown as Response;
    return new Response("expected a websocket", { status: 400 });
  },
  websocket: {
    message(ws, m) {
      // 256 frames of 64 KiB, each filled with its index: a cut frame would show as a wrong fill or length.
      if (m === "burst") { for (let i = 0; i < 256; i++) ws.send(new Uint8Array(64 * 1024).fill(i & 0xff)); return; }
      ws.send("echo:" + m);
    },
    close(_ws, code, reason) { upstreamCloses.push({ code, reason }); },
  },
});
afterAll(() => upstream.stop(true));

let gw: TestHost | undefined;
afterEach(async () => { await gw?.stop(); gw = undefined; upstreamCloses.length = 0; });

const services = `    services:\n${service("ws", "/ws", [`http://127.0.0.1:${upstream.port}`])}`;
const withPort = (port: number, grace: string) => gatewayConfig(services, `  upgrade_grace: ${grace}\n  port_linger: 50ms\n`).replace("    port: 0\n", `    port: ${port}\n`);

interface Client { ws: WebSocket; got: (string | Uint8Array)[]; closed: Promise<CloseEvent>; next(n: number): Promise<void> }

async function open(url: string): Promise<Client> {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const got: (string | Uint8Array)[] = [];
  const closed = new Promise<CloseEvent>((r) => { ws.onclose = r; });
  ws.onmessage = (e) => { got.push(typeof e.data === "string" ? e.data : new Uint8Array(e.data as ArrayBuffer)); };
  await new Promise<void>((resolve, reject) => { ws.onopen = () => resolve(); ws.onerror = () => reject(new Error("websocket failed to open")); });
  return {
    ws, got, closed,
    async next(n) { const until = Date.now() + 5000; while (got.length < n && Date.now() < until) await Bun.sleep(5); expect(got.length).toBeGreaterThanOrEqual(n); },
  };
}

async function upstreamClose(): Promise<{ code: number; reason: string } | undefined> {
  for (let i = 0; i < 100 && upstreamCloses.length === 0; i++) await Bun.sleep(20);
  return upstreamCloses[0];
}

test("after a port change a websocket on the old port works through upgrade_grace, then gets 1012 both ways", async () => {
  gw = await startGateway(services);
  const c = await open(gw.url("gateway").replace("http", "ws") + "/ws/a");
  const r = await gw.rewrite(withPort(freePort(), "400ms"));
  expect(r.ok).toBe(true);
  c.ws.send("during grace");
  await c.next(1);
  expect(c.got[0]).toBe("echo:during grace");
  const t0 = Date.now();
  const ev = await c.closed;
  expect([ev.code, ev.reason, ev.wasClean]).toEqual([1012, "service restart", true]);
  expect(Date.now() - t0).toBeLessThan(3000);
  expect(await upstreamClose()).toEqual({ code: 1012, reason: "service restart" });
});

test("closed in the middle of a 16 MB burst: only whole frames reach the client, then a clean 1012", async () => {
  gw = await startGateway(services);
  for (let round = 0; round < 3; round++) {
    const c = await open(gw.url("gateway").replace("http", "ws") + "/ws/burst");
    c.ws.send("burst");
    await c.next(1);
    const r = await gw.rewrite(withPort(freePort(), "0ms"));
    expect(r.ok).toBe(true);
    const ev = await c.closed;
    expect([ev.code, ev.reason, ev.wasClean]).toEqual([1012, "service restart", true]);
    expect(c.got.length).toBeLessThanOrEqual(256);
    c.got.forEach((m, i) => {
      expect(m instanceof Uint8Array && m.length).toBe(64 * 1024);
      expect((m as Uint8Array).every((b) => b === (i & 0xff))).toBe(true);
    });
  }
});

test("a websocket open at shutdown gets 1001 going away, not a cut", async () => {
  gw = await startGateway(services);
  const c = await open(gw.url("gateway").replace("http", "ws") + "/ws/b");
  c.ws.send("hello");
  await c.next(1);
  const stopping = gw.stop();
  gw = undefined;
  const ev = await c.closed;
  await stopping;
  expect([ev.code, ev.reason, ev.wasClean]).toEqual([1001, "going away", true]);
  expect(await upstreamClose()).toEqual({ code: 1001, reason: "going away" });
});
