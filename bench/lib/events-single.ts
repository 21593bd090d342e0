/**
 * The single-publish section of `bun run bench events`: our POST /events on each store against the bare
 * Elysia peer (wrk, 64 connections), rps and server CPU per request, and for each row how idle the
 * server's core and the load core were (core-idle.ts): a row whose rounds were load-bound measured wrk
 * and redis-server sharing CPU 0, not the server, and its rps ratio is flagged as such.
 */
import { table } from "./results";
import { median, type LoadResult } from "./measure";
import { idleCell, loadBound } from "./core-idle";

/**
 * One wrk measurement of a server (events.bench.ts measure()): CPU per request of the server and of its
 * redis-server, how idle the server's core (1) and the load core (0) were, and the CPU the machine's shared
 * nats-server took meanwhile (ms; it runs on both cores, so work it does then lands beside the server).
 */
export type SingleRun = LoadResult & { cpuUs: number; redisCpuUs: number; aofRewrite: boolean; serverIdle: number; loadIdle: number; natsCpuMs: number };

/** The progress line of one measurement; `noRedis`: a server without a redis-server of its own. */
export function roundLine(label: string, r: SingleRun, noRedis: boolean): string {
  const redis = noRedis || Number.isNaN(r.redisCpuUs) ? "" : ` (redis-server ${r.redisCpuUs.toFixed(1)})`;
  const nats = Number.isNaN(r.natsCpuMs) ? "" : `, nats-server ${Math.round(r.natsCpuMs)} ms CPU`;
  return `${label}: ${Math.round(r.rps)} rps, p99 ${r.p99ms.toFixed(2)} ms, ${r.cpuUs.toFixed(1)} µs CPU/req${redis}${r.aofRewrite ? " [during a redis-server AOF rewrite]" : ""}, idle % server core / load core ${Math.round(r.serverIdle * 100)} / ${Math.round(r.loadIdle * 100)}${nats}, non2xx ${r.non2xx}, errors ${r.errors}`;
}

interface Named { name: string }

/** The rounds of `runs` that measured the load side (the server's core had time to spare, the load core none). */
export function loadBoundRounds(runs: SingleRun[]): number {
  return runs.filter((r) => loadBound(r.serverIdle, r.loadIdle)).length;
}

/** The table and the ratio sentence; `redis`'s row also carries redis-server's CPU. */
export function singleSection(servers: Named[], peer: Named, redis: Named, embedded: Named, singles: Record<string, SingleRun[]>): string {
  const med = (xs: SingleRun[], f: (r: SingleRun) => number) => median(xs.map(f));
  const rpsOf = (s: Named) => med(singles[s.name], (r) => r.rps);
  const cpuOf = (s: Named) => med(singles[s.name], (r) => r.cpuUs);
  const peerRps = rpsOf(peer);
  const rows = servers.map((s) => {
    const xs = singles[s.name];
    return [
      s.name === peer.name ? s.name : `POST /events single, ${s.name} store`, Math.round(rpsOf(s)), (rpsOf(s) / peerRps).toFixed(2), med(xs, (r) => r.p99ms).toFixed(2),
      cpuOf(s).toFixed(1), s === redis ? med(xs, (r) => r.redisCpuUs).toFixed(1) : "-",
      idleCell(med(xs, (r) => r.serverIdle), med(xs, (r) => r.loadIdle)) + (loadBoundRounds(xs) > 0 ? ` (load-bound in ${loadBoundRounds(xs)} of ${xs.length})` : ""),
      xs.map((r) => Math.round(r.rps)).join(" / "), xs.reduce((a, r) => a + r.non2xx + r.errors, 0),
    ];
  });
  const cpuRatio = (s: Named) => cpuOf(peer) / cpuOf(s);
  const bound = [redis, embedded].filter((s) => loadBoundRounds(singles[s.name]) * 2 > singles[s.name].length);
  return `${table(["server", "rps (median)", "ratio to peer", "p99 ms", "CPU µs/req (server)", "CPU µs/req (redis-server)", "idle % server core / load core (medians)", "rounds", "non-2xx+errors"], rows)}

Ratio to the bare Elysia peer: Redis **${(rpsOf(redis) / peerRps).toFixed(2)}×** in rps (issue 20 target ≥ 0.9×), embedded **${(rpsOf(embedded) / peerRps).toFixed(2)}×** (target ≥ 0.8×); by server CPU per request (steadier on a shared machine) ${cpuRatio(redis).toFixed(2)}× / ${cpuRatio(embedded).toFixed(2)}×. The Redis case also costs redis-server CPU (column above, on CPU 0 with wrk), not counted in the server's.${bound.length ? ` **Load-bound:** ${bound.map((s) => s.name).join(", ")}: in most rounds the server's core had time to spare while the load core (wrk${bound.includes(redis) ? " and redis-server" : ""}) had none, so that rps ratio is the load side's limit on this 2-core machine, not the server's; its CPU ratio is the figure about the server.` : ""}`;
}
