/**
 * Issue 12's port stall: bursts of requests the wire lane declines (upstream_client fetch, a chunked body:
 * every request crosses the tunnel to the inner server) through a bulkhead route, then /health probes
 * with a deadline. The port once
 * accepted and sent nothing for 1–15 s after some bursts: an answer written to a client that had just
 * gone left its tunnel connection paused, the connection was pooled, and it never read the next answer
 * (the deterministic form is in src/host/wire/tunnel.test.ts).
 */
import { test, expect, afterAll } from "bun:test";
import { startGateway, startUpstream, service } from "./support";
import { RawConn } from "../../../test/support/raw-http";
import { tunnelStats } from "../../../src/host/wire/tunnel";

const up = startUpstream(async () => { await Bun.sleep(2); return new Response("x".repeat(200)); }, { record: false });
const gw = await startGateway(`    upstream_client: fetch\n    services:\n${service("bh", "/bh", [up.url], `        bulkhead: { max_concurrent: 4, max_queue: 4, queue_timeout: 1s }\n`)}`);
const port = gw.host.address("gateway")!.port;
afterAll(async () => { await gw.stop(); up.stop(); });

/**
 * One keep-alive connection sending requests back to back until `until`, then gone with its last request
 * unanswered, as a load generator ends a burst: the answer meets a socket that no longer takes bytes.
 */
async function burstClient(until: number, seed: number, stalled: string[]): Promise<number> {
  const c = await RawConn.open(port);
  let answered = 0;
  try {
    while (Date.now() < until && !c.closed) {
      const r = await c.request(`POST /bh/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, { timeoutMs: 3000 }).catch((err) => { stalled.push(String(err)); return null; });
      if (r === null) break;
      if (r.status === 200 || r.status === 503) answered++;
    }
    await c.write(`POST /bh/last HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`);
    await Bun.sleep(seed % 4);
  } finally { c.socket.terminate(); }
  return answered;
}

async function probe(): Promise<number> {
  const t0 = performance.now();
  try {
    const r = await fetch(`${gw.url("gateway")}/health`, { signal: AbortSignal.timeout(1000) });
    await r.text();
    return r.status === 200 ? performance.now() - t0 : Infinity;
  } catch { return Infinity; }
}

test("50 bursts through a bulkhead route, each ended abruptly: every /health probe after them answers within 1 s", async () => {
  const late: number[] = [];
  const stalled: string[] = [];
  let answered = 0;
  for (let burst = 0; burst < 50; burst++) {
    const until = Date.now() + 150;
    const counts = await Promise.all(Array.from({ length: 16 }, (_, i) => burstClient(until, burst + i, stalled)));
    answered += counts.reduce((a, b) => a + b, 0);
    for (let p = 0; p < 2; p++) if ((await probe()) > 1000) late.push(burst);
  }
  expect(stalled).toEqual([]);
  expect(late).toEqual([]);
  expect(answered).toBeGreaterThan(50 * 16);
  expect(tunnelStats.requests).toBeGreaterThan(answered); // they did cross the tunnel (and the probes)
}, 120_000);
