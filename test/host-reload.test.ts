/**
 * Hot reload under load: the host swaps instances (and ports) while requests flow, and not one fails.
 * Uses the test-only echo plugin (test/plugins/echo), whose responses name the config generation.
 */
import { describe, test, expect, afterEach } from "bun:test";
import { startHost, freePort, type TestHost } from "./support/harness";
import { echoPlugin } from "./plugins/echo";

const config = (greeting: string, port: number | string = 0, extra = "") => `
host:
  data_dir: \${DATA_DIR}
  bind: 127.0.0.1
  drain_timeout: 5s
plugins:
  echo:
    port: ${port}
    greeting: ${greeting}
${extra}`;

let t: TestHost | undefined;
afterEach(async () => { await t?.stop(); t = undefined; });

/** Keep `workers` concurrent clients busy until `until` resolves; count every outcome. */
async function loadUntil(target: () => string, until: Promise<unknown>, workers = 8) {
  let ok = 0;
  const failures: string[] = [];
  const greetings = new Set<string>();
  let done = false;
  void until.finally(() => { done = true; });
  const deadline = Date.now() + 30_000; // bound the loop even if `until` never settles
  const worker = async () => {
    while (!done && Date.now() < deadline) {
      try {
        const res = await fetch(`${target()}/slow?ms=3`);
        const body = await res.json() as { greeting?: string };
        if (res.status === 200) { ok++; greetings.add(String(body.greeting)); }
        else failures.push(`status ${res.status}: ${JSON.stringify(body)}`);
      } catch (err) {
        failures.push(`error: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return { ok, failures, greetings };
}

describe("hot reload", () => {
  test("20 reloads under load, one of them a port change: 0 failed requests", async () => {
    t = await startHost(config("g0"), { plugins: { echo: echoPlugin } });
    const host = t.host;
    const newPort = freePort();
    const reloads = (async () => {
      for (let i = 1; i <= 20; i++) {
        await Bun.sleep(40);
        const outcome = await t!.rewrite(config(`g${i}`, i === 10 ? newPort : i > 10 ? newPort : 0));
        expect(outcome.ok).toBe(true);
      }
      await Bun.sleep(100);
    })();
    const result = await loadUntil(() => host.address("echo")!.url, reloads);
    await reloads;
    expect(result.failures).toEqual([]);
    expect(result.ok).toBeGreaterThan(100);
    expect(result.greetings.size).toBeGreaterThan(5); // traffic really crossed many generations
    expect(host.address("echo")!.port).toBe(newPort);
    const body = await (await fetch(`${host.address("echo")!.url}/echo`)).json();
    expect(body.greeting).toBe("g20");
  });

  test("an unchanged block is a no-op: the same instance keeps serving", async () => {
    t = await startHost(config("same"), { plugins: { echo: echoPlugin } });
    const before = await (await fetch(`${t.url("echo")}/echo`)).json();
    const outcome = await t.rewrite(config("same") + "\n# only a comment changed\n");
    expect(outcome).toEqual({ ok: true, changed: [] });
    const after = await (await fetch(`${t.url("echo")}/echo`)).json();
    expect(after.generation).toBe(before.generation);
  });

  test("an in-flight request finishes on the instance it started on", async () => {
    t = await startHost(config("old"), { plugins: { echo: echoPlugin } });
    const slow = fetch(`${t.url("echo")}/slow?ms=400`).then((r) => r.json());
    await Bun.sleep(50);
    const outcome = await t.rewrite(config("new"));
    expect(outcome.ok).toBe(true);
    expect((await slow).greeting).toBe("old");
    expect((await (await fetch(`${t.url("echo")}/echo`)).json()).greeting).toBe("new");
  });

  test("a new instance that fails to start never takes effect; the old one keeps serving", async () => {
    t = await startHost(config("stable"), { plugins: { echo: echoPlugin } });
    const outcome = await t.rewrite(config("broken", 0, "    fail_start: true"));
    expect(outcome.ok).toBe(false);
    if (!outcome.ok && outcome.stage === "apply") expect(outcome.error).toContain("configured to fail at start");
    expect((await (await fetch(`${t.url("echo")}/echo`)).json()).greeting).toBe("stable");
    const metrics = await (await fetch(`${t.url("echo")}/metrics`)).text();
    expect(metrics).toMatch(/tradpal_host_config_reloads_total\{result="failure"\} 1/);
  });

  test("a port change to a port that is taken is refused and the old port keeps serving", async () => {
    const blocker = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("other") });
    try {
      t = await startHost(config("here"), { plugins: { echo: echoPlugin } });
      const url = t.url("echo");
      const outcome = await t.rewrite(config("moved", blocker.port));
      expect(outcome.ok).toBe(false);
      if (!outcome.ok && outcome.stage === "apply") expect(outcome.error).toContain("already in use");
      expect((await (await fetch(`${url}/echo`)).json()).greeting).toBe("here");
    } finally {
      blocker.stop(true);
    }
  });
});
