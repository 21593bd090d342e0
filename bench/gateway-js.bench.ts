/**
 * The gateway's JavaScript per proxied request, without the kernel: `bun run bench gateway` says how
 * far the gateway is from nginx per core, and its bare Bun.listen probe shows that the sockets cost the
 * same; what is left is the JS a request runs (and the garbage it leaves). This measures that JS in
 * one process, where the shared machine's noise is small: the real gateway plugin in a real host, each
 * request's head parsed by the front's parser and run through the wire lane's handler (route, edge,
 * admit, attempt, forwarding headers, relay of a canned 114-byte answer, accounting).
 *
 * STAND-INS (named as such): the client's socket and the upstream connection are objects that take the
 * bytes without a socket (an upstream connection that is always idle and answers at once), so no syscall
 * or event-loop turn is counted. Each request enters as a socket read enters the real front (FrontConn:
 * parse, request context, the wire lane, done). The peer is the JS of bench/peers/bun-raw-probe.ts's
 * relay on the same stand-ins (slice the target, write the upstream head, pass the answer back).
 *
 * Three views: hot (requests back to back: the JS alone), cold (64 KiB of other memory walked between
 * requests, as the kernel's network stack evicts the caches between a real server's callbacks; the
 * walk's own time subtracted: how much the JS's code and data footprint costs), and what each request
 * allocates (objects and bytes, counted in a child process with the GC off).
 *
 *   bun run bench gateway-js     (~2 min)
 */
import { heapStats } from "bun:jsc";
import { startHost } from "../test/support/harness";
import { benchGatewayConfig } from "./lib/gateway-config";
import { CRLFCRLF, parseRequestHead } from "../src/lib/http1/head";
import type { WireHandler } from "../src/core/wire";
import type { Slot } from "../src/host/slot";
import { FrontConn } from "../src/host/wire/front-conn";
import type { FrontOptions } from "../src/host/wire/front-options";
import type { Conn, ConnectionPool } from "../plugins/gateway/transport/pool";
import { median } from "./lib/measure";
import { table, writeSection } from "./lib/results";

const N = Number(process.env.GATEWAY_JS_N ?? 200_000);
const ROUNDS = 5;
/** Set in the child that counts allocations (GC off there). */
const COUNTING = process.env.GATEWAY_JS_COUNT;

const origin = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") });
const upstream = `http://127.0.0.1:${origin.port}`;
// The config of `bench gateway` (bench/lib/gateway-config.ts), with its request-header transform.
const h = await startHost(benchGatewayConfig({
  dataDir: "${DATA_DIR}", port: 0, upstream,
  serviceExtra: "        transform:\n          request_headers: { set: { x-gateway: tradpal } }\n",
}), { only: ["gateway"] });
await Bun.sleep(300); // the first health check

// The host's internals a real socket would reach: the gateway's slot (its wire handler) and its connection pool.
const host = h.host as unknown as { running: Map<string, { slot: Slot }>; shared: { getOrCreate<T>(k: string, f: () => T): T } };
const slot = host.running.get("gateway")!.slot;
const pool = host.shared.getOrCreate<ConnectionPool>("gateway:upstream-pool", () => { throw new Error("the gateway made no pool"); });
const upstreamPool = pool.poolFor(upstream);

// ---- stand-ins for the sockets ------------------------------------------------------------------
let upBytes = 0;
let outBytes = 0;
const byteLength = (d: string | Uint8Array) => (typeof d === "string" ? Buffer.byteLength(d) : d.byteLength);
const conn = {
  socket: { write: (d: string | Uint8Array) => { const n = byteLength(d); upBytes += n; return n; }, pause() {}, resume() {}, terminate() {} },
  pool: upstreamPool, ex: null, served: 1, closed: false, pending: null, onDrain: null, paused: false, onHandshake: null,
} as unknown as Conn;
const clientSocket = {
  remoteAddress: "127.0.0.1",
  write(d: string | Uint8Array) { const n = byteLength(d); outBytes += n; return n; },
  pause() {}, resume() {}, timeout() {}, end() {}, terminate() { throw new Error("the front closed a bench connection"); }, setNoDelay() {},
};
const frontOptions = {
  hostname: "127.0.0.1", port: 0, reusePort: false, slot, log: h.host.log, idleTimeoutS: 60, headTimeoutMs: 30_000,
  finish: (gen: { inflight: number }) => { gen.inflight--; },
} as unknown as FrontOptions;
const front = new FrontConn(clientSocket as unknown as ConstructorParameters<typeof FrontConn>[0], frontOptions);

const BODY = JSON.stringify({ ok: true, service: "bench", pad: "x".repeat(70) });
const ANSWER = Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${BODY.length}\r\ndate: Sun, 06 Dec 2026 07:00:00 GMT\r\n\r\n${BODY}`);
const REQUESTS = {
  "wrk's GET (1 field)": Buffer.from("GET /api/bench HTTP/1.1\r\nHost: 127.0.0.1:18000\r\n\r\n"),
  "a browser-like GET (8 fields)": Buffer.from("GET /api/orders?limit=10 HTTP/1.1\r\nHost: api.tradpal.local\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: application/json\r\nAccept-Encoding: gzip, deflate, br\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig\r\nX-Request-Id: abc-123\r\nConnection: keep-alive\r\n\r\n"),
};

/** One request as a socket read through the front and the gateway's wire lane; the answer comes back at once. */
function gatewayRequest(raw: Buffer): void {
  if (upstreamPool.idle.length === 0) upstreamPool.idle.push(conn);
  const before = outBytes;
  front.onData(Buffer.from(raw)); // a fresh buffer, as a socket read gives
  const ex = conn.ex;
  if (ex === null) throw new Error("the gateway sent no attempt upstream");
  ex.onData(conn, Buffer.from(ANSWER));
  if (outBytes === before) throw new Error("the gateway wrote no answer");
}

/** The probe's JS: the target sliced from the request line, a head written upstream, the answer passed back. */
function probeRequest(raw: Buffer): void {
  const bytes = Buffer.from(raw);
  const text = bytes.toString("latin1", 0, Math.min(bytes.length, 2048));
  const target = text.slice(text.indexOf(" ") + 1, text.indexOf(" HTTP/1."));
  conn.socket!.write("GET " + target + " HTTP/1.1\r\nhost: 127.0.0.1:" + origin.port + "\r\n\r\n");
  clientSocket.write(Buffer.from(ANSWER));
}

// Between requests in the cold view: 64 KiB of other memory walked a cache line at a time.
const junk = new Float64Array(64 * 128);
let sink = 0;
function evict(): void { for (let i = 0; i < junk.length; i += 8) sink += junk[i]++; }

/** ns per call of `fn` (CPU time of this process), min and median of ROUNDS rounds of n calls. */
function perCall(fn: (raw: Buffer) => void, raw: Buffer, n = N): { min: number; med: number } {
  const xs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) fn(raw);
    const t = process.cpuUsage(t0);
    xs.push(((t.user + t.system) * 1000) / n);
  }
  return { min: Math.min(...xs), med: median(xs) };
}

/** The same with the caches evicted before each call, the eviction's own time taken off. */
function perColdCall(fn: (raw: Buffer) => void, raw: Buffer): number {
  const n = Math.ceil(N / 4);
  const walk = perCall(() => evict(), raw, n).med;
  return perCall((b) => { evict(); fn(b); }, raw, n).med - walk;
}

/** Objects and bytes one call of `fn` leaves on the heap (run with the GC off: nothing is collected meanwhile). */
function allocations(fn: (raw: Buffer) => void, raw: Buffer): { objects: number; bytes: number } {
  const n = 20_000;
  const count = () => Object.values(heapStats().objectTypeCounts as Record<string, number>).reduce((a, b) => a + b, 0);
  const o0 = count();
  const b0 = process.memoryUsage().heapUsed;
  for (let i = 0; i < n; i++) fn(raw);
  return { objects: (count() - o0) / n, bytes: (process.memoryUsage().heapUsed - b0) / n };
}

const warm = (raw: Buffer) => { for (let i = 0; i < 50_000; i++) { gatewayRequest(raw); probeRequest(raw); } }; // every tier of the JIT

if (COUNTING !== undefined) {
  const out: Record<string, { gateway: { objects: number; bytes: number }; probe: { objects: number; bytes: number } }> = {};
  for (const [name, raw] of Object.entries(REQUESTS)) {
    warm(raw);
    out[name] = { gateway: allocations(gatewayRequest, raw), probe: allocations(probeRequest, raw) };
  }
  console.log(`ALLOCATIONS ${JSON.stringify(out)}`);
} else {
  // The allocation counts come from a child of this bench with the GC off (heap counts are exact there).
  const child = Bun.spawnSync(["bun", "run", import.meta.path], { env: { ...process.env, GATEWAY_JS_COUNT: "1", BUN_JSC_useGC: "0", GATEWAY_JS_N: "1000" }, stderr: "inherit" });
  const line = child.stdout.toString().split("\n").find((l) => l.startsWith("ALLOCATIONS "));
  if (line === undefined) throw new Error("the allocation count failed");
  const allocs = JSON.parse(line.slice("ALLOCATIONS ".length)) as Record<string, { gateway: { objects: number; bytes: number }; probe: { objects: number; bytes: number } }>;

  const rows: (string | number)[][] = [];
  for (const [name, raw] of Object.entries(REQUESTS)) {
    warm(raw);
    const parse = perCall((b) => void parseRequestHead(b, 0, b.indexOf(CRLFCRLF)), raw);
    const gw = perCall(gatewayRequest, raw);
    const probe = perCall(probeRequest, raw);
    const gwCold = perColdCall(gatewayRequest, raw);
    const probeCold = perColdCall(probeRequest, raw);
    const a = allocs[name];
    rows.push([name, Math.round(gw.med), Math.round(parse.med), Math.round(probe.med), `${(gw.med / probe.med).toFixed(1)}×`,
      Math.round(gwCold), Math.round(probeCold), Math.round(gwCold - probeCold),
      `${a.gateway.objects.toFixed(0)} / ${Math.round(a.gateway.bytes)}`, `${a.probe.objects.toFixed(0)} / ${Math.round(a.probe.bytes)}`]);
    console.log(`${name}: gateway ${gw.med.toFixed(0)} ns hot, ${gwCold.toFixed(0)} cold; probe ${probe.med.toFixed(0)} hot, ${probeCold.toFixed(0)} cold; allocations ${JSON.stringify(a)}`);
  }
  if (upBytes === 0 || outBytes === 0 || sink === 0) throw new Error("no request went through");

  const md = `## The gateway's JavaScript per request (no sockets)

Command: \`bun run bench gateway-js\` (bench/gateway-js.bench.ts). One process: the gateway plugin in a real host (the
config of \`bench gateway\`: routing, health checks, a request-header transform, metrics, the sampled access log); each
request enters as a socket read enters the host's front (FrontConn: parse, request context, the wire lane, done) and is
relayed to a 114-byte answer. The client's socket and the upstream connection are stand-ins that take bytes without a
socket, so this is the JS alone, which is what separates the gateway from the bare Bun.listen probe in \`bench gateway\`.
Peer: the probe's own JS on the same stand-ins. ${ROUNDS} rounds of ${N.toLocaleString("en")} requests, ns per request (CPU
time, medians); GC included. **Cold**: 64 KiB of other memory walked between requests (as the kernel's network stack
evicts the caches between a real server's callbacks), the walk's own time taken off: what the code and data a request
touches cost when they are not in cache. **Allocated**: objects / bytes left per request, counted with the GC off.

${table(["request", "gateway ns/req (hot)", "of which the head parse", "probe (hot)", "gateway ÷ probe (hot)", "gateway (cold)", "probe (cold)", "cold gap ns", "gateway allocated: objects / bytes", "probe allocated"], rows)}

In \`bench gateway\` the JS thread's µs per request over the probe's is larger than the hot gap: the cold column is the
closer model of it (the footprint of what a request touches), the allocation column what feeds the garbage collector.`;
  writeSection("gateway-js", md);
}
await h.stop();
origin.stop(true);
process.exit(0);
