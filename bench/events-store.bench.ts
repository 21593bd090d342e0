/**
 * The embedded events store's append cost alone, in-process (no HTTP, no other process to share the core
 * with): CPU µs per event from process.cpuUsage() over a fixed number of group commits, interleaved rounds,
 * medians. Cases: 37 single-event appends per commit (the group size seen under wrk with 64 connections),
 * one batch of 100 per append, 37 keyed appends per commit (Idempotency-Key: every typed-client publish), and
 * 37 single appends per commit on a stream at its max_len (trimmed after every TRIM_EVERY commits, the trim's
 * CPU counted: a stream at steady state pays for removing as many events as it stores).
 *
 *   bun run bench events-store      (BENCH_BASELINE=<git rev>: the same cases against that commit's store, interleaved;
 *                                    BENCH_ROUNDS, default 5; pin with `taskset -c 1` for a steadier reading)
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median } from "./lib/measure";
import { table, writeSection } from "./lib/results";
import { exportTree } from "./lib/baseline";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const COMMITS = 400;
const GROUP = 37;
/** The capped case: max_len, and how often it trims (3,700 events; the host trims every trim_interval, 1 s). */
const CAP = 100_000;
const TRIM_EVERY = 100;
const dir = mkdtempSync(join(tmpdir(), "tradpal-bench-events-store-"));
const trees: [string, string][] = [["now", join(import.meta.dir, "..")]];
if (process.env.BENCH_BASELINE) { const t = exportTree(process.env.BENCH_BASELINE, dir, "baseline"); trees.unshift([t.label, t.root]); }

const event = () => ({ id: crypto.randomUUID(), type: "market.data_update", source: "api", time: new Date().toISOString(), correlationId: "c", schemaVersion: 1, payload: { symbol: "BTC/USDT", price: 97000.5, volume: 1.25 } });
type Store = { append(events: unknown[], opts: Record<string, unknown>): Promise<unknown>; trim(): Promise<number> };
const singles = (s: Store) => Promise.all(Array.from({ length: GROUP }, () => s.append([event()], { dedupWindowMs: 0 }))).then(() => GROUP);
/** Commits per store (the capped case trims after every TRIM_EVERY of its own: 400 measured commits hold 4 trims). */
const commits = new Map<Store, number>();
/** `maxLen`: the case's stream is filled to it first and trimmed as it runs. */
const kinds: Record<string, { op: (s: Store) => Promise<number>; maxLen?: number }> = {
  [`${GROUP} single appends per commit`]: { op: singles },
  "one batch of 100 per append": { op: (s) => s.append(Array.from({ length: 100 }, event), { dedupWindowMs: 0 }).then(() => 100) },
  [`${GROUP} keyed appends per commit (Idempotency-Key)`]: { op: (s) => Promise.all(Array.from({ length: GROUP }, () => s.append([event()], { dedupWindowMs: 600_000, idempotencyKey: crypto.randomUUID(), requestDigest: "d".repeat(64) }))).then(() => GROUP) },
  [`${GROUP} single appends per commit at max_len ${CAP} (trimmed every ${TRIM_EVERY} commits)`]: {
    maxLen: CAP,
    op: async (s) => {
      const n = await singles(s);
      const c = (commits.get(s) ?? 0) + 1;
      commits.set(s, c);
      if (c % TRIM_EVERY === 0) await s.trim();
      return n;
    },
  },
};

const cases: { name: string; run: () => Promise<number> }[] = [];
const factories: { close(): Promise<void> }[] = [];
for (const [label, root] of trees) {
  const { createEmbeddedFactory } = await import(join(root, "plugins/events/store/sqlite-store.ts"));
  for (const [kind, { op, maxLen = 0 }] of Object.entries(kinds)) {
    const f = createEmbeddedFactory({ file: join(dir, `${label.replace(/\W+/g, "_")}-${cases.length}.db`), sync: "normal", trim: { maxLen, maxAgeMs: 0 } });
    factories.push(f);
    const s: Store = f.open("tradpal_events");
    for (let n = 0; n < maxLen; n += 100) await s.append(Array.from({ length: 100 }, event), { dedupWindowMs: 0 });
    cases.push({ name: `${kind}, ${label}`, run: () => op(s) });
  }
}

const samples = new Map<string, number[]>();
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of cases) {
      for (let i = 0; i < 50; i++) await c.run();
      const c0 = process.cpuUsage();
      let events = 0;
      for (let i = 0; i < COMMITS; i++) events += await c.run();
      const used = process.cpuUsage(c0);
      const us = (used.user + used.system) / events;
      (samples.get(c.name) ?? samples.set(c.name, []).get(c.name)!).push(us);
      console.log(`round ${r + 1} ${c.name}: ${us.toFixed(2)} µs CPU/event`);
    }
  }
  const rows = cases.map((c) => { const xs = samples.get(c.name)!; return [c.name, median(xs).toFixed(2), xs.map((x) => x.toFixed(2)).join(" / ")]; });
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  const md = `
Command: \`${process.env.BENCH_BASELINE ? `BENCH_BASELINE=${process.env.BENCH_BASELINE} ` : ""}bun run bench events-store\` · the embedded store's append in this process (bun:sqlite, WAL, synchronous=NORMAL, checkpoints in a Worker), ${ROUNDS} interleaved rounds × ${COMMITS} group commits after 50 warm-up, CPU from process.cpuUsage() per event stored, medians. Each case writes its own database; the keyed case's table grows through the run (every key lives 10 minutes); the capped case's stream is filled to its max_len first and its trims (every ${TRIM_EVERY} commits) are in its CPU.

${table(["case", "CPU µs/event (median)", "rounds"], rows)}

Load average at the end: ${load}.
`;
  console.log(md);
  writeSection("events-store", md);
} finally {
  for (const f of factories) await f.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
