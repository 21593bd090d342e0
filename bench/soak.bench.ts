/**
 * Soak of a split platform under faults (issue 16, item 5):
 *
 *   bun run bench soak                      10 minutes (SOAK_MINUTES=n for another length)
 *   SOAK_SHORT=1 bun run bench soak         a 2-minute smoke run; prints, writes nothing unless SOAK_WRITE=1
 *
 * Each plugin its own process (`bun run src/main.ts --config <temp yaml> --only <plugin>`, one TRADPAL_PLATFORM),
 * the gateway with `host.workers: 2` (a supervisor and two workers on one port), one private redis-server
 * (appendonly, on a free port; never the shared 6379), two origins (bench/peers/chaos-origin.ts). Mixed
 * traffic the whole time, each kind its own load process (bench/peers/chaos-load.ts, paced): proxied GETs,
 * authenticated GETs (an ES256 token from the security plugin on an auth_required route), GETs on a route
 * with a low rate limit (429 is an expected answer there), secret reads (PUT once, GET with a service token),
 * and events published at a fixed rate into a consumer group (bench/lib/chaos-events.ts). Meanwhile, in turn:
 * an origin SIGKILLed and restarted, one gateway worker SIGKILLed (the supervisor restarts it), a plugin
 * process (breaker, then events) SIGKILLed and restarted, Redis SIGKILLed and restarted on its AOF; and
 * config.yaml rewritten every 30 s (valid changes, atomically). Every failure is put inside the window of
 * the fault it fell in (fault start → restored + grace) or outside any; events acknowledged vs delivered;
 * RSS and open fds of every platform process from /proc. Writes bench/soak.svg and the "soak" section of
 * bench/RESULTS.md. SOAK_PLATFORM_ROOT=<checkout> runs the platform from another checkout (a clean worktree);
 * SOAK_KEEP=1 keeps the logs.
 */
import { join } from "node:path";
import { tmpdir } from "node:os";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { waitForUrl } from "./lib/measure";
import { table, writeSection } from "./lib/results";
import { cleanupAll, codeLabel, freePort, installExitHandlers, PrivateRedis, sigkill, spawnPiped, spawnTracked, trackDir, waitForPort } from "./lib/chaos-procs";
import { ChaosConsumer, ChaosPublisher } from "./lib/chaos-events";
import { Buckets, fmtStatuses, total, type Statuses } from "./lib/chaos-buckets";
import { ProcSampler, workerPids } from "./lib/soak-sampler";
import { soakSvg, type ChartBin } from "./lib/soak-svg";

const SHORT = process.env.SOAK_SHORT === "1" || Bun.argv.includes("--short");
const MINUTES = Number(process.env.SOAK_MINUTES ?? (SHORT ? 2 : 10));
const WRITE = !SHORT || process.env.SOAK_WRITE === "1";
if (!(MINUTES > 0 && MINUTES <= 240)) throw new Error(`SOAK_MINUTES must be in (0, 240], not ${process.env.SOAK_MINUTES}`);
const RUN_MS = MINUTES * 60_000;
const WARM_MS = 15_000; // no fault in the first 15 s (JIT, pools), none in the last TAIL_MS
const TAIL_MS = 20_000;
const FAULT_EVERY_MS = SHORT ? 12_000 : 25_000;
const REWRITE_EVERY_MS = 30_000;
const GRACE_MS = 5_000; // a fault's window ends this long after it was restored
const DOWN_MS = { upstream: 5_000, plugin: 3_000, redis: 3_000 };
const EVENT_RATE = 50;
const SAMPLE_MS = SHORT ? 1000 : 2000;
const BIN_S = 5;
const HARD_CAP_MS = RUN_MS + 240_000;
const LOAD = {
  proxied: { concurrency: 6, pauseMs: 2 },
  authenticated: { concurrency: 3, pauseMs: 2 },
  rate_limited: { concurrency: 1, pauseMs: 50 },
  secret_reads: { concurrency: 2, pauseMs: 5 },
};
const LIMIT = ["300/min", "240/min"]; // the rate-limited route's limit, alternated by the rewrites
const ADMIN = "soak-admin-token-0123456789abcdef";
const SERVICE_ACCOUNT = "soak_service";
const SECRET_PATH = `services/${SERVICE_ACCOUNT}/db`;

const HERE = import.meta.dir;
const ROOT = process.env.SOAK_PLATFORM_ROOT ?? join(HERE, "..");
const dir = trackDir(join(tmpdir(), `tradpal-soak-${process.pid}`));
const disarmCap = installExitHandlers(HARD_CAP_MS, "soak bench");

// ---- settings ------------------------------------------------------------------------------------------
type Plugin = "security" | "events" | "breaker" | "falco" | "gateway";
const PLUGINS: Plugin[] = ["security", "events", "breaker", "falco", "gateway"];
const ports: Record<Plugin, number> = { security: freePort(), events: freePort(), breaker: freePort(), falco: freePort(), gateway: freePort() };
const originPorts = [freePort(), freePort()];
const originUrls = originPorts.map((p) => `http://127.0.0.1:${p}`);
const redis = new PrivateRedis(join(dir, "redis"));
const PLATFORM = `soak-${process.pid}`;
const url = (p: Plugin) => `http://127.0.0.1:${ports[p]}`;
const cfgFile = join(dir, "config.yaml");

/** The platform's config; `v` (0, 1, 2, …) picks the rewritten variant: every value it touches is valid both ways. */
function platformYaml(v: number): string {
  const odd = v % 2 === 1;
  const instances = `[${originUrls.map((u) => `{ url: "${u}" }`).join(", ")}]`;
  const common = `instances: ${instances}
        health_check: { path: /health, interval: 500ms, timeout: 300ms, healthy_threshold: 1, unhealthy_threshold: 2 }
        outlier: { consecutive_failures: 3, base_ejection: 5s, max_ejection: 30s }
        retries: { attempts: 3, per_try_timeout: 500ms, backoff_base: 1ms, backoff_cap: 5ms }`;
  return `# soak config, variant ${v} (rewritten every ${REWRITE_EVERY_MS / 1000} s by bench/soak.bench.ts)
host:
  data_dir: ${join(dir, "data")}
  log_level: info
  bind: 127.0.0.1
  redis_url: "${redis.url}"
  workers: \${SOAK_WORKERS:-1}
plugins:
  gateway:
    port: ${ports.gateway}
    auth:
      enabled: true
      jwks_url: "${url("security")}/.well-known/jwks.json"
      jwks_issuer: tradpal-security
      audience: tradpal
    rate_limiting: { default: 100000/s, key: subject }
    registration: { admin_token: "${ADMIN}" }
    access_log: { enabled: false }
    services:
      - name: soak
        path_prefix: /soak
        timeout: ${odd ? "4s" : "3s"}
        ${common}
      - name: secure
        path_prefix: /secure
        auth_required: true
        scopes: [trade]
        timeout: 3s
        ${common}
      - name: limited
        path_prefix: /limited
        rate_limit: ${LIMIT[v % 2]}
        ${common}${odd ? `
      - name: extra${v}
        path_prefix: /extra${v}
        instances: [{ url: "${originUrls[0]}" }]
        health_check: { enabled: false }` : ""}
  security:
    port: ${ports.security}
    admin_token: "${ADMIN}"
    services:
      ${SERVICE_ACCOUNT}: { scopes: [read, trade] }
  breaker:
    port: ${ports.breaker}
    admin_token: "${ADMIN}"
    defaults: { failure_threshold: 5, failure_rate_threshold: 50, minimum_calls: 10, recovery_timeout: ${odd ? "3s" : "2s"}, recovery_backoff_multiplier: 1, half_open_max_calls: 3 }
    tick_interval: 50ms
  events:
    port: ${ports.events}
    stream: soak_events
    visibility_timeout: ${odd ? "6s" : "5s"}
  falco:
    port: ${ports.falco}
`;
}
/** Atomic: the host watches the directory, so a rename is one change with the whole file. */
function writeConfig(v: number): void {
  writeFileSync(`${cfgFile}.tmp`, platformYaml(v));
  renameSync(`${cfgFile}.tmp`, cfgFile);
}

// ---- processes ----------------------------------------------------------------------------------------
type Proc = ReturnType<typeof Bun.spawn>;
const procs: Partial<Record<Plugin, Proc>> = {};
const lives: Record<Plugin, number> = { security: 0, events: 0, breaker: 0, falco: 0, gateway: 0 };
const logFiles: Record<Plugin, string[]> = { security: [], events: [], breaker: [], falco: [], gateway: [] };
async function startPlugin(id: Plugin): Promise<void> {
  const log = join(dir, `${id}.${++lives[id]}.log`);
  logFiles[id].push(log);
  procs[id] = spawnTracked(["bun", "run", join(ROOT, "src/main.ts"), "--config", cfgFile, "--only", id], log,
    { TRADPAL_PLATFORM: PLATFORM, REDIS_URL: "", SOAK_WORKERS: id === "gateway" ? "2" : "1" });
  await waitForUrl(`${url(id)}/health`, 30_000);
}
const origins: (Proc | undefined)[] = [undefined, undefined];
async function startOrigin(i: number): Promise<void> {
  origins[i] = spawnTracked(["bun", "run", join(HERE, "peers/chaos-origin.ts"), String(originPorts[i])], join(dir, `origin${i}.log`));
  await waitForPort(originPorts[i]);
}
const gatewayWorkers = () => (procs.gateway ? workerPids(procs.gateway.pid) : new Map<number, number>());

// ---- fault schedule -----------------------------------------------------------------------------------
type FaultKind = "upstream" | "worker" | "plugin" | "redis";
interface Fault { n: number; kind: FaultKind; target: string; start: number; restored: number; end: number; note: string }
const faults: Fault[] = [];
const rewrites: number[] = [];
const injectErrors: string[] = [];
let pluginTurn = 0, originTurn = 0;

async function inject(kind: FaultKind): Promise<void> {
  const start = Date.now();
  let target = "", note = "";
  if (kind === "upstream") {
    const i = originTurn++ % 2;
    target = `origin ${i}`;
    await sigkill(origins[i]);
    await Bun.sleep(DOWN_MS.upstream);
    await startOrigin(i);
    note = `down ${DOWN_MS.upstream / 1000} s`;
  } else if (kind === "worker") {
    const before = gatewayWorkers().get(1);
    target = "gateway worker 1";
    if (!before) throw new Error("gateway worker 1 not found under the supervisor");
    process.kill(before, "SIGKILL");
    target = `gateway worker 1 (pid ${before})`;
    // The supervisor restarts it (backoff from 100 ms); bounded wait for the new pid, then for it to answer.
    let after: number | undefined;
    for (const until = Date.now() + 15_000; Date.now() < until;) {
      after = gatewayWorkers().get(1);
      if (after && after !== before) break;
      await Bun.sleep(20);
    }
    if (!after || after === before) note = "**not restarted within 15 s**";
    else note = `new pid after ${Date.now() - start} ms`;
  } else if (kind === "plugin") {
    const id: Plugin = pluginTurn++ % 2 === 0 ? "breaker" : "events";
    target = id;
    await sigkill(procs[id]);
    await Bun.sleep(DOWN_MS.plugin);
    const t = Date.now();
    await startPlugin(id);
    note = `down ${DOWN_MS.plugin / 1000} s; /health ${Date.now() - t} ms after the start`;
  } else {
    target = "redis-server";
    await redis.kill();
    await Bun.sleep(DOWN_MS.redis);
    await redis.start();
    note = `down ${DOWN_MS.redis / 1000} s (SIGKILL, restarted on its AOF)`;
  }
  const restored = Date.now();
  faults.push({ n: faults.length + 1, kind, target, start, restored, end: restored + GRACE_MS, note });
  console.log(`  +${((start - t0) / 1000).toFixed(0)} s fault ${faults.length}: ${kind} ${target} (${note}), restored after ${restored - start} ms`);
}

// ---- start ----------------------------------------------------------------------------------------------
console.log(`soak: ${MINUTES} min${SHORT ? " (short)" : ""}; platform from ${ROOT}; logs in ${dir}`);
// Both variants must pass the platform's own check before anything runs (a rewrite is a valid change).
for (const v of [0, 1]) {
  writeFileSync(join(dir, `check${v}.yaml`), platformYaml(v));
  const chk = Bun.spawnSync(["bun", "run", join(ROOT, "src/main.ts"), "--check", "--config", join(dir, `check${v}.yaml`)], { env: { ...process.env, SOAK_WORKERS: "2" } });
  if (chk.exitCode !== 0) throw new Error(`config variant ${v} refused:\n${chk.stdout}${chk.stderr}`);
}
writeConfig(0);
await redis.start();
await Promise.all([0, 1].map(startOrigin));
await startPlugin("security");
await Promise.all((["events", "breaker", "falco"] as Plugin[]).map(startPlugin));
await startPlugin("gateway");
for (const until = Date.now() + 20_000; gatewayWorkers().size < 2 && Date.now() < until;) await Bun.sleep(50);
if (gatewayWorkers().size < 2) throw new Error("the gateway supervisor did not start 2 workers");
for (const path of ["/soak/x", "/limited/x"]) await waitForUrl(`${url("gateway")}${path}`, 10_000);

const admin = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };
const tokRes = await fetch(`${url("security")}/tokens/${SERVICE_ACCOUNT}`, { method: "POST", headers: admin, body: JSON.stringify({ scopes: ["read", "trade"] }) });
if (tokRes.status !== 201) throw new Error(`token: ${tokRes.status} ${await tokRes.text()}`);
const token = ((await tokRes.json()) as { token: string }).token;
const put = await fetch(`${url("security")}/secrets/${SECRET_PATH}`, { method: "PUT", headers: admin, body: JSON.stringify({ data: { password: "soak-secret" } }) });
if (!put.ok) throw new Error(`secret PUT: ${put.status} ${await put.text()}`);
const bearer = { authorization: `Bearer ${token}` };
for (const [what, u] of [["secret read", `${url("security")}/secrets/${SECRET_PATH}`], ["authenticated route", `${url("gateway")}/secure/x`]]) {
  let status = 0;
  for (const until = Date.now() + 10_000; status !== 200 && Date.now() < until;) {
    status = await fetch(u, { headers: bearer }).then(async (r) => { await r.arrayBuffer(); return r.status; }, () => 0);
    if (status !== 200) await Bun.sleep(100);
  }
  if (status !== 200) throw new Error(`${what} with the service token: ${status}`);
}

const sampler = new ProcSampler(() => {
  const w = gatewayWorkers();
  return [
    { role: "gateway supervisor", pid: procs.gateway?.pid }, { role: "gateway worker 0", pid: w.get(0) }, { role: "gateway worker 1", pid: w.get(1) },
    ...(["security", "events", "breaker", "falco"] as Plugin[]).map((id) => ({ role: id, pid: procs[id]?.exitCode === null ? procs[id]?.pid : undefined })),
    { role: "redis-server", pid: redis.proc?.exitCode === null ? redis.proc?.pid : undefined },
  ];
}, SAMPLE_MS);
const consumer = new ChaosConsumer(url("events"), `soak-${process.pid}`);
await consumer.start();
const publisher = new ChaosPublisher(url("events"), EVENT_RATE);

type Kind = keyof typeof LOAD;
const targets: Record<Kind, { url: string; headers?: Record<string, string> }> = {
  proxied: { url: `${url("gateway")}/soak/x` },
  authenticated: { url: `${url("gateway")}/secure/x`, headers: bearer },
  rate_limited: { url: `${url("gateway")}/limited/x` },
  secret_reads: { url: `${url("security")}/secrets/${SECRET_PATH}`, headers: bearer },
};
const KINDS = Object.keys(LOAD) as Kind[];
const buckets = Object.fromEntries(KINDS.map((k) => [k, new Buckets()])) as Record<Kind, Buckets>;
const loads = KINDS.map((k) => {
  const p = spawnPiped(["bun", "run", join(HERE, "peers/chaos-load.ts"), targets[k].url, String(LOAD[k].concurrency), String(RUN_MS / 1000 + 60),
    JSON.stringify({ headers: targets[k].headers ?? {}, pauseMs: LOAD[k].pauseMs })], join(dir, `load-${k}.log`));
  return { p, reading: buckets[k].read(p.stdout) };
});
const t0 = Date.now();
const tEnd = t0 + RUN_MS;
const fmtT = (t: number) => `${Math.floor((t - t0) / 60_000)}:${String(Math.floor(((t - t0) % 60_000) / 1000)).padStart(2, "0")}`;
sampler.start();
publisher.start();

// ---- run: faults in turn, rewrites every 30 s (two bounded loops) ---------------------------------------
const KINDS_IN_TURN: FaultKind[] = ["upstream", "worker", "plugin", "redis"];
const faultLoop = (async () => {
  for (let k = 0; ; k++) {
    const at = t0 + WARM_MS + k * FAULT_EVERY_MS;
    if (at + FAULT_EVERY_MS > tEnd - TAIL_MS + FAULT_EVERY_MS / 2 || k > 10_000) break;
    await Bun.sleep(Math.max(0, at - Date.now()));
    const kind = KINDS_IN_TURN[k % KINDS_IN_TURN.length];
    // A fault that cannot be injected or undone (a plugin that does not come back) is a finding, not the end of the run.
    await inject(kind).catch((err) => {
      injectErrors.push(`${fmtT(Date.now())} ${kind}: ${(err as Error).message}`);
      console.error(`  fault ${kind} failed: ${(err as Error).message}`);
    });
  }
})();
const rewriteLoop = (async () => {
  for (let v = 1; ; v++) {
    const at = t0 + v * REWRITE_EVERY_MS;
    if (at > tEnd - 5000 || v > 10_000) break;
    await Bun.sleep(Math.max(0, at - Date.now()));
    writeConfig(v);
    rewrites.push(Date.now());
  }
})();
const progress = setInterval(() => console.log(`  +${Math.round((Date.now() - t0) / 1000)} s: ${publisher.records.length} publishes, ${consumer.delivered.size} delivered`), 60_000);
await Promise.all([faultLoop, rewriteLoop]);
await Bun.sleep(Math.max(0, tEnd - Date.now()));
clearInterval(progress);
const loadEnd = Date.now();
for (const l of loads) l.p.kill("SIGTERM");
await Promise.race([Promise.all(loads.map((l) => l.reading)), Bun.sleep(8000)]);
await publisher.stop();
const acked = publisher.acked();
console.log(`draining: ${acked.size} acknowledged, ${consumer.delivered.size} delivered so far`);
const drain = await consumer.drain(acked, 30_000);
await consumer.stop();
sampler.sample();
sampler.stop();
const alive = Object.fromEntries(PLUGINS.map((id) => [id, procs[id]?.exitCode === null])) as Record<Plugin, boolean>;

// ---- analysis -----------------------------------------------------------------------------------------
/** The fault whose window [start, end] overlaps [from, until], if any. */
const faultAt = (from: number, until: number) => faults.find((f) => from <= f.end && until >= f.start);
const expected = (kind: Kind | "events", key: string) => /^2\d\d$/.test(key) || (kind === "rate_limited" && /^429/.test(key));
interface Cause { inside: Partial<Record<FaultKind, number>>; outside: number; nearRewrite: number }
const causes = new Map<string, Cause>();
const perFault = new Map<number, Statuses>();
const bins = new Map<number, ChartBin>();
const binOf = (t: number) => { const k = t0 + Math.ceil((t - t0) / (BIN_S * 1000)) * BIN_S * 1000; if (!bins.has(k)) bins.set(k, { t: k, inside: 0, outside: 0, ok: 0 }); return bins.get(k)!; };
const outsideList: { t: number; cause: string; n: number }[] = [];
function account(cause: string, from: number, until: number, n: number): void {
  const c = causes.get(cause) ?? { inside: {}, outside: 0, nearRewrite: 0 };
  causes.set(cause, c);
  const f = faultAt(from, until);
  const bin = binOf(until);
  if (f) {
    c.inside[f.kind] = (c.inside[f.kind] ?? 0) + n;
    const s = perFault.get(f.n) ?? {};
    s[cause] = (s[cause] ?? 0) + n;
    perFault.set(f.n, s);
    bin.inside += n;
  } else {
    c.outside += n;
    if (rewrites.some((r) => until >= r && from <= r + 3000)) c.nearRewrite += n;
    outsideList.push({ t: until, cause, n });
    bin.outside += n;
  }
}
const totals: Record<string, Statuses> = {};
for (const k of KINDS) {
  totals[k] = buckets[k].statuses(t0 - 1, Infinity);
  for (const b of buckets[k].list) {
    for (const [key, n] of Object.entries(b.n)) {
      if (expected(k, key)) { if (/^2/.test(key)) binOf(b.t).ok += n; continue; }
      account(`${k}: ${key}`, b.t - 100, b.t, n);
    }
  }
}
const evStatus: Statuses = {};
for (const r of publisher.records) {
  evStatus[String(r.status)] = (evStatus[String(r.status)] ?? 0) + 1;
  if (r.status !== 201) account(`event publish: ${r.status}`, r.at, r.at + (Number.isNaN(r.ms) ? 3000 : r.ms), 1);
}
const lost = drain.missing.length;
const unackedDelivered = [...consumer.delivered].filter((s) => !acked.has(s)).length;
const stalls = KINDS.map((k) => {
  // From the first answer on: the generator's own start-up is not a stall.
  const s = buckets[k].silent((buckets[k].list.find((b) => total(b.n) > 0)?.t ?? t0) - 100, loadEnd);
  const f = s.ms ? faultAt(t0 + s.at, t0 + s.at + s.ms) : undefined;
  return { k, ...s, where: s.ms ? (f ? `inside fault ${f.n} (${f.kind} ${f.target})` : "**outside any fault**") : "" };
});
const reloadCounts = Object.fromEntries(PLUGINS.map((id) => {
  let ok = 0, refused = 0;
  for (const f of logFiles[id]) {
    const text = (() => { try { return readFileSync(f, "utf8"); } catch { return ""; } })();
    ok += (text.match(/"config reloaded"/g) ?? []).length;
    refused += (text.match(/"config reload (refused|failed)/g) ?? []).length;
  }
  return [id, { ok, refused }];
})) as Record<Plugin, { ok: number; refused: number }>;

// ---- report -------------------------------------------------------------------------------------------
const kindsLabel: Record<FaultKind, string> = { upstream: "origin killed", worker: "gateway worker SIGKILLed", plugin: "plugin process killed", redis: "Redis restarted" };
const causeRows = [...causes.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([cause, c]) => [
  cause, ...KINDS_IN_TURN.map((k) => c.inside[k] ?? 0), c.outside ? `**${c.outside}**${c.nearRewrite ? ` (${c.nearRewrite} within 3 s of a rewrite)` : ""}` : "0",
]);
const faultRows = faults.map((f) => [f.n, fmtT(f.start), `${kindsLabel[f.kind]}: ${f.target}`, f.note, `${((f.restored - f.start) / 1000).toFixed(1)} s`,
  Object.entries(perFault.get(f.n) ?? {}).map(([c, n]) => `${c} ×${n}`).join("; ") || "none"]);
const roles = sampler.roleNames();
const procRows = roles.map((role) => {
  const tr = sampler.trend(role, 60_000, 30_000);
  const r = (x: number) => (Number.isNaN(x) ? "—" : x.toFixed(1));
  return [role, tr.pids, `${tr.lifeMin.toFixed(1)} min`, `${r(tr.rssStart)} / ${r(tr.rssHead)} / ${r(tr.rssTail)} / ${r(tr.rssMax)}`,
    Number.isNaN(tr.slopeAll) ? "—" : `${tr.slopeAll >= 0 ? "+" : ""}${tr.slopeAll.toFixed(2)} / ${tr.slopeHalf >= 0 ? "+" : ""}${tr.slopeHalf.toFixed(2)}`,
    `${tr.fdsHead} / ${tr.fdsTail} / ${tr.fdsMax}`];
});
const totalRows = KINDS.map((k) => {
  const s = totals[k];
  const n = Object.values(s).reduce((a, b) => a + b, 0);
  const bad = Object.entries(s).filter(([key]) => !expected(k, key)).reduce((a, [, v]) => a + v, 0);
  return [k, `${targets[k].url.replace(/^http:\/\/127\.0\.0\.1:\d+/, (m) => (m.endsWith(`:${ports.gateway}`) ? "gateway" : "security"))}`, `${LOAD[k].concurrency} × (request, ${LOAD[k].pauseMs} ms pause)`, n, fmtStatuses(s), `${bad} (${((100 * bad) / Math.max(1, n)).toFixed(3)} %)`];
});
const outsideTotal = [...causes.values()].reduce((a, c) => a + c.outside, 0);
const insideTotal = [...causes.values()].reduce((a, c) => a + Object.values(c.inside).reduce((x, y) => x + (y ?? 0), 0), 0);
const load1 = (await Bun.file("/proc/loadavg").text().catch(() => "?")).split(" ").slice(0, 3).join(" ");
const countOf = (k: FaultKind) => faults.filter((f) => f.kind === k).length;

const svg = soakSvg({
  title: `Soak ${MINUTES} min: split platform (gateway ×2 workers, security, events, breaker, falco, Redis) under faults`,
  t0, t1: loadEnd, faults, rewrites, rows: sampler.rows.filter((r) => r.t <= loadEnd + SAMPLE_MS), roles, bins: [...bins.values()].filter((b) => b.t <= loadEnd + BIN_S * 1000).sort((a, b) => a.t - b.t), binS: BIN_S,
});

const md = `## Soak: a split platform under mixed traffic and injected faults

Command: \`bun run bench soak\` (bench/soak.bench.ts; ${MINUTES} min${SHORT ? ", short mode" : ""}). Platform code: ${codeLabel(ROOT)}${process.env.SOAK_PLATFORM_ROOT ? ` — run from a clean worktree of HEAD (\`SOAK_PLATFORM_ROOT=${process.env.SOAK_PLATFORM_ROOT}\`): the shared checkout had other engineers' uncommitted changes under src/ and plugins/, and a plugin restarted mid-run would have loaded whatever was there at that moment` : ""}.
Load average at the end: ${load1} (a shared 2-core machine: everything below — 9 platform processes, Redis, 2 origins, 4 load generators and this script — shares its 2 cores).

**Layout.** Each plugin its own process: \`bun run src/main.ts --config <temp config.yaml> --only <plugin>\`, one \`TRADPAL_PLATFORM\`, \`host.redis_url\`
pointing at a private redis-server on a free port (${PrivateRedis.SETTINGS}). The gateway with \`host.workers: 2\` (a supervisor and two workers on one port,
SO_REUSEPORT); security, events, breaker and falco one process each. Two origins (bench/peers/chaos-origin.ts) behind three gateway services:
\`/soak\` (proxied), \`/secure\` (\`auth_required: true, scopes: [trade]\`, ES256 tokens checked against the security plugin's JWKS), \`/limited\`
(\`rate_limit: ${LIMIT.join(" ↔ ")}\`, alternated by the rewrites; cluster limiter on Redis); every service health-checked every 500 ms, outlier
detection (3 consecutive failures), 3 tries with a 500 ms per-try timeout.

**Traffic** (each kind its own closed-loop process, bench/peers/chaos-load.ts, 5 s client deadline):
${table(["kind", "target", "workers", "requests", "answers (status: count)", "failed (not 2xx; 429 expected on /limited)"], totalRows)}

Events: one \`POST /events\` to the events plugin every ${1000 / EVENT_RATE} ms (${EVENT_RATE}/s, one attempt, no retry; a 201 is an acknowledged event), consumed by one
consumer-group member (EventSubscriberClient, reconnecting with backoff 50 ms–1 s). The secret was PUT once with the admin token and read with a
token of \`${SERVICE_ACCOUNT}\` (its own \`services/${SERVICE_ACCOUNT}/\` path); the authenticated route uses the same token (scopes read, trade).

**Faults**, one every ${FAULT_EVERY_MS / 1000} s in turn after a ${WARM_MS / 1000} s warm-up, none in the last ${TAIL_MS / 1000} s: an origin SIGKILLed and restarted after
${DOWN_MS.upstream / 1000} s (alternately origin 0 and 1); gateway worker 1 SIGKILLed (its supervisor restarts it; worker 0 lives the whole run);
a plugin process SIGKILLed and restarted after ${DOWN_MS.plugin / 1000} s (alternately breaker and events); redis-server SIGKILLed and restarted
after ${DOWN_MS.redis / 1000} s on its AOF. ${faults.length} faults: ${KINDS_IN_TURN.map((k) => `${countOf(k)} ${kindsLabel[k]}`).join(", ")}. A fault's window runs from its
injection to ${GRACE_MS / 1000} s after it was restored. config.yaml rewritten every ${REWRITE_EVERY_MS / 1000} s (${rewrites.length} rewrites, temp file + rename;
each flips the /soak timeout 3 s ↔ 4 s, the /limited limit, the breaker's recovery_timeout 2 s ↔ 3 s, events' visibility_timeout 5 s ↔ 6 s, and adds or
removes a service \`extraN\`). Reloads logged per process (\`config reloaded\` / refused): ${PLUGINS.map((id) => `${id} ${reloadCounts[id].ok}${reloadCounts[id].refused ? ` / **${reloadCounts[id].refused} refused**` : ""}`).join(", ")}
(the gateway's count is over its supervisor's log, i.e. both workers; a restarted process counts only the rewrites after its start).

### Failures by cause and window

${table(["cause (kind: status[:code])", ...KINDS_IN_TURN.map((k) => `inside: ${kindsLabel[k]}`), "outside any fault window"], causeRows.length ? causeRows : [["none", 0, 0, 0, 0, "0"]])}

${insideTotal} failures inside fault windows, **${outsideTotal} outside**${outsideList.length ? ` (at ${outsideList.slice(0, 12).map((o) => `${fmtT(o.t)} ${o.cause} ×${o.n}`).join("; ")}${outsideList.length > 12 ? "; …" : ""})` : ""}.
Longest stretch with no answer at all, per kind: ${stalls.map((s) => `${s.k} ${s.ms ? `${s.ms} ms at ${fmtT(t0 + s.at)} (${s.where})` : "none"}`).join("; ")}.

Per fault (failures inside its window, all kinds):

${table(["#", "at (m:ss)", "fault", "what happened", "until restored", "failures in the window"], faultRows)}

### Events

${publisher.records.length} publishes (${fmtStatuses(evStatus)}), **${acked.size} acknowledged, ${[...acked].filter((s) => consumer.delivered.has(s)).length} of them delivered, ${lost} lost**
(backlog drained ${drain.ms} ms after the last publish; bounded at 30 s); ${consumer.delivered.size} distinct delivered, ${consumer.deliveries - consumer.delivered.size} redeliveries,
${unackedDelivered} delivered without a 201 (stored, but the answer was lost with the process or Redis). Subscriber errors (reconnects): ${consumer.errors}.
Publisher ticks skipped for 200 answers outstanding: ${publisher.skipped}.${lost ? ` Lost: seq ${drain.missing.slice(0, 20).join(", ")}${lost > 20 ? ", …" : ""}.` : ""}

### Memory and file descriptors (from /proc every ${SAMPLE_MS / 1000} s)

Per role, the process that lived longest (a killed process's successor is a new pid; "lives" counts them). RSS in MB: at its start / median of its first
minute after a 30 s warm-up / median of its last minute / max. Slope: least squares of RSS over its life after the warm-up / over the second half of it, MB per minute.

${table(["process", "lives", "longest life", "RSS MB start / first min / last min / max", "slope MB/min (all / 2nd half)", "open fds first min / last min / max"], procRows)}

Machine load (1-min load average, /proc/loadavg, sampled with the processes): median ${sampler.loadStats().median.toFixed(1)}, max ${sampler.loadStats().max.toFixed(1)}.
Chart: [soak.svg](soak.svg) (RSS, open fds, and failures per ${BIN_S} s bin on one time axis; fault windows shaded by kind, rewrites dashed).
Fault injections that failed: ${injectErrors.length ? injectErrors.map((e) => `**${e}**`).join("; ") : "none"}. Processes alive at the end: ${PLUGINS.map((id) => `${id} ${alive[id] ? "yes" : "**no**"}`).join(", ")}.
`;
console.log(md);
// The raw series, to redraw or re-read a run (kept with the logs under SOAK_KEEP=1).
writeFileSync(join(dir, "soak-data.json"), JSON.stringify({ t0, loadEnd, faults, rewrites, rows: sampler.rows, bins: [...bins.values()], causes: Object.fromEntries(causes), totals, evStatus, lost, missing: drain.missing }));
if (WRITE) {
  writeFileSync(join(HERE, "soak.svg"), svg);
  writeSection("soak", md);
  console.log("wrote bench/soak.svg and the soak section of bench/RESULTS.md");
} else {
  writeFileSync(join(dir, "soak.svg"), svg);
  console.log(`short run: chart in ${join(dir, "soak.svg")} (kept only with SOAK_KEEP=1); RESULTS.md untouched (SOAK_WRITE=1 writes it)`);
}
disarmCap();
if (process.env.SOAK_KEEP === "1") console.log(`logs kept in ${dir}`);
cleanupAll(process.env.SOAK_KEEP === "1");
process.exit(0);
