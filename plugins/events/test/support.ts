/** The events plugin's integration-test support: SSE reading, the body-limit fixtures, a Redis Cluster. */
import { expect } from "bun:test";
import { freePort, startHost, tempDir, SHARED_REDIS_URL, type TestHost } from "../../../test/support/harness";
import { RawConn, type RawResponse } from "../../../test/support/raw-http";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { sseBlocks } from "../../../src/clients/sse-blocks";

/** Delete this test's keys of `stream` from a Redis it shares with others (never a flush). */
export async function dropStreamKeys(redisUrl: string, stream: string): Promise<void> {
  const { default: Redis } = await import("ioredis");
  const r = new Redis(redisUrl);
  for (const k of await r.keys(`*${stream}*`)) await r.del(k);
  r.disconnect();
}

// ── A raw SSE reader over fetch (no client library), so tests see exactly what the wire carries.

export interface SseEvent { id: string; type: string; data: any }

export interface SseReader {
  events: SseEvent[];
  /** Resolves when at least n events arrived (or rejects after timeoutMs). */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  /** Abort the connection (like a killed subscriber). */
  close(): void;
  status: number;
}

export async function openSse(url: string): Promise<SseReader> {
  const abort = new AbortController();
  const res = await fetch(url, { signal: abort.signal, headers: { accept: "text/event-stream" } });
  const events: SseEvent[] = [];
  const r: SseReader = {
    events,
    status: res.status,
    async waitFor(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n) {
        if (Date.now() > deadline) throw new Error(`only ${events.length}/${n} SSE events within ${timeoutMs} ms`);
        await Bun.sleep(5);
      }
    },
    close() { abort.abort(); },
  };
  if (!res.ok || !res.body) return r;
  void (async () => {
    try {
      for await (const block of sseBlocks(res.body!)) {
        const ev: Partial<SseEvent> = {};
        for (const line of block.split("\n")) {
          if (line.startsWith("id: ")) ev.id = line.slice(4);
          else if (line.startsWith("event: ")) ev.type = line.slice(7);
          else if (line.startsWith("data: ")) ev.data = JSON.parse(line.slice(6));
        }
        if (ev.data) events.push(ev as SseEvent);
      }
    } catch { /* aborted */ }
  })();
  return r;
}

/** A body of unknown length, so fetch sends it chunked: it takes the fetch lane, not the host's raw lane. */
export function chunkedBody(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let sent = false;
  return new ReadableStream({ async pull(c) { if (sent) { c.close(); return; } sent = true; await Bun.sleep(1); c.enqueue(bytes); } });
}

export const json = (body: unknown, headers: Record<string, string> = {}) => ({ method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

// ── The body-limit tests' fixtures: a host per store, JSON texts of exact sizes and depths, raw chunked sends.

export const MB = 1024 * 1024;
export const MAX_EVENT = MB; // the defaults: nothing about limits is configured below
export const MAX_BATCH = 8 * MB;
export const MAX_DEPTH = 32;

export const backends = [
  { name: "embedded", redis: "" },
  { name: "redis", redis: SHARED_REDIS_URL },
];

export interface EventsHost {
  t: TestHost;
  base: string;
  port: number;
  stream: string;
  stop(): Promise<void>;
}

/** A host with the events plugin alone on `redis`'s store ("" = embedded): its own stream, plus `o.settings` (flow-style YAML) and `o.logLevel`. */
export async function startEvents(redis: string, tag: string, o: { settings?: string; logLevel?: string } = {}): Promise<EventsHost> {
  const stream = `test_limits_${process.pid}_${Date.now().toString(36)}_${tag}`;
  const t = await startHost(`
host:
  data_dir: \${DATA_DIR}
  redis_url: "${redis}"
${o.logLevel ? `  log_level: ${o.logLevel}\n` : ""}plugins:
  events: { port: 0, stream: ${stream}${o.settings ? `, ${o.settings}` : ""} }
`);
  const base = t.url("events");
  return {
    t, base, port: Number(new URL(base).port), stream,
    async stop() {
      if (redis) await dropStreamKeys(redis, stream);
      await t.stop();
    },
  };
}

/** A compact event JSON text of exactly `bytes` bytes (ASCII, so bytes = characters). */
export function eventOfSize(bytes: number, type = "custom.big"): string {
  const head = `{"type":"${type}","payload":{"s":"`;
  const tail = `"}}`;
  const fill = bytes - head.length - tail.length;
  if (fill < 0) throw new Error(`an event cannot be ${bytes} bytes`);
  return head + "x".repeat(fill) + tail;
}

/** `levels` nested containers around 1: arrays, objects, or alternating. */
export function nest(levels: number, kind: "array" | "object" | "mixed" = "array"): string {
  let open = "";
  let close = "";
  for (let i = 0; i < levels; i++) {
    const arr = kind === "array" || (kind === "mixed" && i % 2 === 0);
    open += arr ? "[" : '{"a":';
    close = (arr ? "]" : "}") + close;
  }
  return open + "1" + close;
}

/** An event whose JSON nests exactly `depth` levels (the event object is 1, its payload 2). */
export function eventOfDepth(depth: number, kind: "array" | "object" | "mixed" = "array"): string {
  return `{"type":"custom.deep","payload":{"v":${nest(depth - 2, kind)}}}`;
}

/** A `{ "events": [...] }` text of exactly `total` bytes, every event at most `perEvent` bytes. */
export function batchOfSize(total: number, perEvent: number): string {
  const inner = total - '{"events":[]}'.length;
  let n = 1;
  while (Math.ceil((inner - (n - 1)) / n) > perEvent) n++;
  const sum = inner - (n - 1);
  const sizes = Array.from({ length: n }, (_, i) => Math.floor(sum / n) + (i < sum % n ? 1 : 0));
  const text = `{"events":[${sizes.map((s) => eventOfSize(s)).join(",")}]}`;
  expect(text.length).toBe(total);
  return text;
}

export const post = (base: string, path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(base + path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

export async function errorOf(res: Response): Promise<{ status: number; code: string; where?: string }> {
  const b = await res.json();
  return { status: res.status, code: b.error?.code, where: b.error?.where };
}

export async function stats(base: string): Promise<{ length: number }> {
  return (await fetch(base + "/events/stats")).json();
}

/** A whole chunked request over a raw socket, cut into `chunk`-byte chunks; the response read back. */
export async function postChunked(port: number, path: string, body: string, chunk = 64 * 1024) {
  const c = await RawConn.open(port);
  try {
    let out = `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
    for (let i = 0; i < body.length; i += chunk) {
      const part = body.slice(i, i + chunk);
      out += `${part.length.toString(16)}\r\n${part}\r\n`;
    }
    out += "0\r\n\r\n";
    const res = await c.request(out, { method: "POST", timeoutMs: 10_000 });
    return { status: res.status, json: JSON.parse(res.body.toString("utf8")), connection: res.header("connection") };
  } finally {
    c.terminate();
  }
}

/**
 * How many bytes a sender may have written that the server never read: the kernel's largest receive and
 * send buffers (loopback autotunes up to them: tcp_rmem's max is 32 MiB on some machines), plus what the
 * attacker counts while a write waits (endless-uploads.ts counts a chunk per 200 ms stall). An upload
 * refused at its limit shows `sent` up to limit + this, however promptly the server stopped reading.
 */
export function unreadAllowance(): number {
  const max = (file: string, fallback: number) => {
    try { return Number(readFileSync(file, "utf8").trim().split(/\s+/)[2]) || fallback; } catch { return fallback; }
  };
  return max("/proc/sys/net/ipv4/tcp_rmem", 6 * MB) + max("/proc/sys/net/ipv4/tcp_wmem", 4 * MB) + 4 * MB;
}

/**
 * Send a chunked body that never ends, 64 KiB a chunk, until the server answers; returns the answer,
 * how much was sent by then, and whether the server closed the connection. Bounded: 64 MiB, 10 s. The
 * sender is its own process (endless-uploads.ts): in the test's process it would share the event loop
 * of the host's raw front and tunnel, and outpace them.
 */
export async function endlessChunked(port: number, path: string) {
  const proc = Bun.spawn(["bun", "run", join(import.meta.dir, "endless-uploads.ts"), String(port), "1", path], { stdout: "pipe", stderr: "inherit" });
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  const [r] = JSON.parse(out) as { status: number; body: string; closed: boolean; sent: number }[];
  return { status: r.status, json: JSON.parse(r.body), sent: r.sent, closed: r.closed };
}

// ── A real 3-master Redis Cluster (redis-server ×3 + `redis-cli --cluster create`) on free ports.

export interface TestCluster { url: string; ports: number[]; stop(): Promise<void> }

export async function startCluster(): Promise<TestCluster> {
  const dir = tempDir("tradpal-cluster-");
  const ports = [freePort(), freePort(), freePort()];
  const procs = ports.map((port) => Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`), "--dir", dir, "--save", "", "--appendonly", "no", "--dbfilename", `dump-${port}.rdb`], { stdout: "ignore", stderr: "ignore" }));
  const cli = (args: string[]) => Bun.spawnSync(["redis-cli", ...args], { stdout: "pipe", stderr: "pipe" });
  for (const port of ports) {
    for (let i = 0; i < 100 && cli(["-p", String(port), "ping"]).stdout.toString().trim() !== "PONG"; i++) await Bun.sleep(30);
  }
  const create = cli(["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"]);
  if (create.exitCode !== 0) throw new Error(`cluster create failed: ${create.stderr.toString()}${create.stdout.toString()}`);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (ports.every((p) => cli(["-p", String(p), "cluster", "info"]).stdout.toString().includes("cluster_state:ok"))) break;
    await Bun.sleep(100);
  }
  return {
    url: `redis://127.0.0.1:${ports[0]}`,
    ports,
    async stop() {
      for (const p of procs) p.kill();
      await Promise.all(procs.map((p) => p.exited));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What must match between the raw and fetch lanes' answers: status, coded JSON body and fields (the request id by its rule). */
export function laneAnswer(r: RawResponse, sentId: string | undefined) {
  const id = r.header("x-request-id") ?? "";
  return {
    status: r.status, contentType: r.header("content-type"), retryAfter: r.header("retry-after"), connection: r.header("connection"),
    idRule: id === sentId ? "echoed" : /^[0-9a-f-]{36}$/.test(id) ? "minted" : `other: ${id}`, body: JSON.parse(r.body.toString()),
  };
}

/** The lane ("wire" or "fetch") the host's debug line names for request `rid`, waited for up to 1 s; "no line" when none came. */
export async function laneOfRequest(t: TestHost, rid: string | null): Promise<string> {
  for (let i = 0; i < 40; i++) {
    const l = t.logs.find((x) => x.msg === "request" && x.request_id === rid);
    if (l) return (l.lane as string | undefined) ?? "fetch";
    await Bun.sleep(25);
  }
  return "no line";
}
