/** Test support for the security plugin's suites: a host running only this plugin, its admin token, curl. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startHost, type TestHost } from "../../test/support/harness";

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
