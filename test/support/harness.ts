/**
 * Test fixtures shared by every suite: a Host started from a config text in a temp directory
 * (plugins on port 0), free ports, and a private redis-server for tests that stop or restart Redis.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Host } from "../../src/host/host";
import { directoryResolver } from "../../src/host/resolve";
import type { AnyPluginDefinition } from "../../src/core/plugin";

export interface TestHost {
  host: Host;
  dir: string;
  file: string;
  /** Base URL of a hosted plugin, e.g. url("gateway") → http://127.0.0.1:41234 */
  url(id: string): string;
  /** Log lines the host wrote (parsed JSON). */
  logs: Record<string, any>[];
  /** Replace config.yaml and apply it now (no watcher involved). */
  rewrite(text: string): ReturnType<Host["reload"]>;
  stop(): Promise<void>;
}

export function tempDir(prefix = "tradpal-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Start a host from YAML text. `${DATA_DIR}` in the text is replaced by a fresh temp directory.
 * Extra (test-only) plugin definitions can be passed; product plugins are found under plugins/.
 */
export async function startHost(yaml: string, opts: { plugins?: Record<string, AnyPluginDefinition>; env?: Record<string, string | undefined>; only?: string[] } = {}): Promise<TestHost> {
  const dir = tempDir();
  const file = join(dir, "config.yaml");
  const render = (t: string) => t.replaceAll("${DATA_DIR}", join(dir, "data"));
  writeFileSync(file, render(yaml));
  const logs: Record<string, any>[] = [];
  const host = new Host({
    file,
    only: opts.only,
    // Each host is its own platform on a shared Redis unless a test names one (TRADPAL_PLATFORM) for hosts that cooperate.
    env: { ...process.env, REDIS_URL: "", TRADPAL_PLATFORM: `test-${crypto.randomUUID().slice(0, 8)}`, ...opts.env },
    resolve: directoryResolver(undefined, opts.plugins ?? {}),
    logSink: (line) => { try { logs.push(JSON.parse(line)); } catch { logs.push({ raw: line }); } },
  });
  await host.start();
  return {
    host,
    dir,
    file,
    logs,
    url(id) {
      const a = host.address(id);
      if (!a) throw new Error(`plugin ${id} is not running`);
      return a.url;
    },
    rewrite(text) {
      writeFileSync(file, render(text));
      return host.reload("test");
    },
    async stop() {
      await host.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

import { freePort } from "./free-port";
export { freePort };

export interface PrivateRedis {
  url: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
}

/** A redis-server of our own (free port, own directory, appendonly on) for tests that stop or restart it. */
export async function startPrivateRedis(opts: { appendonly?: boolean } = {}): Promise<PrivateRedis> {
  const port = freePort();
  const dir = tempDir("tradpal-redis-");
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  const start = async () => {
    proc = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", opts.appendonly === false ? "no" : "yes", "--appendfsync", "always", "--save", ""], { stdout: "ignore", stderr: "ignore" });
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      try {
        const sock = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, open(s) { s.end(); } } });
        void sock;
        return;
      } catch { await Bun.sleep(25); }
    }
    throw new Error(`redis-server did not start on ${port}`);
  };
  const stop = async () => {
    if (!proc) return;
    proc.kill("SIGTERM");
    await proc.exited;
    proc = undefined;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    start,
    stop,
    async restart() { await stop(); await start(); },
  };
}

/** The machine's shared Redis (127.0.0.1:6379) for tests that only read and write. */
export const SHARED_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
