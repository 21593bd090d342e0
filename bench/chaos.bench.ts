/**
 * Chaos under load (issue 12, last "Done when" item):
 *
 *   bun run bench chaos            (~1.5 min; hard cap 4 min)
 *
 * One platform process (gateway + breaker + events, `bun run src/main.ts --config <temp yaml>`) on a
 * private redis-server, three origins (bench/peers/chaos-origin.ts) behind one gateway service, closed-loop
 * load through the gateway (bench/peers/chaos-load.ts, its own process) and events published at a fixed
 * rate and consumed by a consumer group the whole time. Phase by phase: one instance SIGKILLed then
 * restarted, one slowed past the per-try timeout then restored, all three killed then restarted, Redis
 * SIGKILLed then started again on the same port and AOF, then the platform itself paused (SIGSTOP) and
 * starved (SIGSTOP/SIGCONT in short cycles), where any ejection is collateral. Per phase: requests by status during the fault
 * and after it, time to eject and readmit (GET /services/<name>), first 2xx after the full outage, the
 * breaker's transitions, healthy instances taken out, and events acknowledged vs delivered; poll gaps
 * with the platform's scheduling (/proc) to tell its own stalls from a busy machine. Writes the "chaos"
 * section of RESULTS.md. CHAOS_KEEP=1 keeps the logs.
 */
import { join } from "node:path";
import { tmpdir } from "node:os";
import { writeFileSync } from "node:fs";
import { waitForUrl } from "./lib/measure";
import { table, writeSection } from "./lib/results";
import { cleanupAll, codeLabel as codeLabelOf, freePort, installExitHandlers, PrivateRedis, sigkill, spawnPiped, spawnTracked, trackDir, waitForPort } from "./lib/chaos-procs";
import { ChaosConsumer, ChaosPublisher } from "./lib/chaos-events";
import { Watcher } from "./lib/chaos-watch";
import { Buckets, failed, fmtStatuses, ms, pct, total } from "./lib/chaos-buckets";

const HARD_CAP_MS = 240_000;
const CONCURRENCY = 16;
const EVENT_RATE = 200; // events/s
const SERVICE = "chaos";
// No taskset: other engineers pin their servers under test to CPU 1 on this shared 2-core VM, and a platform
// pinned there was starved for up to 2 s at a time (its event-loop thread runnable but waiting for the CPU).
const ROOT = join(import.meta.dir, "..");
const dir = trackDir(join(tmpdir(), `tradpal-chaos-${process.pid}`));
const disarmCap = installExitHandlers(HARD_CAP_MS);

// ---- settings, written once and quoted verbatim in RESULTS.md -----------------------------------------
const ports = { gateway: freePort(), breaker: freePort(), events: freePort() };
const originPorts = [freePort(), freePort(), freePort()];
const originUrls = originPorts.map((p) => `http://127.0.0.1:${p}`);
const SVC = {
  load_balancing: "round_robin", timeout: "3s",
  health_check: "{ path: /health, interval: 500ms, timeout: 300ms, healthy_threshold: 1, unhealthy_threshold: 2 }",
  outlier: "{ consecutive_failures: 3, base_ejection: 5s, max_ejection: 30s }",
  retries: "{ attempts: 3, per_try_timeout: 500ms, backoff_base: 1ms, backoff_cap: 5ms }",
};
const BREAKER = "{ failure_threshold: 5, failure_rate_threshold: 50, minimum_calls: 10, recovery_timeout: 2s, recovery_backoff_multiplier: 1, half_open_max_calls: 3 }";
const SLOW_MS = 2000;
const PAUSE_MS = 1500;
const STARVE = { seconds: 2.5, stopMs: 95, runMs: 5 }; // ~5 % of the time, as the starved platform got (60 ms of CPU in 2.3 s) on this machine
const redis = new PrivateRedis(join(dir, "redis"));

function platformYaml(): string {
  return `host:
  data_dir: ${join(dir, "data")}
  log_level: warn
  bind: 127.0.0.1
  redis_url: "${redis.url}"
plugins:
  gateway:
    port: ${ports.gateway}
    auth: { enabled: false }
    rate_limiting: { enabled: false }
    access_log: { enabled: false }
    services:
      - name: ${SERVICE}
        path_prefix: /${SERVICE}
        load_balancing: ${SVC.load_balancing}
        timeout: ${SVC.timeout}
        instances: [${originUrls.map((u) => `{ url: "${u}" }`).join(", ")}]
        health_check: ${SVC.health_check}
        outlier: ${SVC.outlier}
        retries: ${SVC.retries}
  breaker:
    port: ${ports.breaker}
    defaults: ${BREAKER}
    tick_interval: 50ms
    history_size: 100
  events:
    port: ${ports.events}
    stream: chaos_events
    visibility_timeout: 5s
`;
}

// ---- processes ----------------------------------------------------------------------------------------
const origins: (ReturnType<typeof Bun.spawn> | undefined)[] = [undefined, undefined, undefined];
async function startOrigin(i: number): Promise<void> {
  origins[i] = spawnTracked(["bun", "run", join(import.meta.dir, "peers/chaos-origin.ts"), String(originPorts[i])], join(dir, `origin${i}.log`));
  await waitForPort(originPorts[i]);
}
const slow = (i: number, delayMs: number) => fetch(`${originUrls[i]}/control`, { method: "POST", body: JSON.stringify({ delayMs }) }).then(async (r) => { await r.arrayBuffer(); });

const url = (p: keyof typeof ports) => `http://127.0.0.1:${ports[p]}`;
const buckets = new Buckets();

interface PhaseResult {
  name: string; faultS: number; afterS: number; faultAt: number; restoreAt: number; afterEnd: number; bad: string[];
  /** How long the restore took until the restored processes listened (origins: Bun start-up). */
  restoreMs: number;
  during: Record<string, number>; after: Record<string, number>; ejectMs: number; breakerPolled: string;
  /** First 2xx after the restore was issued (so it includes restoreMs). */
  firstOkMs: number;
  /** Last 100-ms bucket after the restore that still held a failure (ms after the restore; 0: none). */
  failuresUntilMs: number;
  /** Longest run of 100-ms buckets in the phase in which no request was answered at all (a stall, not a refusal). */
  silentMs: number;
  /** Where that stretch began, ms after the fault (to tell a convoy before ejection from a restart's CPU burst). */
  silentAtMs: number;
}
/** Readmission may come after the after-window (a re-ejected instance waits out its doubled ejection): searched up to the next fault. */
const readmitMs = (p: PhaseResult) => (p.bad.length ? watcher.firstWhere(p.restoreAt, phases[phases.indexOf(p) + 1]?.faultAt ?? Infinity, p.bad, true) : NaN);
const phases: PhaseResult[] = [];

async function phase(name: string, bad: number[], faultS: number, afterS: number, fault: () => Promise<void>, restore: () => Promise<void>, firstOk = false): Promise<void> {
  console.log(`phase: ${name}`);
  const faultAt = Date.now();
  await fault();
  await Bun.sleep(faultS * 1000 - (Date.now() - faultAt));
  const restoreStart = Date.now();
  await restore();
  const restoreAt = Date.now(); // the restored processes listen again: readmission is measured from here
  await Bun.sleep(afterS * 1000);
  const afterEnd = Date.now();
  await Bun.sleep(150); // let the last load bucket arrive
  const badUrls = bad.map((i) => originUrls[i]);
  const silent = buckets.silent(faultAt, afterEnd);
  phases.push({
    name, faultS, afterS, faultAt, restoreAt, afterEnd, bad: badUrls, restoreMs: restoreAt - restoreStart,
    during: buckets.statuses(faultAt, restoreAt), after: buckets.statuses(restoreAt, afterEnd),
    ejectMs: badUrls.length ? watcher.firstWhere(faultAt, restoreAt, badUrls, false) : NaN,
    firstOkMs: firstOk ? buckets.firstOk(restoreStart) - restoreStart : NaN, breakerPolled: watcher.statesBetween(faultAt, afterEnd),
    failuresUntilMs: buckets.lastFailure(restoreAt, afterEnd), silentMs: silent.ms, silentAtMs: silent.at,
  });
  const p = phases[phases.length - 1];
  console.log(`  during: ${fmtStatuses(p.during)} | after: ${fmtStatuses(p.after)} (failures until +${p.failuresUntilMs} ms) | eject ${ms(p.ejectMs)} first2xx ${ms(p.firstOkMs)} | silent ${p.silentMs} ms | breaker ${p.breakerPolled}`);
}

// ---- run ----------------------------------------------------------------------------------------------
const cfgFile = join(dir, "platform.yaml");
writeFileSync(cfgFile, platformYaml());
await redis.start();
for (let i = 0; i < 3; i++) await startOrigin(i);
const platform = spawnTracked(["bun", "run", join(ROOT, "src/main.ts"), "--config", cfgFile, "--only", "gateway,breaker,events"], join(dir, "platform.log"));
for (const p of ["gateway", "breaker", "events"] as const) await waitForUrl(`${url(p)}/health`, 20_000);
await waitForUrl(`${url("gateway")}/${SERVICE}/x`, 5000);

const watcher = new Watcher(url("gateway"), url("breaker"), SERVICE, platform.pid);
const consumer = new ChaosConsumer(url("events"), `chaos-${process.pid}`);
await consumer.start();
const publisher = new ChaosPublisher(url("events"), EVENT_RATE);
watcher.start();
publisher.start();
const load = spawnPiped(["bun", "run", join(import.meta.dir, "peers/chaos-load.ts"), `${url("gateway")}/${SERVICE}/x`, String(CONCURRENCY), "200"], join(dir, "load.log"));
const reading = buckets.read(load.stdout);

await Bun.sleep(2000); // warm-up: connections, EWMA, JIT
await phase("baseline (no fault)", [], 4, 0, async () => {}, async () => {});
await phase("1 of 3 SIGKILLed, then restarted", [1], 8, 7, () => sigkill(origins[1]), () => startOrigin(1));
// After-window 11 s: a slow instance readmitted by its 5 s ejection timer is ejected again for 10 s (doubling), which outlasts the fault.
await phase(`1 of 3 slowed to ${SLOW_MS} ms (> per_try_timeout), then restored`, [2], 8, 11, () => slow(2, SLOW_MS), () => slow(2, 0));
await phase("all 3 SIGKILLed, then restarted", [0, 1, 2], 5, 8, async () => { for (const o of origins) await sigkill(o); }, async () => { await Promise.all([0, 1, 2].map(startOrigin)); }, true);
await phase("Redis SIGKILLed, started again (same port, AOF)", [], 3, 8, () => redis.kill(), () => redis.start());
// The platform itself frozen (a long GC pause), then starved (a CPU taken by other processes: it runs in short slices,
// as seen on this shared machine): no instance is bad, so any instance taken out is the gateway's own misjudgement.
await phase(`platform paused ${PAUSE_MS} ms (SIGSTOP, SIGCONT)`, [], PAUSE_MS / 1000, 8, async () => { platform.kill("SIGSTOP"); }, async () => { platform.kill("SIGCONT"); });
await phase(`platform starved ${STARVE.seconds} s (runs ${STARVE.runMs} ms of every ${STARVE.runMs + STARVE.stopMs} ms)`, [], STARVE.seconds, 8, async () => {
  for (const end = Date.now() + STARVE.seconds * 1000; Date.now() < end;) {
    platform.kill("SIGSTOP");
    await Bun.sleep(STARVE.stopMs);
    platform.kill("SIGCONT");
    await Bun.sleep(STARVE.runMs);
  }
}, async () => { platform.kill("SIGCONT"); });

load.kill("SIGTERM");
await Promise.race([reading, Bun.sleep(3000)]);
await publisher.stop();
const acked = publisher.acked();
console.log(`draining: ${acked.size} acknowledged, ${consumer.delivered.size} delivered so far`);
const drain = await consumer.drain(acked, 30_000);
const breakerFinal = await watcher.breakerDetail();
await watcher.stop();
await consumer.stop();
const platformAlive = platform.exitCode === null;

// ---- report -------------------------------------------------------------------------------------------
const codeLabel = () => codeLabelOf(ROOT, process.env.CHAOS_CODE ?? "unknown (not a git checkout)");
const load1 = (await Bun.file("/proc/loadavg").text().catch(() => "?")).split(" ").slice(0, 3).join(" ");
const transitionsIn = (from: number, until: number) =>
  breakerFinal.transitions.filter((t) => { const at = Date.parse(t.at); return at >= from && at <= until; }).reverse()
    .map((t) => `${t.from}→${t.to} at +${Date.parse(t.at) - from} ms (${t.reason})`);
function eventsIn(from: number, until: number) {
  const recs = publisher.records.filter((r) => r.at >= from && r.at < until);
  const ok = recs.filter((r) => r.status === 201);
  const other: Record<string, number> = {};
  for (const r of recs) if (r.status !== 201) other[String(r.status)] = (other[String(r.status)] ?? 0) + 1;
  const slowest = recs.reduce((a, r) => (Number.isNaN(r.ms) ? a : Math.max(a, r.ms)), 0);
  return { acked: ok.length, delivered: ok.filter((r) => consumer.delivered.has(r.seq)).length, other, slowest };
}
/** Instances that were not at fault but went unavailable in the phase (by the 50-ms polls). */
function collateral(p: PhaseResult): string {
  const out = originUrls.filter((u) => !p.bad.includes(u)).map((u) => watcher.unavailableMs(u, p.faultAt, p.afterEnd)).filter((x) => x > 0);
  return out.length ? `**${out.length}** (longest ${Math.max(...out)} ms)` : "0";
}
const phaseOf = (t: number) => phases.find((p) => t >= p.faultAt && t <= p.afterEnd + 150)?.name ?? "between phases";
const rows = phases.map((p) => {
  const ev = eventsIn(p.faultAt, p.afterEnd);
  const tr = transitionsIn(p.faultAt, p.afterEnd);
  const readmit = readmitMs(p);
  const reEjected = p.bad.length === 1 ? watcher.ejections(p.bad[0], p.faultAt, p.restoreAt) : 0;

  return [
    p.name, `${p.faultS} s`, `${fmtStatuses(p.during)} (**${pct(p.during)}** failed)`,
    p.afterS ? `${fmtStatuses(p.after)} (${pct(p.after)} failed${p.failuresUntilMs ? `; last failure +${p.failuresUntilMs} ms` : ""})` : "—",
    p.silentMs ? `${p.silentMs} ms from +${p.silentAtMs} ms` : "0", `${ms(p.ejectMs)}${reEjected > 1 ? ` (ejected ${reEjected}× during the fault)` : ""}`,
    p.bad.length && Number.isNaN(readmit) ? "not before the next phase" : `${ms(readmit)}${readmit > p.afterS * 1000 ? " (after the window)" : ""}`,
    Number.isNaN(p.firstOkMs) ? "—" : `${ms(p.firstOkMs)} after the restart was issued (all 3 listening after ${p.restoreMs} ms)`,
    collateral(p),
    `${tr.length ? tr.join("; ") : "no transition"} · polled: ${p.breakerPolled}`,
    `${ev.acked} / ${ev.delivered}${Object.keys(ev.other).length ? ` (not 201: ${fmtStatuses(ev.other)})` : ""}; slowest answer ${ev.slowest} ms`,
  ];
});
const gaps = watcher.gaps.map((g) => {
  const p = watcher.procOver(g.end - g.ms, g.end);
  const where = p ? `; over ${p.spanMs} ms around it the platform used ${p.cpuMs} ms of CPU (its event-loop thread ran ${p.mainRunMs} ms and waited runnable for a CPU ${p.mainWaitMs} ms), both cores idle ${p.idleMs} ms, stolen ${p.stealMs} ms` : "";
  return `${g.port} ${g.ms} ms ending ${new Date(g.end).toISOString().slice(11, 23)} (${phaseOf(g.end)}; this script's own loop lag then ${watcher.lagIn(g.end - g.ms, g.end)} ms${where})`;
});
const rssMb = watcher.proc.map((r) => r.rssMb).filter((x) => !Number.isNaN(x));
const allStatus: Record<string, number> = {};
for (const r of publisher.records) allStatus[String(r.status)] = (allStatus[String(r.status)] ?? 0) + 1;
const unacked = [...consumer.delivered].filter((s) => !acked.has(s)).length;
const lost = drain.missing.length;
const full = phases.find((p) => p.name.startsWith("all 3"))!;
const bound = 2000 + 500; // recovery_timeout + one health interval
const oneBad = phases.filter((p) => p.name.startsWith("1 of 3"));
const verdicts = [
  ...oneBad.map((p) => `${p.name}: ${pct(p.during)} failed during the fault (target < 1 %: ${failed(p.during) / Math.max(1, total(p.during)) < 0.01 ? "met" : "**not met**"}), ejected after ${ms(p.ejectMs)}, breaker ${transitionsIn(p.faultAt, p.afterEnd).length ? "**changed state**" : "stayed closed"}`),
  `all 3 killed: first 2xx ${ms(full.firstOkMs - full.restoreMs)} after the last origin listened again (target ≤ recovery_timeout + one health interval = ${bound} ms: ${full.firstOkMs - full.restoreMs <= bound ? "met" : "**not met**"}); every request answered 2xx again ${full.failuresUntilMs} ms after it`,
  ...phases.filter((p) => p.name.startsWith("platform ")).map((p) => `${p.name}: ${pct(p.after)} of requests failed in the ${p.afterS} s after it resumed; healthy instances taken out: ${collateral(p)}`),
  `events: ${acked.size} acknowledged (201), ${consumer.delivered.size} delivered, **${lost} lost** (target 0: ${lost === 0 ? "met" : "**not met**"})`,
];

const md = `## Chaos under load: instances killed, slowed and restarted, Redis restarted

Command: \`bun run bench chaos\` (bench/chaos.bench.ts; origins bench/peers/chaos-origin.ts, load bench/peers/chaos-load.ts). Platform code: ${codeLabel()}.
Load average at the end: ${load1} (a shared 2-core machine; this bench measures behaviour under faults, not throughput).
One platform process (\`bun run src/main.ts --config <temp yaml> --only gateway,breaker,events\`); a private
redis-server on a free port (${PrivateRedis.SETTINGS}: an acknowledged event survives the SIGKILL); three Bun origins,
the load generator (its own process) and the bench; nothing pinned (other engineers' servers are pinned to CPU 1 here, and a platform
pinned beside them was starved for up to 2 s at a time). Load: ${CONCURRENCY} closed-loop fetch() workers on \`GET /${SERVICE}/x\` through the
gateway (5 s client deadline). Events: one \`POST /events\` every ${1000 / EVENT_RATE} ms (${EVENT_RATE}/s, one attempt each, no client retry; a 201
is an acknowledged event), consumed by one consumer-group member (EventSubscriberClient, \`start: all\`, reconnect backoff 50 ms–1 s).
Polls: \`GET /services/${SERVICE}\` every 50 ms (eject = first poll with the bad instance(s) \`available: false\` after the fault; readmit = first poll
with them \`available: true\` after the restore, measured from when the restored process listened again), \`GET /circuit-breakers/${SERVICE}\` every 100 ms.

Settings: service \`load_balancing: ${SVC.load_balancing}\`, \`timeout: ${SVC.timeout}\`, \`health_check: ${SVC.health_check}\`,
\`outlier: ${SVC.outlier}\`, \`retries: ${SVC.retries}\`; gateway retry budget default (ratio 0.2, 5/s floor);
breaker \`defaults: ${BREAKER}\`, tick 50 ms; events \`visibility_timeout: 5s\`, Redis Streams store. The slowed origin delays every
path but \`/health\` by ${SLOW_MS} ms (an instance whose cheap probe passes while its work is stuck: only per-try timeouts and outlier
detection can see it). The last two phases freeze the platform process itself for ${PAUSE_MS} ms (SIGSTOP, then SIGCONT), as a long GC pause would,
then starve it (SIGSTOP ${STARVE.stopMs} ms / SIGCONT ${STARVE.runMs} ms for ${STARVE.seconds} s), as a CPU taken by other processes does: every instance
stays healthy, so any instance taken out of rotation is the gateway's own misjudgement.

${table(["phase", "fault", "requests during the fault (status: count)", "requests after the restore (window)", "longest stretch with no answer", "eject", "readmit", "first 2xx after the restart", "healthy instances taken out", "breaker (transitions in the phase)", "events 201 / delivered"], rows)}

After-windows: ${phases.filter((p) => p.afterS).map((p) => `${p.afterS} s`).join(", ")} (in phase order). Status keys: HTTP status and the gateway's error code; \`timeout\` = no answer within the
client's 5 s, \`err\` = connection error. Load is counted in 100-ms buckets by the time the answer arrived (a bucket that straddles the
restore lands after it). "Longest stretch with no answer": consecutive buckets in which not one of the ${CONCURRENCY} workers got any answer
(fast 503s are answers), and when it began after the fault's start. On 2 shared cores a restarted origin's start-up
(~0.2 s of CPU) or another engineer's run can pause the load generator or the platform too: see the poll gaps below for which. Events per phase count publishes sent from the fault's start to the end of its after-window.

**Events over the whole run:** ${publisher.records.length} publishes (${fmtStatuses(allStatus)}), ${acked.size} acknowledged, ${consumer.delivered.size} distinct delivered
(${consumer.deliveries - consumer.delivered.size} redeliveries), ${unacked} delivered without a 201 (stored, but answered 503 or not at all: the reply was lost with Redis; the 503 asks
for a retry with the same Idempotency-Key, which would deduplicate it — this publisher sends no key and never retries), **${lost} acknowledged and never delivered**
(backlog drained ${ms(drain.ms)} after the last publish; bounded at 30 s). Publisher ticks skipped for 200 answers outstanding: ${publisher.skipped}.
Subscriber errors seen (reconnects): ${consumer.errors}. Breaker totals at the end: ${JSON.stringify(breakerFinal.totals)}.
Longest gap between answered polls: gateway ${watcher.maxGapMs.gateway} ms, breaker ${watcher.maxGapMs.breaker} ms (polls with no answer in 1 s: ${watcher.pollFailures.gateway} / ${watcher.pollFailures.breaker});
gaps over 500 ms: ${gaps.join("; ") || "none"}. This script's worst event-loop lag: ${watcher.lagIn(0, Infinity)} ms. Platform RSS ${Math.round(rssMb[0])} → max ${Math.round(Math.max(...rssMb))} → ${Math.round(rssMb[rssMb.length - 1])} MB. Platform process ${platformAlive ? "alive at the end" : "**exited during the run**"}.

Against issue 12's "Done when":
${verdicts.map((v) => `- ${v}`).join("\n")}
`;
console.log(md);
writeSection("chaos", md);
disarmCap();
// CHAOS_KEEP=1 keeps the temp directory (platform, origin, Redis and load logs) for a look after the run.
if (process.env.CHAOS_KEEP === "1") console.log(`logs kept in ${dir}`);
cleanupAll(process.env.CHAOS_KEEP === "1");
process.exit(0);
