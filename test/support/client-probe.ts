/**
 * Runs test/support/client-env-probe.ts (every typed client, built with no options) in a child process whose
 * environment is exactly the platform's variables for the host `t` plus `extra`: nothing inherited could
 * configure a client. Returns the probe's last JSON line.
 */
import { expect } from "bun:test";
import { join } from "node:path";
import type { TestHost } from "./harness";

const PROBE = join(import.meta.dir, "client-env-probe.ts");

export async function runClientProbe(t: TestHost, extra: Record<string, string> = {}): Promise<Record<string, any>> {
  const port = (id: string) => new URL(t.url(id)).port;
  const env = {
    PATH: process.env.PATH!, HOME: process.env.HOME ?? "/tmp",
    SECURITY_SERVICE_PORT: port("security"), EVENT_SERVICE_PORT: port("events"), CIRCUIT_BREAKER_PORT: port("breaker"),
    DATA_DIR: join(t.dir, "data"), BIND_ADDRESS: "127.0.0.1", ...extra,
  };
  const p = Bun.spawn([process.execPath, PROBE], { env, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect(code, err).toBe(0);
  return JSON.parse(out.trim().split("\n").at(-1)!);
}
