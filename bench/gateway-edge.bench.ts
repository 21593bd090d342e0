/**
 * The cost of the gateway's edge policy, in one run:
 *
 *   bun run bench gateway-edge            (EDGE_BENCH_SECONDS=5 by default per measured run)
 *
 * Part 1 (throughput): three real gateway hosts (`bun src/main.ts --only gateway`), each proxying to
 * the same origin (bench/peers/origin.ts), differing only in the edge:
 *   A  route without auth and without rate limiting (the baseline),
 *   B  the same route with auth_required (HS256 bearer token) + a local rate limit,
 *   C  the same with the rate limit decided in Redis (cluster mode), one subject (one hot key),
 *   D  gateway C under traffic from 1000 subjects (1000 tokens, 1000 keys: little batching).
 * EDGE_BENCH_BASELINE=<checkout> adds D0, D run by that checkout's gateway (a paired before/after; RESULTS.md untouched).
 * Every variant sends a bearer token (A ignores it), so the bytes on the wire are the same.
 * Interleaved rounds A B C D × 3 with wrk (64 connections, 1 thread, the same request() script in every
 * variant: one token for A–C, 1000 for D) pinned to CPU 0, gateways pinned
 * to CPU 1, the origin on CPU 0; median rps, ratio to A, CPU µs/request of the gateway from /proc.
 * The limit is set high enough that no request is refused: the decision is measured, not the 429.
 *
 * Part 2 (micro-costs, in this process): JWT verify (ours, node:crypto) vs jose, cached lookups, a
 * local GCRA decision, a Redis decision (sequential and 64 in flight), the whole check().
 */
import { SignJWT, jwtVerify, generateKeyPair, exportJWK } from "jose";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cpuTicks, TICKS_PER_SECOND, median, wrkLoad, autocannonLoad, hasCommand, waitForUrl, type LoadResult } from "./lib/measure";
import { table, writeSection } from "./lib/results";
import { freePort, SHARED_REDIS_URL } from "../test/support/harness";
import { verifyJwt } from "../plugins/gateway/auth/jwt-verify";
import { parseJwk } from "../plugins/gateway/auth/jwks";
import { makePolicy, gcraDecide } from "../plugins/gateway/ratelimit/gcra";
import { createEdgePolicy } from "../plugins/gateway/edge-policy/policy";
import { decodeGatewaySettings } from "../plugins/gateway/schema";
import { testContext, route } from "../plugins/gateway/test/support";

/** 5 rounds, not 3: on the shared machine single rounds swing 2-5x; the median and min need more samples. */
const ROUNDS = Number(process.env.EDGE_BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.EDGE_BENCH_SECONDS ?? 5);
const WARMUP_S = 3;
const SECRET = "bench-secret-" + crypto.randomUUID();
const ROOT = join(import.meta.dir, "..");
const useWrk = hasCommand("wrk");
const canPin = hasCommand("taskset");
const pin = (cpu: number, cmd: string[]) => (canPin ? ["taskset", "-c", String(cpu), ...cmd] : cmd);

const token = await new SignJWT({ sub: "bench-user", scope: "trade read" })
  .setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuer("tradpal-gateway").setAudience("tradpal").setIssuedAt().setExpirationTime("2h")
  .sign(new TextEncoder().encode(SECRET));

// ---------- part 1: through the real gateway ----------

interface Variant { key: string; label: string; edge: string; service: string; headers: Record<string, string>; tokens?: string[]; sameAs?: string; root?: string }

const redisPrefix = `tradpal:bench:edge:${process.pid}:${Date.now()}:`;
/**
 * The rate limit's Redis: a redis-server of the bench's own pinned to the load side's core (CPU 0), as
 * Redis would be on a host of its own in production. The shared one floats onto the gateway's core and
 * takes CPU from it that the rows would count as the gateway's throughput. EDGE_BENCH_REDIS=shared uses it.
 */
const ownRedis = process.env.EDGE_BENCH_REDIS !== "shared" && hasCommand("redis-server");
const redisPort = ownRedis ? freePort() : 0;
const redisProc = ownRedis ? Bun.spawn(pin(0, ["redis-server", "--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]), { stdout: "ignore", stderr: "ignore" }) : undefined;
const REDIS_URL = ownRedis ? `redis://127.0.0.1:${redisPort}` : SHARED_REDIS_URL;
if (ownRedis) await waitForRedis(redisPort);

async function waitForRedis(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      s.end();
      return;
    } catch { await Bun.sleep(50); }
  }
  throw new Error(`redis-server did not start on ${port}`);
}
const variants: Variant[] = [
  { key: "A", label: "route without auth and limits (baseline)", edge: `    auth: { enabled: false }\n    rate_limiting: { enabled: false }\n`, service: "", headers: { authorization: `Bearer ${token}` } },
  { key: "B", label: "JWT (HS256) + local rate limit", edge: `    auth: { hs256_secret: "${SECRET}" }\n    rate_limiting: { store: local }\n`, service: "        auth_required: true\n        scopes: [trade]\n        rate_limit: 1000000000/min\n", headers: { authorization: `Bearer ${token}` } },
  { key: "C", label: "JWT (HS256) + Redis rate limit (cluster), 1 subject", edge: `    auth: { hs256_secret: "${SECRET}" }\n    rate_limiting: { store: redis, redis_url: "${REDIS_URL}", key_prefix: "${redisPrefix}" }\n`, service: "        auth_required: true\n        scopes: [trade]\n        rate_limit: 1000000000/min\n", headers: { authorization: `Bearer ${token}` } },
  { key: "D", label: "JWT (HS256) + Redis rate limit (cluster), 1000 subjects", edge: "", service: "", headers: {}, tokens: await Promise.all(Array.from({ length: 1000 }, (_, i) => new SignJWT({ sub: `bench-user-${i}`, scope: "trade" }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuer("tradpal-gateway").setAudience("tradpal").setIssuedAt().setExpirationTime("2h").sign(new TextEncoder().encode(SECRET)))), sameAs: "C" },
];
/** EDGE_BENCH_BASELINE=<checkout>: D again from another checkout (its gateway process of its own), for a paired before/after. */
const BASELINE = process.env.EDGE_BENCH_BASELINE;
if (BASELINE) {
  const d = variants.find((v) => v.key === "D")!;
  const c = variants.find((v) => v.key === "C")!;
  variants.push({ ...d, key: "D0", label: `D from the checkout ${BASELINE}`, edge: c.edge, service: c.service, headers: c.headers, sameAs: undefined, root: BASELINE });
}

const dir = mkdtempSync(join(tmpdir(), "edge-bench-"));
const procs: ReturnType<typeof Bun.spawn>[] = [];
const cleanup = () => { redisProc?.kill("SIGTERM"); for (const p of procs) { try { p.kill("SIGTERM"); } catch { /* gone */ } } rmSync(dir, { recursive: true, force: true }); };
process.on("exit", cleanup);

const originPort = freePort();
procs.push(Bun.spawn(pin(0, ["bun", join(ROOT, "bench/peers/origin.ts"), String(originPort)]), { stdout: "ignore", stderr: "inherit" }));
await waitForUrl(`http://127.0.0.1:${originPort}/`);

const gateways: { v: Variant; url: string; pid: number }[] = [];
for (const v of variants) {
  // Every variant is loaded by the same scripted wrk (a request() rotating over its tokens; one token for
  // A–C), so the rows differ only in the gateway: the generator's own cost and pace are the same in each.
  const script = join(dir, `tokens-${v.key}.lua`);
  const tokens = v.tokens ?? [token];
  writeFileSync(script, `local tokens = {${tokens.map((t) => `"${t}"`).join(",")}}\nlocal i = 0\nrequest = function()\n  i = i + 1\n  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1] })\nend\n`);
  if (v.sameAs) {
    const other = gateways.find((g) => g.v.key === v.sameAs)!;
    gateways.push({ v: { ...v, script } as Variant & { script: string }, url: other.url, pid: other.pid });
    continue;
  }
  const port = freePort();
  const file = join(dir, `gateway-${v.key}.yaml`);
  writeFileSync(file, `host:\n  data_dir: ${join(dir, "data-" + v.key)}\n  log_level: warn\nplugins:\n  gateway:\n    port: ${port}\n    hostname: 127.0.0.1\n${v.edge}    services:\n      - name: bench\n        path_prefix: /api\n        instances:\n          - url: http://127.0.0.1:${originPort}\n        health_check: { enabled: false }\n${v.service}`);
  const root = v.root ?? ROOT;
  const p = Bun.spawn(pin(1, ["bun", join(root, "src/main.ts"), "--config", file, "--only", "gateway"]), { stdout: "ignore", stderr: "inherit", cwd: root, env: { ...process.env, REDIS_URL: "" } });
  procs.push(p);
  const url = `http://127.0.0.1:${port}/api/orders`;
  await waitForUrl(url, 15_000);
  const check = await fetch(url, { headers: v.headers });
  if (check.status !== 200) throw new Error(`variant ${v.key}: endpoint check got ${check.status}: ${await check.text()}`);
  gateways.push({ v: { ...v, script } as Variant & { script: string }, url, pid: p.pid });
}

/** wrk with a request script (rotating Authorization headers): wrkLoad only scripts method/body. */
async function wrkScripted(url: string, script: string, seconds: number): Promise<LoadResult> {
  const proc = Bun.spawn(pin(0, ["wrk", "-t", "1", "-c", "64", "-d", `${seconds}s`, "--latency", "-s", script, url]), { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  const num = (re: RegExp) => { const m = re.exec(out); return m ? Number(m[1]) : NaN; };
  const lat = (pct: string) => { const m = new RegExp(`${pct}%\\s+([\\d.]+)(us|ms|s)`).exec(out); if (!m) return NaN; const v = Number(m[1]); return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v; };
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = num(/Non-2xx or 3xx responses: (\d+)/);
  return { rps: num(/Requests\/sec:\s+([\d.]+)/), p50ms: lat("50"), p99ms: lat("99"), requests: num(/(\d+) requests in/), errors: sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0, non2xx: Number.isNaN(non2xx) ? 0 : non2xx, tool: "wrk" };
}

async function measure(g: (typeof gateways)[number], seconds: number): Promise<LoadResult & { cpuUsPerReq: number }> {
  const spec = { url: g.url, connections: 64, durationS: seconds, headers: g.v.headers };
  const script = (g.v as Variant & { script?: string }).script;
  const t0 = cpuTicks(g.pid);
  const r = script ? await wrkScripted(g.url, script, seconds) : useWrk ? await wrkLoad({ ...spec, cpu: 0 }) : await autocannonLoad(spec);
  const t1 = cpuTicks(g.pid);
  return { ...r, cpuUsPerReq: ((t1 - t0) / TICKS_PER_SECOND) * 1e6 / Math.max(1, r.requests) };
}

const runs = new Map<string, (LoadResult & { cpuUsPerReq: number })[]>();
for (let round = 0; round < ROUNDS; round++) {
  for (const g of gateways) {
    await measure(g, WARMUP_S);
    const r = await measure(g, SECONDS);
    if (r.non2xx > 0 || r.errors > 0) console.warn(`  ${g.v.key}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    (runs.get(g.v.key) ?? runs.set(g.v.key, []).get(g.v.key)!).push(r);
    console.log(`round ${round + 1} ${g.v.key}: ${r.rps.toFixed(0)} rps, ${r.cpuUsPerReq.toFixed(1)} µs CPU/req, p50 ${r.p50ms} ms`);
  }
}

const med = (k: string, f: (r: LoadResult & { cpuUsPerReq: number }) => number) => median(runs.get(k)!.map(f));
const baseRps = med("A", (r) => r.rps);
// The least-disturbed round is the best estimate of intrinsic cost on a shared machine.
const baseCpuMin = Math.min(...runs.get("A")!.map((r) => r.cpuUsPerReq));
const throughputRows = variants.map((v) => {
  const rps = med(v.key, (r) => r.rps);
  const all = runs.get(v.key)!.map((r) => r.rps);
  const cpuMin = Math.min(...runs.get(v.key)!.map((r) => r.cpuUsPerReq));
  return [`${v.key}: ${v.label}`, Math.round(rps), `${Math.round(Math.min(...all))}–${Math.round(Math.max(...all))}`, (rps / baseRps).toFixed(2) + "×", med(v.key, (r) => r.cpuUsPerReq).toFixed(1), `${cpuMin.toFixed(1)} (+${(cpuMin - baseCpuMin).toFixed(1)})`, (baseCpuMin / cpuMin).toFixed(2) + "×", med(v.key, (r) => r.p50ms).toFixed(2), med(v.key, (r) => r.non2xx + r.errors)];
});
// A fallback to local counters during the run would make C/D look cheaper than they are: say so.
const cGateway = gateways.find((g) => g.v.key === "C")!;
const cMetrics = await (await fetch(cGateway.url.replace(/\/api\/orders$/, "/metrics"))).text();
const fallbacks = /tradpal_gateway_ratelimit_fallback_transitions_total (\d+)/.exec(cMetrics)?.[1] ?? "?";
const fallbackDecisions = /tradpal_gateway_ratelimit_fallback_decisions_total (\d+)/.exec(cMetrics)?.[1] ?? "?";
console.log(`gateway C: ${fallbacks} fallback transitions, ${fallbackDecisions} decisions taken locally`);
for (const p of procs) p.kill("SIGTERM");
await Promise.all(procs.map((p) => p.exited));

// ---------- part 2: micro-costs ----------

function perOp(ops: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < Math.min(ops, 20_000); i++) fn(i); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < ops; i++) fn(i);
  return ((performance.now() - t0) * 1000) / ops;
}
async function perOpAsync(ops: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(ops, 2000); i++) await fn(i);
  const t0 = performance.now();
  for (let i = 0; i < ops; i++) await fn(i);
  return ((performance.now() - t0) * 1000) / ops;
}
async function perOpConcurrent(ops: number, inFlight: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async () => { while (next < ops) await fn(next++); }));
  return ((performance.now() - t0) * 1000) / ops;
}

const key = new TextEncoder().encode(SECRET);
const opts = { hsSecret: Buffer.from(SECRET), issuer: "tradpal-gateway", jwksIssuer: "tradpal-gateway", audience: "tradpal", skewS: 30, maxBytes: 8192 };
const es = await generateKeyPair("ES256", { extractable: true });
const esJwk = parseJwk({ ...(await exportJWK(es.publicKey)), kid: "k1" })!;
const esToken = await new SignJWT({ sub: "bench-user", scope: "trade" }).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer("tradpal-gateway").setAudience("tradpal").setExpirationTime("2h").sign(es.privateKey);
const lookup = (kid: string) => (kid === "k1" ? esJwk.resolved : undefined);
const policyRl = makePolicy("bench", { limit: 1_000_000_000, periodMs: 60_000 });

const micro: { name: string; us: number }[] = [];
const add = (name: string, us: number) => { micro.push({ name, us }); console.log(`${name}: ${us.toFixed(3)} µs`); };
for (let round = 0; round < ROUNDS; round++) {
  const m = new Map<string, number>();
  add("HS256 verify, ours (node:crypto HMAC + claim checks)", perOp(100_000, () => verifyJwt(token, opts, lookup)));
  add("HS256 verify, jose jwtVerify (peer)", await perOpAsync(20_000, () => jwtVerify(token, key, { issuer: "tradpal-gateway", audience: "tradpal" })));
  add("ES256 verify, ours (crypto.verify)", perOp(5_000, () => verifyJwt(esToken, opts, lookup)));
  add("ES256 verify, jose jwtVerify (peer)", await perOpAsync(5_000, () => jwtVerify(esToken, es.publicKey)));
  add("local GCRA decision (Map)", perOp(1_000_000, (i) => { const r = gcraDecide(policyRl, m.get("k" + (i & 1023)), 1e12 + i); m.set("k" + (i & 1023), r.tat); }));
}

const ctxLocal = testContext();
const edgeRoute = route("bench", { auth: true, scopes: ["trade"], rate: "1000000000/min" });
const local = await createEdgePolicy(decodeGatewaySettings({ auth: { hs256_secret: SECRET }, rate_limiting: { store: "local" } }), ctxLocal, [edgeRoute]);
const cluster = await createEdgePolicy(decodeGatewaySettings({ auth: { hs256_secret: SECRET }, rate_limiting: { store: "redis", redis_url: REDIS_URL, key_prefix: redisPrefix + "micro:" } }), testContext(), [edgeRoute]);
const req = new Request("http://localhost/api/orders", { headers: { authorization: `Bearer ${token}` } });
for (let round = 0; round < ROUNDS; round++) {
  add("check(): cached token + scope + local limit + headers (whole edge, sync)", perOp(200_000, () => local.check(req, edgeRoute, "127.0.0.1")));
  add("check(): cached token + Redis limit, one at a time (round trip)", await perOpAsync(5_000, async () => cluster.check(req, edgeRoute, "127.0.0.1")));
  add("check(): cached token + Redis limit, 64 in flight (batched)", await perOpConcurrent(50_000, 64, async () => cluster.check(req, edgeRoute, "127.0.0.1")));
}
await local.stop();
await cluster.stop();

const microNames = [...new Set(micro.map((m) => m.name))];
const microRows = microNames.map((n) => {
  const xs = micro.filter((m) => m.name === n).map((m) => m.us);
  return [n, median(xs).toFixed(3), `${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)}`];
});
const hsOurs = median(micro.filter((m) => m.name.startsWith("HS256 verify, ours")).map((m) => m.us));
const hsJose = median(micro.filter((m) => m.name.startsWith("HS256 verify, jose")).map((m) => m.us));

const tool = useWrk ? "wrk 4.x, 1 thread, 64 connections" : "autocannon, 64 connections";
const md = `Command: \`bun run bench gateway-edge\` (${SECONDS}s per measured run after ${WARMUP_S}s warm-up, ${ROUNDS} interleaved rounds A B C D). Tool: ${tool}.
Layout: load generator and origin (bench/peers/origin.ts, 114-byte JSON) on CPU 0, each gateway host (\`bun src/main.ts --only gateway\`, default upstream client) on CPU 1${canPin ? "" : " (taskset missing: not pinned)"}.
Redis: ${ownRedis ? "a redis-server of the bench's own (no persistence), pinned to CPU 0 with the load generator, as a Redis on a host of its own would be" : `the shared Redis on ${SHARED_REDIS_URL} (EDGE_BENCH_REDIS=shared)`}. The route's limit is 10⁹/min so every request takes the full decision and none is refused.

**Throughput through the real gateway** (targets: B ≥ 0.9× A, C/D ≥ 0.7× A). Every variant is loaded by the same scripted wrk (a Lua request() rotating over its bearer tokens: one for A–C, 1,000 for D; A ignores it), so rows differ only in the gateway.

${table(["variant", "rps (median)", "rps range", "rps ratio to A", "gateway CPU µs/req (median)", "CPU µs/req (min, +vs A)", "CPU-bound ratio (A min / X min)", "p50 ms", "non-2xx+errors"], throughputRows)}

The gateway is pinned to one core and saturated, so its throughput is bounded by CPU per request: the
CPU-bound ratio (least-disturbed round of A over that of X) is the steadier estimate of the edge's
throughput cost here; the rps ratio moves with whatever else the shared machine runs during a round.

Gateway C/D during the run: ${fallbacks} fallback transitions, ${fallbackDecisions} decisions taken by the local fallback (0 = every C/D decision was made in Redis).

**Micro-costs** (this process, median of ${ROUNDS} rounds)

${table(["operation", "µs/op (median)", "range"], microRows)}

Our synchronous HS256 check is ${(hsJose / hsOurs).toFixed(1)}× cheaper than jose's (${hsOurs.toFixed(2)} vs ${hsJose.toFixed(2)} µs); a repeated token skips it entirely (verified-token LRU).`;
console.log("\n" + md);
if (BASELINE) console.log("(EDGE_BENCH_BASELINE set: a paired check, RESULTS.md left as it was)");
else writeSection("gateway-edge", md);
cleanup();
process.exit(0);
