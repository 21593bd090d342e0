/**
 * Issue #17: a streamed request body on the wire lane is bounded by backpressure, not buffered. A client
 * pushes 64 MB (Content-Length, then chunked) as fast as it can through an upstream that reads slowly;
 * the gateway runs as its own process so its peak RSS (peak) is read alone: buffering the body would
 * lift it by 64 MB. Both bodies must arrive intact, neither through the tunnel (the host's
 * tradpal_host_wire_tunnel_requests_total, scraped from the process).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnGateway, service, type GatewayProcess } from "./support";
import { RawConn } from "../../../test/support/raw-http";
import { bodyUpstream, type BodyUpstream } from "./body-upstream";

const MB = 1024 * 1024;
const TOTAL = 64 * MB;
const PIECE = 256 * 1024;

let gw: GatewayProcess;
let up: BodyUpstream;

beforeAll(async () => {
  up = bodyUpstream(() => "slow", 300, 8);
  gw = await spawnGateway(`    upstream_client: pooled
    max_body_size: 200mb
    services:
${service("slow", "/slow", [up.url], "        strip_prefix: true\n        timeout: 60s\n        health_check: { enabled: false }\n")}`);
});
afterAll(async () => { await gw?.stop(); up?.stop(); });

/** The host's tunnel count, scraped from the gateway process (the scrape itself crosses the tunnel: +1 each). */
async function tunnelled(): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const m = /^tradpal_host_wire_tunnel_requests_total (\d+)$/m.exec(text);
  if (m === null) throw new Error("no tradpal_host_wire_tunnel_requests_total in /metrics");
  return Number(m[1]);
}

async function push(chunked: boolean, total = TOTAL): Promise<{ peak: number; baseline: number; status: number; len: number }> {
  Bun.gc(true);
  const baseline = gw.memory().rss;
  let peak = baseline;
  const timer = setInterval(() => { peak = Math.max(peak, gw.memory().rss); }, 5);
  const c = await RawConn.open(Number(new URL(gw.url).port));
  const piece = Buffer.alloc(PIECE, 97);
  const framed = Buffer.concat([Buffer.from(PIECE.toString(16) + "\r\n"), piece, Buffer.from("\r\n")]);
  await c.write(`POST /slow/up HTTP/1.1\r\nHost: gw.test\r\n${chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${total}`}\r\n\r\n`);
  for (let sent = 0; sent < total; sent += PIECE) await c.write(chunked ? framed : piece);
  if (chunked) await c.write("0\r\n\r\n");
  const r = await c.read({ timeoutMs: 60_000 });
  c.end();
  clearInterval(timer);
  return { peak: Math.max(peak, gw.memory().rss), baseline, status: r.status, len: JSON.parse(r.body.toString()).len };
}

test("64 MB through a slow upstream, Content-Length then chunked: gateway RSS stays far below the body size", async () => {
  for (const chunked of [false, true]) await push(chunked, 4 * MB); // warm: JIT, pools
  const before = await tunnelled();
  for (const chunked of [false, true]) {
    const { peak, baseline, status, len } = await push(chunked);
    console.log(`${chunked ? "chunked" : "length"}: gateway RSS ${(baseline / MB).toFixed(1)} MB before, peak ${(peak / MB).toFixed(1)} MB`);
    expect(status).toBe(200);
    expect(len).toBe(TOTAL);
    expect(peak - baseline).toBeLessThan(40 * MB); // buffering would lift it by the body, 64 MB (what is left is GC slack)
  }
  expect(await tunnelled()).toBe(before + 1); // only the scrape: both uploads were parsed once, by the front

}, 120_000);
