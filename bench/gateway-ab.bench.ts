/**
 * The gateway of this checkout against the gateway of another commit, for changes too small for
 * `bun run bench gateway` to see: on this shared machine the host's speed drifts ±10 % between sequential
 * rounds, so both builds are loaded AT THE SAME TIME, pinned to the same core (CPU 1), one wrk each on
 * CPU 0, and the host's drift hits them alike. A second process of this checkout runs beside them: its
 * ratio to the first is the noise floor of the run (identical builds: per-round ratios within 0.95–1.02, medians
 * within 2 %, on 2026-12-06). CPU per request of each gateway process from /proc; the per-round ratios, then their median.
 * Sharing one core makes every request dearer than on a core of its own: compare the ratios, not the µs.
 *
 *   bun run bench gateway-ab                  (GW_AB_BASELINE=<rev>, default HEAD: the committed tree;
 *                                              GW_AB_ROUNDS=8, GW_AB_SECONDS=4; ~1.5 min)
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchGatewayConfig } from "./lib/gateway-config";
import { exportTree } from "./lib/baseline";
import { cpuTicks, hasCommand, median, TICKS_PER_SECOND, waitForUrl, wrkLoad, machineInfo } from "./lib/measure";
import { table, writeSection } from "./lib/results";
import { freePort } from "../test/support/free-port";

const BASELINE = process.env.GW_AB_BASELINE ?? "HEAD";
const ROUNDS = Number(process.env.GW_AB_ROUNDS ?? 8);
const SECONDS = Number(process.env.GW_AB_SECONDS ?? 4);
const ROOT = join(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "gw-ab-"));
if (!hasCommand("wrk") || !hasCommand("taskset")) throw new Error("bench gateway-ab needs wrk and taskset (apt-get install wrk util-linux)");

const procs: ReturnType<typeof Bun.spawn>[] = [];
/** `cmd` pinned to `cpu` (the gateways on 1, the origin with the load on 0). */
function spawn(cpu: number, cmd: string[], cwd = ROOT) {
  const p = Bun.spawn(["taskset", "-c", String(cpu), ...cmd], { cwd, stdout: "ignore", stderr: "ignore" });
  procs.push(p);
  return p;
}

interface Build { name: string; url: string; pid: number; cpu: number[]; rps: number[] }

async function startGateway(name: string, root: string, originUrl: string): Promise<Build> {
  const port = freePort();
  const cfg = join(dir, `${name.replace(/\W+/g, "-")}.yaml`);
  writeFileSync(cfg, benchGatewayConfig({
    dataDir: join(dir, `data-${port}`), port, upstream: originUrl, gatewayExtra: "    rate_limiting: { enabled: false }\n",
    serviceExtra: "        transform:\n          request_headers: { set: { x-gateway: tradpal } }\n",
  }));
  const p = spawn(1, ["bun", "run", join(root, "src/main.ts"), "--config", cfg, "--only", "gateway"], root);
  const url = `http://127.0.0.1:${port}/api/bench`;
  await waitForUrl(url, 15_000);
  return { name, url, pid: p.pid, cpu: [], rps: [] };
}

try {
  const originPort = freePort();
  spawn(0, ["bun", "run", join(import.meta.dir, "peers/origin.ts"), String(originPort)]);
  const originUrl = `http://127.0.0.1:${originPort}`;
  await waitForUrl(`${originUrl}/api/bench`);
  const base = exportTree(BASELINE, dir, "baseline");
  const builds = [
    await startGateway("this checkout", ROOT, originUrl),
    await startGateway("this checkout, a second process", ROOT, originUrl),
    await startGateway(`${BASELINE} (${base.label.replace(/^before \(|\)$/g, "")})`, base.root, originUrl),
  ];
  // 64 connections in all, as in `bench gateway`, shared out among the builds.
  const conns = Math.floor(64 / builds.length);
  const loadAll = (seconds: number) => Promise.all(builds.map((b) => wrkLoad({ url: b.url, connections: conns, durationS: seconds, cpu: 0 })));
  await loadAll(5); // warm-up: the JIT's tiers reached
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = builds.map((b) => cpuTicks(b.pid));
    const results = await loadAll(SECONDS);
    builds.forEach((b, i) => {
      const r = results[i];
      if (r.errors + r.non2xx > 0) throw new Error(`${b.name}: ${r.errors} errors, ${r.non2xx} non-2xx in round ${round + 1}`);
      b.cpu.push(((cpuTicks(b.pid) - t0[i]) / TICKS_PER_SECOND) * 1e6 / Math.max(1, r.requests));
      b.rps.push(r.rps);
    });
    console.log(`round ${round + 1}: ${builds.map((b) => `${b.name} ${b.cpu[round].toFixed(1)} µs/req`).join(" · ")}`);
  }

  const ref = builds[0];
  const ratios = (b: Build) => b.cpu.map((c, i) => c / ref.cpu[i]);
  const rows = builds.map((b) => {
    const r = ratios(b);
    return [b.name, median(b.cpu).toFixed(1), Math.round(median(b.rps)), b === ref ? "—" : `**${median(r).toFixed(3)}**`, b === ref ? "—" : `${Math.min(...r).toFixed(3)}–${Math.max(...r).toFixed(3)}`, b === ref ? "—" : r.map((x) => x.toFixed(2)).join(" ")];
  });
  const floor = ratios(builds[1]);
  const floorPct = (Math.max(...floor.map((x) => Math.abs(x - 1))) * 100).toFixed(1);
  const md = table(["build", "CPU µs/req (median, core shared)", "rps (median)", "CPU ÷ this checkout's (median of rounds)", "range", "per round"], rows);
  console.log(`\n${md}\n`);
  writeSection("gateway-ab", `## The gateway against another commit, loaded at the same time

Command: \`GW_AB_BASELINE=${BASELINE} bun run bench gateway-ab\` (bench/gateway-ab.bench.ts). Three gateway processes, the config of
\`bench gateway\`, all pinned to CPU 1 and loaded at once (wrk, ${conns} connections each, on CPU 0 with the origin), so the host's
drift between rounds hits them alike; ${ROUNDS} rounds of ${SECONDS} s after a 5 s warm-up. CPU µs per request of each process from
/proc. ${machineInfo().cpu}. Below 1.000 the build is cheaper than this checkout.

${md}

Noise floor of this run: the second process of this checkout is within ${floorPct} % of the first in every round (median
${median(floor).toFixed(3)}). A difference smaller than that is not one; on 2026-12-06 even a build of the same code
read up to 2 % apart in its median, so below ~3 % nothing is shown.
`);
} finally {
  for (const p of procs) p.kill();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
