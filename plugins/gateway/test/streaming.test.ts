/**
 * 100 MB up and 100 MB down through the gateway with bounded memory: bodies stream, they are not
 * buffered. The gateway runs as its own process so its peak RSS (VmHWM) is read alone; the client
 * generates the upload lazily and counts the download without keeping it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnGateway, startUpstream, service, type GatewayProcess, type Upstream } from "./support";

const MB = 1024 * 1024;
const TOTAL = 100 * MB;
const CHUNK = 256 * 1024;

let gw: GatewayProcess;
let up: Upstream;

function generated(total: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(CHUNK).fill(97);
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent >= total) { c.close(); return; }
      const n = Math.min(CHUNK, total - sent);
      sent += n;
      c.enqueue(n === CHUNK ? chunk : chunk.subarray(0, n));
    },
  });
}

async function drain(body: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of body) n += c.byteLength;
  return n;
}

beforeAll(async () => {
  up = startUpstream(async (req) => {
    const u = new URL(req.url);
    if (u.pathname === "/upload") return Response.json({ received: await drain(req.body!) });
    if (u.pathname === "/download") return new Response(generated(TOTAL), { headers: { "content-type": "application/octet-stream" } });
    return new Response("?", { status: 404 });
  }, { record: false, maxRequestBodySize: 2 * TOTAL });
  gw = await spawnGateway(`    services:
${service("files", "/files", [up.url], "        strip_prefix: true\n        timeout: 60s\n        health_check: { enabled: false }\n")}`);
});
afterAll(async () => { await gw?.stop(); up?.stop(); });

/** Warm the path up (JIT, pools) so the peak measured afterwards is the transfer's own. */
async function warm() {
  for (let i = 0; i < 3; i++) {
    await (await fetch(`${gw.url}/files/upload`, { method: "POST", body: generated(4 * MB), duplex: "half" } as RequestInit)).arrayBuffer();
    await (await fetch(`${gw.url}/files/download`)).body!.cancel();
  }
}

/** Peak RSS of the gateway process while `work` runs (sampled from /proc every 5 ms). */
async function peakDuring<T>(work: () => Promise<T>): Promise<{ result: T; baseline: number; peak: number }> {
  Bun.gc(true);
  const baseline = gw.memory().rss;
  let peak = baseline;
  const timer = setInterval(() => { peak = Math.max(peak, gw.memory().rss); }, 5);
  try {
    const result = await work();
    peak = Math.max(peak, gw.memory().rss);
    return { result, baseline, peak };
  } finally {
    clearInterval(timer);
  }
}

test("a 100 MB upload streams through the gateway with bounded RSS", async () => {
  await warm();
  const { result, baseline, peak } = await peakDuring(async () => {
    const r = await fetch(`${gw.url}/files/upload`, { method: "POST", body: generated(TOTAL), duplex: "half" } as RequestInit);
    return { status: r.status, body: await r.json() };
  });
  expect(result).toEqual({ status: 200, body: { received: TOTAL } });
  console.log(`gateway RSS during upload: ${(baseline / MB).toFixed(1)} → peak ${(peak / MB).toFixed(1)} MB`);
  // Buffering the body would lift the gateway's RSS by ≥ 100 MB.
  expect(peak - baseline).toBeLessThan(64 * MB);
}, 60_000);

test("a 100 MB download streams through the gateway with bounded RSS", async () => {
  await warm();
  const { result, baseline, peak } = await peakDuring(async () => {
    const r = await fetch(`${gw.url}/files/download`);
    return { status: r.status, bytes: await drain(r.body!) };
  });
  expect(result).toEqual({ status: 200, bytes: TOTAL });
  console.log(`gateway RSS during download: ${(baseline / MB).toFixed(1)} → peak ${(peak / MB).toFixed(1)} MB`);
  expect(peak - baseline).toBeLessThan(64 * MB);
}, 60_000);
