/**
 * The gateway's JavaScript per proxied request, without the kernel: `bun run bench gateway` says how
 * far the gateway is from nginx per core, and its bare Bun.listen probe shows that the sockets cost the
 * same; what is left is the JS a request runs (and the garbage it leaves). This measures that JS in
 * one process, where the shared machine's noise is small: the real gateway plugin in a real host, each
 * request's head parsed by the front's parser and run through the wire lane's handler (route, edge,
 * admit, attempt, forwarding headers, relay of a canned 114-byte answer, accounting).
 *
 * STAND-INS (named as such): the client and the upstream connection are objects that take the bytes
 * without a socket (an upstream connection that is always idle and answers at once), so no syscall or
 * event-loop turn is counted. The peer is the JS of bench/peers/bun-raw-probe.ts's relay on the same
 * stand-ins (slice the target, write the upstream head, pass the answer back): the floor of any relay.
 *
 *   bun run bench gateway-js     (~1 min)
 */
import { startHost } from "../test/support/harness";
import { benchGatewayConfig } from "./lib/gateway-config";
import { CRLFCRLF, parseRequestHead } from "../src/lib/http1/head";
import { RequestContext, runInRequest } from "../src/core/request-context";
import type { WireClient, WireHandler } from "../src/core/wire";
import type { Conn, ConnectionPool } from "../plugins/gateway/transport/pool";
import { median } from "./lib/measure";
import { table, writeSection } from "./lib/results";

const N = Number(process.env.GATEWAY_JS_N ?? 200_000);
const ROUNDS = 5;

const origin = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") });
const upstream = `http://127.0.0.1:${origin.port}`;
// The config of `bench gateway` (bench/lib/gateway-config.ts), with its request-header transform.
const h = await startHost(benchGatewayConfig({
  dataDir: "${DATA_DIR}", port: 0, upstream,
  serviceExtra: "        transform:\n          request_headers: { set: { x-gateway: tradpal } }\n",
}), { only: ["gateway"] });
await Bun.sleep(300); // the first health check

// The host's internals a real socket would reach: the gateway's wire handler and its connection pool.
const host = h.host as unknown as { running: Map<string, { slot: { gen: { instance: { wire: WireHandler } } } }>; shared: { getOrCreate<T>(k: string, f: () => T): T } };
const wire = host.running.get("gateway")!.slot.gen.instance.wire;
const pool = host.shared.getOrCreate<ConnectionPool>("gateway:upstream-pool", () => { throw new Error("the gateway made no pool"); });
const upstreamPool = pool.poolFor(upstream);

// ---- stand-ins for the sockets ------------------------------------------------------------------
let upBytes = 0;
let outBytes = 0;
let answered = 0;
const byteLength = (d: string | Uint8Array) => (typeof d === "string" ? Buffer.byteLength(d) : d.byteLength);
const conn = {
  socket: { write: (d: string | Uint8Array) => { const n = byteLength(d); upBytes += n; return n; }, pause() {}, resume() {}, terminate() {} },
  pool: upstreamPool, ex: null, served: 1, closed: false, pending: null, onDrain: null, paused: false, onHandshake: null,
} as unknown as Conn;
const client = {
  onDrain: null, onClose: null, closed: false, peerId: undefined,
  write(d: string | Uint8Array) { outBytes += byteLength(d); return true; },
  done() { answered++; },
  abort() { throw new Error("the gateway aborted a bench request"); },
  end() {}, pauseReading() {}, resumeReading() {}, switchProtocols() {}, readBody() {},
} as unknown as WireClient;

const BODY = JSON.stringify({ ok: true, service: "bench", pad: "x".repeat(70) });
const ANSWER = Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${BODY.length}\r\ndate: Sun, 06 Dec 2026 07:00:00 GMT\r\n\r\n${BODY}`);
const REQUESTS = {
  "wrk's GET (1 field)": Buffer.from("GET /api/bench HTTP/1.1\r\nHost: 127.0.0.1:18000\r\n\r\n"),
  "a browser-like GET (8 fields)": Buffer.from("GET /api/orders?limit=10 HTTP/1.1\r\nHost: api.tradpal.local\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: application/json\r\nAccept-Encoding: gzip, deflate, br\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig\r\nX-Request-Id: abc-123\r\nConnection: keep-alive\r\n\r\n"),
};

/** One request through the front's parse and the gateway's wire lane; the answer comes back at once. */
function gatewayRequest(raw: Buffer): void {
  if (upstreamPool.idle.length === 0) upstreamPool.idle.push(conn);
  const head = parseRequestHead(raw, 0, raw.indexOf(CRLFCRLF));
  head.body = null;
  head.clientIp = "127.0.0.1";
  const ctx = new RequestContext(head.headers);
  if (!runInRequest(ctx, wire, head, client)) throw new Error("the gateway declined a bench request");
  ctx.end();
  const ex = conn.ex;
  if (ex === null) throw new Error("the gateway sent no attempt upstream");
  ex.onData(conn, Buffer.from(ANSWER)); // a fresh buffer, as a socket read gives
}

/** The probe's JS: the target sliced from the request line, a head written upstream, the answer passed back. */
function probeRequest(raw: Buffer): void {
  const text = raw.toString("latin1", 0, Math.min(raw.length, 2048));
  const target = text.slice(text.indexOf(" ") + 1, text.indexOf(" HTTP/1."));
  conn.socket!.write("GET " + target + " HTTP/1.1\r\nhost: 127.0.0.1:" + origin.port + "\r\n\r\n");
  client.write(Buffer.from(ANSWER));
  answered++;
}

/** ns per call of `fn`, min and median of ROUNDS rounds of N calls (CPU time of this process). */
function perCall(fn: (raw: Buffer) => void, raw: Buffer): { min: number; med: number } {
  const xs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < N; i++) fn(raw);
    const t = process.cpuUsage(t0);
    xs.push(((t.user + t.system) * 1000) / N);
  }
  return { min: Math.min(...xs), med: median(xs) };
}

const rows: (string | number)[][] = [];
for (const [name, raw] of Object.entries(REQUESTS)) {
  for (let i = 0; i < 50_000; i++) { gatewayRequest(raw); probeRequest(raw); } // warm: every tier of the JIT
  const parse = perCall((b) => void parseRequestHead(b, 0, b.indexOf(CRLFCRLF)), raw);
  const gw = perCall(gatewayRequest, raw);
  const probe = perCall(probeRequest, raw);
  rows.push([name, Math.round(gw.med), Math.round(gw.min), Math.round(parse.med), Math.round(probe.med), `${(gw.med / probe.med).toFixed(1)}×`]);
  console.log(`${name}: gateway ${gw.med.toFixed(0)} ns (parse ${parse.med.toFixed(0)}), probe ${probe.med.toFixed(0)} ns`);
}
if (answered === 0 || upBytes === 0 || outBytes === 0) throw new Error("no request went through");

const md = `## The gateway's JavaScript per request (no sockets)

Command: \`bun run bench gateway-js\` (bench/gateway-js.bench.ts). One process: the gateway plugin in a real host (the
config of \`bench gateway\`: routing, health checks, a request-header transform, metrics, the sampled access log), each
request parsed by the front's parser and run through the wire lane to a relayed 114-byte answer. The client and the
upstream connection are stand-ins that take bytes without a socket, so this is the JS alone, which is what separates
the gateway from the bare Bun.listen probe in \`bench gateway\`. Peer: the probe's own JS on the same stand-ins.
${ROUNDS} rounds of ${N.toLocaleString("en")} requests, ns per request (CPU time); GC included.

${table(["request", "gateway ns/req (median)", "gateway (min)", "of which the head parse", "probe's JS ns/req", "gateway ÷ probe"], rows)}

In \`bench gateway\` the same JS costs more per request than here (cold caches between a request's callbacks,
and the garbage collector's helper threads): the JS thread's µs per request over the probe's there is the figure
this one explains.`;
writeSection("gateway-js", md);
await h.stop();
origin.stop(true);
process.exit(0);
