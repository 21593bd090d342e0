/**
 * The running configuration on GET /-/config (admin token; secrets as digests; the last failed reload;
 * what the file on disk would change) and `bun run start --check --diff` against a running host: services
 * added, removed and changed with their lines, a plugin moved, untouched plugins, and a file with errors.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { freePort, startHost, type TestHost } from "./support/harness";
import { diffConfigs } from "../src/host/config-diff";
import type { ConfigView } from "../src/host/config-view";

const ROOT = join(import.meta.dir, "..");
const ADMIN = "config-diff-admin-token-0123456789";
const gw = freePort();
const br = freePort();
let t: TestHost;

const yaml = (o: { services: string; breakerPort?: number; secret?: string }) => `host:
  data_dir: \${DATA_DIR}
  bind: 127.0.0.1
plugins:
  gateway:
    port: ${gw}
    auth: { hs256_secret: "${o.secret ?? "first-secret-value-0123456789abcdef"}" }
    services:
${o.services}
  breaker:
    port: ${o.breakerPort ?? br}
`;
const svc = (name: string, timeout = "30s") => `      - name: ${name}\n        path_prefix: /${name}\n        timeout: ${timeout}\n        instances: [{ url: "http://127.0.0.1:9" }]\n        health_check: { enabled: false }\n`;

beforeAll(async () => {
  t = await startHost(yaml({ services: svc("orders") + svc("users") }), { env: { TRADPAL_ADMIN_TOKEN: ADMIN } });
});
afterAll(async () => { await t?.stop(); });

async function checkDiff(text: string): Promise<{ code: number; out: string }> {
  const file = join(t.dir, "next.yaml");
  writeFileSync(file, text.replaceAll("${DATA_DIR}", join(t.dir, "data")));
  const p = Bun.spawn(["bun", "run", join(ROOT, "src/main.ts"), "--check", "--diff", "--config", file], { cwd: ROOT, env: { ...process.env, TRADPAL_ADMIN_TOKEN: ADMIN }, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out: out + err };
}

test("GET /-/config needs the admin token; secrets appear only as digests", async () => {
  expect((await fetch(`${t.url("gateway")}/-/config`)).status).toBe(401);
  expect((await fetch(`${t.url("breaker")}/-/config`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
  const r = await fetch(`${t.url("breaker")}/-/config`, { headers: { authorization: `Bearer ${ADMIN}` } });
  expect(r.status).toBe(200);
  const body = await r.text();
  expect(body).not.toContain("first-secret-value");
  const j = JSON.parse(body);
  expect(j.version).toBe(1);
  expect(j.hash).toMatch(/^sha256:[0-9a-f]{12}$/);
  expect(j.running.plugins.gateway.settings.auth.hs256_secret).toMatch(/^sha256:/);
  expect(j.running.plugins.gateway.port).toBe(gw);
  expect(j.file_on_disk).toEqual({ valid: true, changes: [] });
  expect(j.last_failure).toBeNull();
});

test("--check --diff names what the file would change, with lines; untouched plugins are said", async () => {
  const next = yaml({ services: svc("orders", "10s") + svc("payments"), breakerPort: freePort(), secret: "second-secret-value-0123456789abcdef" });
  const { code, out } = await checkDiff(next);
  expect(code).toBe(0);
  expect(out).toContain("valid; against the running platform");
  expect(out).toMatch(/next\.yaml:\d+: plugins\.gateway\.services\[orders\]\.timeout: 30000 → 10000/);
  expect(out).toMatch(/next\.yaml:\d+: plugins\.gateway\.services\[payments\]: added/);
  expect(out).toContain("plugins.gateway.services[users]: removed");
  expect(out).toMatch(/plugins\.breaker: moved 127\.0\.0\.1:\d+ → 127\.0\.0\.1:\d+/);
  expect(out).toMatch(/plugins\.gateway\.auth\.hs256_secret: "sha256:[0-9a-f]{12}" → "sha256:[0-9a-f]{12}"/);
  expect(out).not.toContain("second-secret-value");
  const line = Number(/next\.yaml:(\d+): plugins\.gateway\.services\[payments\]: added/.exec(out)![1]);
  expect(next.split("\n")[line - 1]).toContain("name: payments");
});

test("an unchanged file: no changes, every plugin untouched", async () => {
  const { code, out } = await checkDiff(yaml({ services: svc("orders") + svc("users") }));
  expect(code).toBe(0);
  expect(out).toContain("no changes");
  expect(out).toContain("plugins.gateway: untouched");
  expect(out).toContain("plugins.breaker: untouched");
});

test("a file with errors: exit 1 with the errors, as --check", async () => {
  const { code, out } = await checkDiff(yaml({ services: svc("orders") }).replace("timeout: 30s", "timeout: soon"));
  expect(code).toBe(1);
  expect(out).toMatch(/next\.yaml:\d+:\d+: plugins\.gateway\.services\[0\]\.timeout/);
});

test("a refused reload is on /-/config with its errors; the file on disk is reported invalid", async () => {
  writeFileSync(t.file, yaml({ services: svc("orders") }).replaceAll("${DATA_DIR}", join(t.dir, "data")).replace("timeout: 30s", "timeout: soon"));
  const r = await t.host.reload("test");
  expect(r.ok).toBe(false);
  const j = await (await fetch(`${t.url("gateway")}/-/config`, { headers: { authorization: `Bearer ${ADMIN}` } })).json();
  expect(j.last_failure.stage).toBe("config");
  expect(j.last_failure.errors[0].path).toContain("timeout");
  expect(j.file_on_disk.valid).toBe(false);
  expect(j.version).toBe(1);
});

test("diffConfigs: a list without names is compared whole; host changes say every plugin is rebuilt", () => {
  const a: ConfigView = { host: { log_level: "info" }, plugins: { x: { port: 1, hostname: "h", settings: { list: [1, 2] } } } };
  const b: ConfigView = { host: { log_level: "debug" }, plugins: { x: { port: 1, hostname: "h", settings: { list: [1, 3] } } } };
  const c = diffConfigs(a, b, "host:\n  log_level: debug\nplugins:\n  x:\n    list: [1, 3]\n");
  expect(c).toEqual([
    { line: 2, path: "host.log_level", what: '"info" → "debug" (host settings: every plugin is rebuilt)' },
    { line: 4, path: "plugins.x", what: "restarted (a new instance is built, swapped in, the old one drained)" },
    { line: 5, path: "plugins.x.list", what: "[1,2] → [1,3]" },
  ]);
});
