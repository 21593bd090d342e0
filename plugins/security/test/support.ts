/** Test support for the security plugin's suites: a host running only this plugin, its admin token, curl. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startHost, type TestHost } from "../../../test/support/harness";

export interface SecurityHarness {
  t: TestHost;
  base: string;
  admin: string;
  dataDir: string;
  /** Headers with a bearer token (the admin's by default) and JSON content type. */
  auth(token?: string): Record<string, string>;
  stop(): Promise<void>;
}

export async function startSecurity(block = "", opts: { env?: Record<string, string | undefined>; host?: string } = {}): Promise<SecurityHarness> {
  const indented = block.split("\n").map((l) => (l.trim() ? `    ${l}` : l)).join("\n");
  const t = await startHost(`
host:
  data_dir: \${DATA_DIR}
  bind: 127.0.0.1
${opts.host ?? ""}
plugins:
  security:
    port: 0
${indented}
`, { only: ["security"], env: opts.env });
  const dataDir = join(t.dir, "data");
  const admin = opts.env?.SECURITY_ADMIN_TOKEN ?? readFileSync(join(dataDir, "security", "admin-token"), "utf8").trim();
  return {
    t,
    base: t.url("security"),
    admin,
    dataDir,
    auth: (token = admin) => ({ authorization: `Bearer ${token}`, "content-type": "application/json" }),
    stop: () => t.stop(),
  };
}

/** Async curl (the server runs in this process: a blocking spawn would deadlock it). */
export async function run(cmd: string[], stdin?: string): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: stdin !== undefined ? new Blob([stdin]) : "ignore" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

/** A host with only the security plugin on a data directory of the caller's (for restart tests). */
export async function startSecurityAt(dataDir: string, block: string, env: Record<string, string | undefined> = {}) {
  const { Host } = await import("../../../src/host/host");
  const { mkdirSync, writeFileSync } = await import("node:fs");
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, "..", `config-${Date.now()}-${Math.random().toString(36).slice(2)}.yaml`);
  const indented = block.split("\n").map((l) => (l.trim() ? `    ${l}` : l)).join("\n");
  writeFileSync(file, `host:\n  data_dir: ${dataDir}\n  bind: 127.0.0.1\nplugins:\n  security:\n    port: 0\n${indented}\n`);
  const logs: Record<string, unknown>[] = [];
  const host = new Host({ file, only: ["security"], env: { ...process.env, REDIS_URL: "", ...env }, logSink: (l) => { try { logs.push(JSON.parse(l)); } catch { /* not JSON */ } } });
  await host.start();
  return { host, base: host.address("security")!.url, logs, stop: () => host.stop() };
}
