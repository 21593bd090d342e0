/**
 * Test fixtures for the gateway suites: real upstream servers on port 0 and a gateway host; for the
 * edge policy's unit tests, a real PluginContext (logger capturing lines, prom-client registry, bus,
 * shared pool) and an EdgeRoute builder.
 */
import { Value } from "@sinclair/typebox/value";
import type { Server } from "bun";
import { startHost, type TestHost } from "../../../test/support/harness";
import { createLogger } from "../../../src/core/log";
import { createPluginMetrics } from "../../../src/core/metrics";
import { createBus } from "../../../src/core/bus";
import { createSharedPool } from "../../../src/core/shared-pool";
import { HostSchema } from "../../../src/config/host-schema";
import { parseRate } from "../../../src/config/units";
import type { PluginContext } from "../../../src/core/plugin";
import type { EdgeRoute } from "../edge-policy/contract";

export interface Upstream {
  url: string;
  port: number;
  /** Requests seen (method, path+query, headers). */
  seen: { method: string; path: string; headers: Headers }[];
  hits: number;
  stop(): void;
}

export type UpstreamHandler = (req: Request, self: Upstream) => Response | Promise<Response>;

/** A real Bun.serve upstream on port 0 that records what reached it. */
export function startUpstream(handler?: UpstreamHandler, opts: { record?: boolean; maxRequestBodySize?: number } = {}): Upstream {
  const self: Upstream = { url: "", port: 0, seen: [], hits: 0, stop: () => {} };
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    maxRequestBodySize: opts.maxRequestBodySize ?? 1024 ** 3,
    fetch(req) {
      self.hits++;
      if (opts.record !== false) {
        const u = new URL(req.url);
        self.seen.push({ method: req.method, path: u.pathname + u.search, headers: req.headers });
      }
      if (handler) return handler(req, self);
      return Response.json({ ok: true, port: self.port, path: new URL(req.url).pathname });
    },
  });
  self.port = server.port!;
  self.url = `http://127.0.0.1:${server.port}`;
  self.stop = () => server.stop(true);
  return self;
}

/** An https upstream on port 0 that requires a client certificate from `ca` (opensslPki files: upstream.pem/.key, <ca>.pem). */
export function mtlsUpstream(file: (name: string) => string, ca: string, fetch: (req: Request, server: Server<unknown>) => Response | Promise<Response>): Server<unknown> {
  return Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    tls: { key: Bun.file(file("upstream.key")), cert: Bun.file(file("upstream.pem")), ca: Bun.file(file(`${ca}.pem`)), requestCert: true, rejectUnauthorized: true },
    fetch,
  });
}

/** Start a host running only the gateway with the given `plugins.gateway` YAML body (indented 4 spaces). */
export async function startGateway(gatewayYaml: string, env: Record<string, string | undefined> = {}): Promise<TestHost> {
  return startHost(gatewayConfig(gatewayYaml), { env, only: ["gateway"] });
}

/** The edge's rate limiter (1000/min by default) would turn load tests into 429s: off unless a test sets rate_limiting. */
const RATE_LIMITS_OFF = "    rate_limiting: { enabled: false }\n";

/** GATEWAY_TEST_CLIENT=fetch|pooled runs every suite against one upstream client (default: the plugin's default). */
const CLIENT = process.env.GATEWAY_TEST_CLIENT ? `    upstream_client: ${process.env.GATEWAY_TEST_CLIENT}\n` : "";

export function gatewayConfig(gatewayYaml: string, hostExtra = ""): string {
  const client = gatewayYaml.includes("upstream_client:") ? "" : CLIENT; // a test that pins its client wins
  const limits = gatewayYaml.includes("rate_limiting:") ? "" : RATE_LIMITS_OFF;
  return `host:\n  data_dir: \${DATA_DIR}\n  log_level: warn\n${hostExtra}plugins:\n  gateway:\n    port: 0\n${limits}${client}${gatewayYaml}\n`;
}

/** One service block (YAML, indented for `services:`). */
export function service(name: string, prefix: string, urls: string[], extra = ""): string {
  const inst = urls.map((u) => `          - url: ${u}`).join("\n");
  return `      - name: ${name}\n        path_prefix: ${prefix}\n        instances:\n${inst || "          []"}\n${extra}`;
}

/** Send `n` requests with at most `concurrency` in flight; returns the responses' statuses and bodies. */
export async function load(n: number, concurrency: number, send: (i: number) => Promise<Response>): Promise<{ status: number; body: string }[]> {
  const out: { status: number; body: string }[] = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      try {
        const r = await send(i);
        out[i] = { status: r.status, body: await r.text() };
      } catch (err) {
        out[i] = { status: -1, body: String(err) };
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

/** Send raw bytes and collect the reply until the server closes or 1 s of quiet. */
export async function rawRequest(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = "";
    let timer: ReturnType<typeof setTimeout>;
    const done = () => { clearTimeout(timer); resolve(buf); };
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) { s.write(bytes); timer = setTimeout(() => { s.end(); done(); }, 1000); },
        data(_s, d) { buf += new TextDecoder().decode(d); },
        close() { done(); },
        error(_s, e) { reject(e); },
      },
    }).catch(reject);
  });
}

export interface GatewayProcess {
  url: string;
  pid: number;
  /** Peak and current resident set of the gateway process, from /proc (bytes). */
  memory(): { peak: number; rss: number };
  stop(): Promise<void>;
}

/** Run the gateway as its own process (`bun run src/main.ts --config <tmp> --only gateway`), so its memory and CPU can be read alone. */
export async function spawnGateway(gatewayYaml: string, opts: { cpu?: number; env?: Record<string, string> } = {}): Promise<GatewayProcess> {
  const { freePort, tempDir } = await import("../../../test/support/harness");
  const { join } = await import("node:path");
  const { writeFileSync, readFileSync, rmSync } = await import("node:fs");
  const dir = tempDir("tradpal-gw-");
  const port = freePort();
  const file = join(dir, "config.yaml");
  writeFileSync(file, gatewayConfig(gatewayYaml).replace("port: 0", `port: ${port}\n    hostname: 127.0.0.1`).replaceAll("${DATA_DIR}", join(dir, "data")));
  const main = join(import.meta.dir, "../../../src/main.ts");
  const cmd = ["bun", "run", main, "--config", file, "--only", "gateway"];
  const proc = Bun.spawn(opts.cpu !== undefined ? ["taskset", "-c", String(opts.cpu), ...cmd] : cmd, {
    stdout: "ignore", stderr: "inherit", env: { ...process.env, REDIS_URL: "", LOG_LEVEL: "warn", ...opts.env },
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try { await (await fetch(`${url}/health`)).arrayBuffer(); break; } catch {
      if (Date.now() > deadline || proc.exitCode !== null) { proc.kill(); throw new Error(`gateway process did not start on ${port}`); }
      await Bun.sleep(50);
    }
  }
  const kb = (re: RegExp, s: string) => Number(re.exec(s)?.[1] ?? 0) * 1024;
  return {
    url,
    pid: proc.pid,
    memory() {
      const s = readFileSync(`/proc/${proc.pid}/status`, "utf8");
      return { peak: kb(/VmHWM:\s+(\d+)/, s), rss: kb(/VmRSS:\s+(\d+)/, s) };
    },
    async stop() {
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await proc.exited;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TestContext extends PluginContext {
  lines: Record<string, any>[];
  abort: AbortController;
}

export function testContext(host: Record<string, unknown> = {}, shared = createSharedPool()): TestContext {
  const lines: Record<string, any>[] = [];
  const log = createLogger({ level: "debug", sink: (l) => lines.push(JSON.parse(l)), fields: { plugin: "gateway" } });
  const abort = new AbortController();
  return {
    id: "gateway",
    log,
    metrics: createPluginMetrics("gateway"),
    bus: createBus(log),
    shared,
    signal: abort.signal,
    host: Value.Decode(HostSchema, Value.Default(HostSchema, { ...host })),
    lines,
    abort,
  };
}

export function route(name: string, opts: { auth?: boolean; scopes?: string[]; rate?: string } = {}): EdgeRoute {
  return { service: name.split(":")[0], route: name, authRequired: opts.auth ?? false, scopes: opts.scopes ?? [], rateLimit: opts.rate ? parseRate(opts.rate) : undefined };
}

/** check() may be sync or async; tests want the value. */
export async function decide<T>(v: T | Promise<T>): Promise<T> {
  return await v;
}

export const uniquePrefix = () => `tradpal:test:edge:${process.pid}:${Date.now()}:${Math.random().toString(36).slice(2, 8)}:`;
