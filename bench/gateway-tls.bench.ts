/**
 * The gateway's proxy path with mTLS to the upstream (issue 14: "the gateway bench gains a TLS row") against
 * nginx with proxy_ssl mTLS to the same upstream, in ONE run; the same two over plain HTTP for the cost TLS adds.
 *
 *   bun run bench gateway-tls            (~2 min)
 *
 * The upstream (bench/peers/origin-tls.ts) requires a client certificate from a CA made here with the
 * platform's own PKI code (src/lib/pki), as a platform listener does with host.mtls.enabled. wrk speaks
 * plain HTTP to both proxies; each proxy keeps TLS connections to the upstream alive (the gateway's pooled
 * client: Bun.connect with TLS, relayed on the wire lane; nginx: keepalive 64 + proxy_ssl_session_reuse).
 * Layout as bench/gateway.bench.ts: proxies pinned to CPU 1, wrk and the origins on CPU 0, interleaved rounds.
 */
import { benchGatewayConfig } from "./lib/gateway-config";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cpuTicks, hasCommand, machineInfo, median, TICKS_PER_SECOND, waitForUrl, wrkLoad } from "./lib/measure";
import { table, writeSection } from "./lib/results";
import { loadOrCreateCa } from "../src/lib/pki/ca";
import { issueLeaf } from "../src/lib/pki/issue";
import { freePort } from "../test/support/free-port";

const ROUNDS = 3, WARM_S = 2, RUN_S = 5, CONNS = 64, PROXY_CPU = 1, LOAD_CPU = 0;
const ROOT = join(import.meta.dir, "..");
const PEERS = join(import.meta.dir, "peers");
const dir = mkdtempSync(join(tmpdir(), "gw-tls-bench-"));
const canPin = hasCommand("taskset");
if (!hasCommand("wrk") || !hasCommand("nginx")) throw new Error("bench gateway-tls needs wrk and nginx (apt-get install wrk nginx)");

const pinned = (cpu: number, cmd: string[]) => (canPin ? ["taskset", "-c", String(cpu), ...cmd] : cmd);
const procs: ReturnType<typeof Bun.spawn>[] = [];
const spawn = (cmd: string[]) => { const p = Bun.spawn(cmd, { stdout: "ignore", stderr: "ignore" }); procs.push(p); return p; };

// PKI: the platform's CA code; the origin's server certificate and the proxies' client certificate.
const pki = join(dir, "pki");
const ca = await loadOrCreateCa({ dir: pki });
const write = (name: string, text: string) => { const f = join(dir, name); writeFileSync(f, text, { mode: 0o600 }); return f; };
const server = await issueLeaf(ca, { commonName: "origin", spiffeId: "spiffe://tradpal.local/service/origin", altNames: ["127.0.0.1", "localhost"], ttlMs: 3_600_000 });
const client = await issueLeaf(ca, { commonName: "gateway", spiffeId: "spiffe://tradpal.local/host", altNames: ["127.0.0.1"], ttlMs: 3_600_000 });
const files = { caFile: join(pki, "ca.pem"), srvCert: write("origin.pem", server.chainPem), srvKey: write("origin.key", server.keyPem), cliCert: write("client.pem", client.chainPem), cliKey: write("client.key", client.keyPem) };

const tlsPort = freePort(), plainPort = freePort();
spawn(pinned(LOAD_CPU, ["bun", "run", join(PEERS, "origin-tls.ts"), String(tlsPort), files.srvCert, files.srvKey, files.caFile]));
spawn(pinned(LOAD_CPU, ["bun", "run", join(PEERS, "origin.ts"), String(plainPort)]));
await waitForUrl(`http://127.0.0.1:${plainPort}/api/bench`);
for (let i = 0; i < 100; i++) {
  try { if ((await fetch(`https://127.0.0.1:${tlsPort}/api/bench`, { tls: { cert: client.chainPem, key: client.keyPem, ca: readFileSync(files.caFile, "utf8") } })).ok) break; } catch { await Bun.sleep(100); }
}

interface Target { name: string; url: string; pid: number }
async function gateway(name: string, tls: boolean): Promise<Target> {
  const port = freePort();
  const cfg = join(dir, `gw-${tls ? "tls" : "plain"}.yaml`);
  writeFileSync(cfg, benchGatewayConfig({
    dataDir: join(dir, `data-${tls}`), port, logLevel: "warn",
    upstream: tls ? `https://127.0.0.1:${tlsPort}` : `http://127.0.0.1:${plainPort}`,
    serviceExtra: tls ? `        tls: { mode: mutual, ca_file: ${files.caFile}, cert_file: ${files.cliCert}, key_file: ${files.cliKey} }\n` : "",
  }));
  const p = spawn(pinned(PROXY_CPU, ["bun", "run", join(ROOT, "src/main.ts"), "--config", cfg, "--only", "gateway"]));
  const url = `http://127.0.0.1:${port}/api/bench`;
  await waitForUrl(url, 15_000);
  const probe = await fetch(url);
  if (probe.status !== 200 || (await probe.text()).length !== 114) throw new Error(`${name}: probe answered ${probe.status}`);
  return { name, url, pid: p.pid };
}
async function nginx(name: string, tls: boolean): Promise<Target> {
  const port = freePort();
  const ndir = join(dir, `nginx-${tls}`);
  mkdirSync(ndir, { recursive: true });
  let conf = readFileSync(join(PEERS, tls ? "nginx-tls.conf.tmpl" : "nginx.conf.tmpl"), "utf8");
  const vars: Record<string, string | number> = { DIR: ndir, PORT: port, ORIGIN_PORT: tls ? tlsPort : plainPort, CERT: files.cliCert, KEY: files.cliKey, CA: files.caFile };
  for (const [k, v] of Object.entries(vars)) conf = conf.replaceAll(`{{${k}}}`, String(v));
  writeFileSync(join(ndir, "nginx.conf"), conf);
  const p = spawn(pinned(PROXY_CPU, ["nginx", "-p", ndir, "-c", join(ndir, "nginx.conf")]));
  const url = `http://127.0.0.1:${port}/api/bench`;
  await waitForUrl(url);
  const probe = await fetch(url);
  if (probe.status !== 200) throw new Error(`${name}: probe answered ${probe.status} ${await probe.text()}`);
  return { name, url, pid: p.pid };
}

const loadAvg = () => (readFileSync("/proc/loadavg", "utf8").split(" ")[0] ?? "?");
const loadBefore = loadAvg();
try {
  const targets = [
    await gateway("gateway → upstream mTLS (pooled TLS)", true),
    await nginx("nginx → upstream mTLS (proxy_ssl)", true),
    await gateway("gateway → upstream plain HTTP", false),
    await nginx("nginx → upstream plain HTTP", false),
  ];
  const samples = new Map(targets.map((t) => [t.name, [] as { rps: number; p50: number; p99: number; cpuUs: number; errors: number }[]]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const t of targets) {
      await wrkLoad({ url: t.url, connections: CONNS, durationS: WARM_S, cpu: canPin ? LOAD_CPU : undefined });
      const c0 = cpuTicks(t.pid);
      const r = await wrkLoad({ url: t.url, connections: CONNS, durationS: RUN_S, cpu: canPin ? LOAD_CPU : undefined });
      const cpuUs = ((cpuTicks(t.pid) - c0) / TICKS_PER_SECOND) * 1e6 / Math.max(1, r.requests);
      samples.get(t.name)!.push({ rps: r.rps, p50: r.p50ms, p99: r.p99ms, cpuUs, errors: r.errors + r.non2xx });
      console.log(`round ${round} ${t.name.padEnd(40)} ${r.rps.toFixed(0).padStart(7)} rps  p99 ${r.p99ms.toFixed(3)} ms  ${cpuUs.toFixed(1)} µs/req  errors ${r.errors + r.non2xx}`);
    }
  }
  const med = (n: string, k: "rps" | "p50" | "p99" | "cpuUs") => median(samples.get(n)!.map((s) => s[k]));
  const minCpu = (n: string) => Math.min(...samples.get(n)!.map((s) => s.cpuUs));
  const peerOf = (n: string) => targets.find((t) => t.name.startsWith("nginx") && t.name.includes(n.includes("mTLS") ? "mTLS" : "plain"))!.name;
  const rows = targets.map((t) => [
    t.name, Math.round(med(t.name, "rps")), t.name.startsWith("gateway") ? `${(med(t.name, "rps") / med(peerOf(t.name), "rps")).toFixed(2)}×` : "—",
    med(t.name, "p50").toFixed(3), med(t.name, "p99").toFixed(3), minCpu(t.name).toFixed(1),
    t.name.startsWith("gateway") ? `${(minCpu(peerOf(t.name)) / minCpu(t.name)).toFixed(2)}×` : "—",
    samples.get(t.name)!.reduce((a, s) => a + s.errors, 0),
  ]);
  const md = table(["path", `rps (wrk, ${CONNS} conns, median of ${ROUNDS})`, "× nginx (same upstream)", "p50 ms", "p99 ms", "CPU µs/req (min)", "CPU-bound × nginx", "errors"], rows);
  console.log(`\n${md}\n`);
  const gwTls = targets[0].name, ngTls = targets[1].name, gwPlain = targets[2].name, ngPlain = targets[3].name;
  const info = machineInfo();
  writeSection("gateway-tls", `## Gateway with mTLS to the upstream vs nginx proxy_ssl (issue 14)

Command: \`bun run bench gateway-tls\` (bench/gateway-tls.bench.ts). wrk → proxy in plain HTTP; proxy → upstream with mTLS: the
upstream (bench/peers/origin-tls.ts, Bun.serve, 114-byte JSON) requires a client certificate from a CA made with src/lib/pki.
Gateway: \`tls: { mode: mutual, … }\`, pooled client (keep-alive TLS connections on Bun.connect, wire lane). nginx ${info.nginx.replace(/^nginx version: /, "")}: proxy_ssl_certificate,
proxy_ssl_verify on, proxy_ssl_session_reuse on, upstream keepalive 64 (bench/peers/nginx-tls.conf.tmpl). The plain-HTTP pair is
the same proxies to bench/peers/origin.ts. ${canPin ? `Proxies pinned to CPU ${PROXY_CPU}; wrk and the origins on CPU ${LOAD_CPU}` : "Unpinned"}; ${ROUNDS} interleaved rounds of ${WARM_S} s warm-up + ${RUN_S} s.

${md}

mTLS row: gateway **${(med(gwTls, "rps") / med(ngTls, "rps")).toFixed(2)}× nginx by rps, ${(minCpu(ngTls) / minCpu(gwTls)).toFixed(2)}× CPU-bound** (target ≥ 0.8×).
Load average of the machine (2 cores, shared with other work): ${loadBefore} at the start, ${loadAvg()} at the end: above ~2 the rps
column mostly measures the neighbours; the CPU µs/req minimum is the steadier figure.
What TLS to the upstream costs each: gateway ${(minCpu(gwTls) - minCpu(gwPlain)).toFixed(1)} µs/req, nginx ${(minCpu(ngTls) - minCpu(ngPlain)).toFixed(1)} µs/req (min CPU, TLS row − plain row).
`);
} finally {
  for (const p of procs) { p.kill("SIGTERM"); }
  await Promise.all(procs.map((p) => Promise.race([p.exited, Bun.sleep(3000)])));
  for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}
