/**
 * The wire front's slow-client guards: a request head still incomplete after serve.headTimeoutMs gets
 * 408 HOST_ERR_REQUEST_TIMEOUT and the connection is closed; a head that completes in time is served;
 * a request body that stops arriving for the idle timeout drops the connection, while a client waiting
 * on a slow answer is not cut off; an upgraded connection closes after the idle timeout with no byte
 * either way, and stays open while bytes flow.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { Type } from "@sinclair/typebox";
import { definePlugin } from "../src/core/plugin";
import type { WireClient, WireRequest } from "../src/core/wire";
import { startHost, type TestHost } from "./support/harness";

const slowHeads = definePlugin({
  id: "slowheads",
  description: "test-only plugin on a wire port with a short head timeout",
  defaultPort: 0,
  schema: Type.Object({}, { additionalProperties: false }),
  serve: { wire: true, headTimeoutMs: 300, idleTimeout: 1 },
  async provision() {
    return {
      // GET /pipe with Upgrade: echo → 101, then the connection echoes every byte (a stand-in for a WebSocket).
      wire: (req: WireRequest, client: WireClient) => {
        if (req.target !== "/pipe" || req.upgrade !== "echo") return false;
        client.write("HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n");
        client.switchProtocols({ data: (b) => { client.write(b); }, end() {} });
        return true;
      },
      app: new Elysia()
        .get("/x", () => "ok")
        .get("/wait", async () => { await Bun.sleep(2500); return "waited"; })
        .post("/upload", async ({ request }) => `got ${(await request.arrayBuffer()).byteLength}`),
      async stop() {},
    };
  },
});

let t: TestHost;
let port: number;
beforeAll(async () => {
  t = await startHost(`host: { data_dir: "\${DATA_DIR}" }\nplugins:\n  slowheads: { port: 0, hostname: 127.0.0.1 }\n`, { plugins: { slowheads: slowHeads } });
  port = t.host.address("slowheads")!.port;
});
afterAll(async () => { await t?.stop(); });

/** Open a raw connection; resolves with everything received once the server closes it (or after `waitMs`). */
async function exchange(parts: { bytes: string; afterMs: number }[], waitMs: number): Promise<{ text: string; closed: boolean }> {
  let text = "";
  let closed = false;
  let done!: () => void;
  const finished = new Promise<void>((r) => { done = r; });
  const s = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, d) { text += Buffer.from(d).toString("latin1"); },
      close() { closed = true; done(); },
      error() { closed = true; done(); },
    },
  });
  for (const p of parts) {
    await Bun.sleep(p.afterMs);
    s.write(p.bytes);
  }
  await Promise.race([finished, Bun.sleep(waitMs)]);
  const result = { text, closed };
  s.end();
  return result;
}

test("a head still incomplete after headTimeoutMs: 408 with a coded body, then the connection closes", async () => {
  const r = await exchange([{ bytes: "GET /x HTTP/1.1\r\nHost: localhost\r\n", afterMs: 0 }], 3000);
  expect(r.closed).toBe(true);
  expect(r.text.startsWith("HTTP/1.1 408 ")).toBe(true);
  expect(r.text).toContain('"code":"HOST_ERR_REQUEST_TIMEOUT"');
});

test("a head that completes within the limit is served, and the connection stays open", async () => {
  const r = await exchange([
    { bytes: "GET /x HTTP/1.1\r\nHo", afterMs: 0 },
    { bytes: "st: localhost\r\n\r\n", afterMs: 100 },
  ], 800);
  expect(r.text.startsWith("HTTP/1.1 200 ")).toBe(true);
  expect(r.text.endsWith("ok")).toBe(true);
  expect(r.closed).toBe(false);
});

test("a request body that stops arriving for the idle timeout (1 s) drops the connection", async () => {
  const t0 = performance.now();
  const r = await exchange([{ bytes: "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789", afterMs: 0 }], 6000);
  expect(r.closed).toBe(true);
  expect(r.text).toBe("");
  expect(performance.now() - t0).toBeLessThan(5000);
});

test("a client waiting longer than the idle timeout for a slow answer still gets it", async () => {
  const r = await exchange([{ bytes: "GET /wait HTTP/1.1\r\nHost: localhost\r\n\r\n", afterMs: 0 }], 4000);
  expect(r.text.startsWith("HTTP/1.1 200 ")).toBe(true);
  expect(r.text.endsWith("waited")).toBe(true);
});

const UPGRADE = "GET /pipe HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n";

test("an upgraded connection with no byte either way for the idle timeout is closed", async () => {
  const t0 = performance.now();
  const r = await exchange([{ bytes: UPGRADE, afterMs: 0 }, { bytes: "ping", afterMs: 50 }], 6000);
  expect(r.text).toStartWith("HTTP/1.1 101 ");
  expect(r.text.endsWith("ping")).toBe(true);
  expect(r.closed).toBe(true);
  expect(performance.now() - t0).toBeLessThan(5500);
});

test("an upgraded connection stays open while bytes flow, past several idle timeouts", async () => {
  const parts = [{ bytes: UPGRADE, afterMs: 0 }];
  // 6 s of traffic: Bun's socket timers tick every few seconds, so several timeouts fire meanwhile.
  for (let i = 0; i < 15; i++) parts.push({ bytes: `m${i};`, afterMs: 400 });
  const r = await exchange(parts, 300);
  expect(r.closed).toBe(false);
  expect(r.text.endsWith(Array.from({ length: 15 }, (_, i) => `m${i};`).join(""))).toBe(true);
}, 20_000);
