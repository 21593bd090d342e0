/**
 * Breaker overhead per call: ask ("may I call?") + record (the outcome) of our state machine, against
 * opossum and cockatiel doing the same job through their own APIs, in the same run.
 *
 *   bun run bench breaker
 *
 * Every breaker sees the same traffic: 1 failure in 20 calls (5%, below every threshold, so none trips
 * and the measured path is the steady CLOSED one). Interleaved rounds (A B C … × 3), median ns/op.
 * opossum and cockatiel wrap an async function (their API is promise-based), so an `await` of a bare
 * async call is measured too: "overhead" = ns/op minus that floor.
 */
import CircuitBreaker from "opossum";
import { circuitBreaker, handleAll, CountBreaker } from "cockatiel";
import { BreakerStateMachine, FAILURE, SUCCESS } from "../plugins/breaker/state-machine";
import { DEFAULT_POLICY } from "../plugins/breaker/policy";
import { BreakerRegistry } from "../plugins/breaker/breakers";
import { createClassifier, DEFAULT_FAILURE_POLICY } from "../plugins/breaker/classify";
import type { UpstreamOutcome } from "../src/contracts/bus-topics";
import { createBus } from "../src/core/bus";
import { median, machineInfo } from "./lib/measure";
import { table, writeSection } from "./lib/results";

const ROUNDS = 3;
const SYNC_OPS = 2_000_000;
const ASYNC_OPS = 200_000;
const FAIL_EVERY = 20;
const boom = new Error("upstream failed");

interface Case { name: string; ops: number; async: boolean; run(ops: number): unknown }

const policy = { ...DEFAULT_POLICY, windowSize: 100, minimumCalls: 20, failureRateThreshold: 50, consecutiveFailureThreshold: 5 };

function oursCase(name: string, windowType: "count" | "time"): Case {
  const m = new BreakerStateMachine("bench", { ...policy, windowType, windowSize: windowType === "time" ? 10 : 100 }, Date.now);
  return {
    name, ops: SYNC_OPS, async: false,
    run(ops) {
      let allowed = 0;
      for (let i = 0; i < ops; i++) {
        if (m.tryAcquire()) { allowed++; m.record(i % FAIL_EVERY === 0 ? FAILURE : SUCCESS, 3); }
      }
      if (m.state !== 0) throw new Error(`${name} tripped`);
      return allowed;
    },
  };
}

function registryCase(): Case {
  const r = new BreakerRegistry(() => policy);
  r.configure(() => policy, createClassifier(DEFAULT_FAILURE_POLICY), 20);
  const ok: UpstreamOutcome = { service: "orders", status: 200, latencyMs: 3 };
  const bad: UpstreamOutcome = { service: "orders", status: 503, latencyMs: 3 };
  return {
    name: "ours: registry permit(name) + record(outcome) (the bus service path)", ops: SYNC_OPS, async: false,
    run(ops) {
      let allowed = 0;
      for (let i = 0; i < ops; i++) {
        if (r.permit("orders").allowed) { allowed++; r.record(i % FAIL_EVERY === 0 ? bad : ok); }
      }
      return allowed;
    },
  };
}

/** What the gateway actually does per call: look the service up on the host bus, ask, then emit the outcome. */
function busCase(): Case {
  const r = new BreakerRegistry(() => policy);
  r.configure(() => policy, createClassifier(DEFAULT_FAILURE_POLICY), 20);
  const bus = createBus();
  bus.provide("breaker.permit", r.permit);
  bus.on("upstream.outcome", r.record);
  return {
    name: "ours: through the host bus (service lookup + permit, emit upstream.outcome)", ops: SYNC_OPS, async: false,
    run(ops) {
      let allowed = 0;
      for (let i = 0; i < ops; i++) {
        const permit = bus.service("breaker.permit");
        if (permit === undefined || permit("orders").allowed) {
          allowed++;
          bus.emit("upstream.outcome", { service: "orders", status: i % FAIL_EVERY === 0 ? 503 : 200, latencyMs: 3 });
        }
      }
      return allowed;
    },
  };
}

async function action(i: number): Promise<number> {
  if (i % FAIL_EVERY === 0) throw boom;
  return i;
}

function floorCase(): Case {
  return {
    name: "floor: await of a bare async call (no breaker)", ops: ASYNC_OPS, async: true,
    async run(ops) {
      for (let i = 0; i < ops; i++) { try { await action(i); } catch { /* counted */ } }
    },
  };
}

function opossumCase(): Case {
  // Percentiles off: with them on (the default) opossum keeps every latency of the bucket and slowed
  // from 15 to 77 µs/op within 40k calls here; timeout off: no per-call timer (ours has none either).
  const b = new CircuitBreaker(action, { timeout: false, rollingPercentilesEnabled: false, errorThresholdPercentage: 50, volumeThreshold: 20, resetTimeout: 60_000 });
  return {
    name: "opossum 10: fire()", ops: ASYNC_OPS, async: true,
    async run(ops) {
      for (let i = 0; i < ops; i++) { try { await b.fire(i); } catch { /* counted */ } }
      if (b.opened) throw new Error("opossum tripped");
    },
  };
}

function cockatielCase(): Case {
  const p = circuitBreaker(handleAll, { halfOpenAfter: 60_000, breaker: new CountBreaker({ threshold: 0.5, size: 100, minimumNumberOfCalls: 20 }) });
  return {
    name: "cockatiel 4: execute() with CountBreaker", ops: ASYNC_OPS, async: true,
    async run(ops) {
      for (let i = 0; i < ops; i++) { try { await p.execute(() => action(i)); } catch { /* counted */ } }
      if (p.state !== 0) throw new Error("cockatiel tripped");
    },
  };
}

const cases = [oursCase("ours: state machine tryAcquire + record (count window)", "count"), oursCase("ours: state machine tryAcquire + record (time window)", "time"), registryCase(), busCase(), floorCase(), opossumCase(), cockatielCase()];

// Warm-up (JIT) before measuring.
for (const c of cases) await c.run(Math.min(c.ops, 100_000));

const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const c of cases) {
    Bun.gc(true);
    const t0 = Bun.nanoseconds();
    await c.run(c.ops);
    samples.get(c.name)!.push((Bun.nanoseconds() - t0) / c.ops);
  }
}

const med = (name: string) => median(samples.get(name)!);
const ours = med(cases[0].name);
const floor = med(floorCase().name);
const rows = cases.map((c) => {
  const m = med(c.name);
  const s = samples.get(c.name)!;
  const overhead = c.async ? Math.max(0, m - floor) : m;
  return [c.name, m.toFixed(1), `${Math.min(...s).toFixed(1)}–${Math.max(...s).toFixed(1)}`, c.name.startsWith("floor") ? "—" : overhead.toFixed(1), c.name.startsWith("floor") ? "—" : `${(overhead / ours).toFixed(1)}×`];
});

const info = machineInfo();
const md = [
  "Ask + record cost per call, steady CLOSED state, 5% failures (no breaker trips). `bun run bench breaker`.",
  `${ROUNDS} interleaved rounds; ${SYNC_OPS.toLocaleString("en")} ops/round for the synchronous API, ${ASYNC_OPS.toLocaleString("en")} for the promise-based ones; median ns/op (min–max over rounds).`,
  "opossum runs with `timeout: false, rollingPercentilesEnabled: false` (with percentiles on, its default, it slowed from ~15 to ~77 µs/op within 40k calls as the bucket filled). Overhead of opossum/cockatiel = their ns/op minus the floor (awaiting the same async function without a breaker); ratio = overhead ÷ ours (count window).",
  "",
  table(["breaker", "ns/op (median)", "spread", "breaker overhead ns/op", "vs ours"], rows),
  "",
  `Machine: ${info.nproc} cores, ${info.cpu}. Noisy shared host: compare ratios.`,
].join("\n");
console.log(md);
writeSection("breaker", md);
