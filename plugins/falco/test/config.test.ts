/** plugins.falco is validated at load: a bad block is refused with its path, nothing half-started. */
import { test, expect } from "bun:test";
import { startHost } from "../../../test/support/harness";

const host = (falco: string) => `
host:
  data_dir: \${DATA_DIR}
plugins:
  falco:
    port: 0
${falco}`;

for (const [name, block, message] of [
  ["unknown key", "    surprise: 1\n", /surprise/],
  ["bad priority in a policy", "    respond:\n      policies: [{ on: [x], min_priority: severe, action: quarantine }]\n", /min_priority/],
  ["bad output url", "    outputs: [{ name: a, type: webhook, url: \"ftp://x\" }]\n", /url/],
  ["duplicate output names", "    outputs: [{ name: a, type: webhook, url: \"http://127.0.0.1:1\" }, { name: a, type: slack, url: \"http://127.0.0.1:2\" }]\n", /outputs\[1\]\.name: "a" is used twice/],
  ["group_wait not shorter than window", "    dedup: { window: 1s, group_wait: 2s }\n", /group_wait must be shorter/],
] as const) {
  test(`refused: ${name}`, async () => {
    let err: unknown;
    try { const t = await startHost(host(block)); await t.stop(); } catch (e) { err = e; }
    expect(err).toBeDefined();
    expect(String((err as Error)?.message ?? err) + JSON.stringify((err as any)?.errors ?? "")).toMatch(message);
  });
}
