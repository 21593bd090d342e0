/**
 * The host as users run it: `bun run src/main.ts` in a child process. File-watch reload, SIGHUP,
 * SIGTERM with requests in flight, the start-up table, a taken port, and /metrics through promtool.
 */
import { describe, test, expect, afterEach } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import type { Subprocess } from "bun";
import { freePort, tempDir } from "./support/harness";

const ROOT = join(import.meta.dir, "..");

interface Child {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  url: string;
  file: string;
  logs: () => Record<string, any>[];
  stderr: () => string;
}

const children: Child[] = [];
afterEach(() => { for (const c of children.splice(0)) c.proc.kill("SIGKILL"); });

function yaml(port: number, greeting: string, extra = "") {
  return `host:\n  data_dir: ./data\n  bind: 127.0.0.1\n  reload_debounce: 50ms\n  shutdown_grace: 5s\n${extra}plugins:\n  echo:\n    port: ${port}\n    greeting: ${greeting}\n`;
}

async function collect(stream: ReadableStream<Uint8Array>, into: string[]) {
  const decoder = new TextDecoder();
  for await (const chunk of stream) into.push(decoder.decode(chunk));
}

async function spawnHost(text: string, port: number): Promise<Child> {
  const dir = tempDir();
  const file = join(dir, "config.yaml");
  writeFileSync(file, text);
  const proc = Bun.spawn(["bun", "run", join(ROOT, "src/main.ts"), "--config", file, "--plugins-dir", join(ROOT, "test/plugins")], {
    cwd: dir,
    env: { ...process.env, REDIS_URL: "", LOG_LEVEL: "info" },
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  const out: string[] = [];
  const err: string[] = [];
  void collect(proc.stdout, out);
  void collect(proc.stderr, err);
  const child: Child = {
    proc,
    url: `http://127.0.0.1:${port}`,
    file,
    logs: () => out.join("").split("\n").filter(Boolean).flatMap((l) => { try { return [JSON.parse(l)]; } catch { return []; } }),
    stderr: () => err.join(""),
  };
  children.push(child);
  return child;
}

async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch { /* not yet */ }
    await Bun.sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const greeting = async (url: string) => ((await (await fetch(`${url}/echo`)).json()) as { greeting: string }).greeting;
const failedReloads = async (url: string) => {
  const m = /tradpal_host_config_reloads_total\{result="failure"\} (\d+)/.exec(await (await fetch(`${url}/metrics`)).text());
  return m ? Number(m[1]) : NaN;
};

describe("the host process", () => {
  test("prints a start-up table and serves /health", async () => {
    const port = freePort();
    const c = await spawnHost(yaml(port, "hi"), port);
    await waitFor("health", async () => (await fetch(`${c.url}/health`)).status === 200);
    const health = await (await fetch(`${c.url}/health`)).json();
    expect(health).toMatchObject({ status: "ok", plugin: "echo" });
    await waitFor("table", () => c.stderr().includes(`127.0.0.1:${port}`));
    expect(c.stderr()).toMatch(/plugin\s+address\s+state\s+ms/);
    expect(c.stderr()).toMatch(new RegExp(`echo\\s+127\\.0\\.0\\.1:${port}\\s+running`));
  });

  test("a broken config.yaml written while running: old config serves, error logged with its line, metric rises; fixing applies it", async () => {
    const port = freePort();
    const c = await spawnHost(yaml(port, "v1"), port);
    await waitFor("start", async () => (await greeting(c.url)) === "v1");
    expect(await failedReloads(c.url)).toBe(0);

    writeFileSync(c.file, yaml(port, "v2").replace("reload_debounce: 50ms", "reload_debounce: never"));
    const refused = await waitFor("refusal log", () => c.logs().find((l) => l.msg?.startsWith("config reload refused")));
    expect(refused.errors[0]).toMatchObject({ path: "host.reload_debounce", line: 4, column: 20 });
    expect(await greeting(c.url)).toBe("v1");
    expect(await failedReloads(c.url)).toBe(1);

    writeFileSync(c.file, yaml(port, "v3"));
    await waitFor("fixed config applied", async () => (await greeting(c.url)) === "v3");
  });

  test("SIGHUP reloads", async () => {
    const port = freePort();
    const c = await spawnHost(yaml(port, "before"), port);
    await waitFor("start", async () => (await greeting(c.url)) === "before");
    // Write with the same size and mtime check bypassed: SIGHUP forces the reload regardless of the watcher.
    writeFileSync(c.file, yaml(port, "after!"));
    c.proc.kill("SIGHUP");
    await waitFor("reloaded", async () => (await greeting(c.url)) === "after!");
  });

  test("SIGTERM while requests are in flight: they complete, then exit 0", async () => {
    const port = freePort();
    const c = await spawnHost(yaml(port, "bye"), port);
    await waitFor("start", async () => (await fetch(`${c.url}/health`)).ok);
    const inflight = Array.from({ length: 5 }, () => fetch(`${c.url}/slow?ms=700`).then(async (r) => ({ status: r.status, body: await r.json() })));
    await Bun.sleep(150);
    c.proc.kill("SIGTERM");
    const results = await Promise.all(inflight);
    for (const r of results) expect(r).toMatchObject({ status: 200, body: { greeting: "bye", slept: 700 } });
    expect(await c.proc.exited).toBe(0);
    expect(c.logs().some((l) => l.msg === "host stopped")).toBe(true);
  });

  test("a port that is taken: a clear message and exit 1", async () => {
    const blocker = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("mine") });
    try {
      const c = await spawnHost(yaml(blocker.port!, "x"), blocker.port!);
      expect(await c.proc.exited).toBe(1);
      expect(c.stderr()).toContain(`port ${blocker.port} on 127.0.0.1 for plugin "echo" is already in use`);
    } finally {
      blocker.stop(true);
    }
  });

  test("/metrics passes promtool check metrics", async () => {
    const port = freePort();
    const c = await spawnHost(yaml(port, "m"), port);
    await waitFor("start", async () => (await fetch(`${c.url}/health`)).ok);
    await fetch(`${c.url}/echo`);
    const res = await fetch(`${c.url}/metrics`);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(text).toContain("tradpal_echo_served_total 1");
    expect(text).toContain("process_cpu_seconds_total");
    const check = Bun.spawnSync(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(text) });
    expect(check.stderr.toString() + check.stdout.toString()).toBe("");
    expect(check.exitCode).toBe(0);
  });
});
