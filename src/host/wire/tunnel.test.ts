/**
 * The tunnel against a real Bun.serve on a unix socket. The front side is a test double of the
 * front's connection (TunnelClient): it lets a test decide when the client "socket" is full, which a
 * real client can only make likely, never certain.
 */
import { test, expect, afterAll } from "bun:test";
import { join } from "node:path";
import { rmSync } from "node:fs";
import { parseRequestHead } from "../../lib/http1/head";
import { tempDir } from "../../../test/support/harness";
import { Tunnel, type TunnelClient } from "./tunnel";

const dir = tempDir("tradpal-tunnel-");
const unix = join(dir, "inner.sock");
const server = Bun.serve({
  unix,
  fetch(req) {
    const kb = Number(new URL(req.url).searchParams.get("kb") ?? 1);
    return new Response(Buffer.alloc(kb * 1024, 97));
  },
});
afterAll(() => { server.stop(true); rmSync(dir, { recursive: true, force: true }); });

/** A client whose socket takes nothing while `full` (every write is held, as the front's `out`). */
class Client implements TunnelClient {
  onDrain: (() => void) | null = null;
  full = false;
  bytes = 0;
  finished: Promise<boolean>;
  private settle!: (keepAlive: boolean) => void;
  constructor() { this.finished = new Promise((r) => { this.settle = r; }); }
  write(data: string | Uint8Array): boolean {
    this.bytes += typeof data === "string" ? data.length : data.byteLength;
    return !this.full;
  }
  /** The socket took everything it held: what the front does on its drain event. */
  drain(): void { this.full = false; const d = this.onDrain; if (d) { this.onDrain = null; d(); } }
  resumeReading(): void {}
  done(keepAlive: boolean): void { this.onDrain = null; this.settle(keepAlive); }
  abort(): void { this.settle(false); }
}

function head(target: string) {
  const b = Buffer.from(`GET ${target} HTTP/1.1\r\nHost: t\r\n\r\n`, "latin1");
  return parseRequestHead(b, 0, b.length - 4);
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: Timer | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms); });
  try { return await Promise.race([p, late]); } finally { clearTimeout(timer); }
}

test("a connection whose last response bytes met a full client is resumed before reuse (the gateway-port stall)", async () => {
  const tunnel = new Tunnel(unix);
  for (const kb of [1, 64, 512]) {
    // The whole answer arrives while the client's socket is full: the tunnel pauses the inner socket
    // and waits for a drain, but the exchange ends first and the front forgets the drain callback.
    const slow = new Client();
    slow.full = true;
    const ex = tunnel.open(slow, head(`/?kb=${kb}`), "127.0.0.1");
    ex.requestComplete();
    const slowDone = slow.finished;
    // A body of kb KiB may need several reads; each read finds the client full and pauses again
    // until the test drains it, as a real client that reads a little at a time would.
    const pump = setInterval(() => { if (slow.onDrain) slow.drain(); slow.full = true; }, 5);
    expect(await within(slowDone, 5000, `the ${kb} KiB answer`)).toBe(true);
    clearInterval(pump);
    expect(slow.bytes).toBeGreaterThan(kb * 1024);

    // The next request takes the pooled connection: it must be answered.
    const next = new Client();
    const ex2 = tunnel.open(next, head("/?kb=1"), "127.0.0.1");
    ex2.requestComplete();
    expect(await within(next.finished, 2000, `the request after the ${kb} KiB answer`)).toBe(true);
    expect(next.bytes).toBeGreaterThan(1024);
  }
  tunnel.stop();
});
