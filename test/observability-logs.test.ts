/**
 * The trace id in every log line of a request, across plugins (issue 18; src/core/request-context.ts): one
 * host process (`bun run src/main.ts`, LOG_LEVEL debug so every plugin writes a line per request) with the
 * gateway routing to the security, breaker and falco plugins, tracing on to a real OTLP receiver. Its stdout
 * is read as JSON lines. A request through the gateway to each plugin, and one straight to each plugin, each
 * with its own X-Request-Id and traceparent: every line that names the request id names the client's trace,
 * every plugin on the way wrote lines for it, and each line's span_id is a span that plugin exported for it.
 * A request without traceparent: the gateway starts a trace, and the plugin behind it logs the same one.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, tempDir } from "./support/harness";
import { startOtlpReceiver, type OtlpReceiver } from "./support/otlp-receiver";

const ROOT = join(import.meta.dir, "..");
const SEC_ADMIN = "logs-test-security-admin-0123456789";
const BRK_ADMIN = "logs-test-breaker-admin-0123456789";
const ports = { gateway: freePort(), security: freePort(), breaker: freePort(), falco: freePort() };
const dir = tempDir("tradpal-logs-");
let proc: ReturnType<typeof Bun.spawn>;
let receiver: OtlpReceiver;
const out: string[] = [];

const lines = (): Record<string, any>[] => out.join("").split("\n").filter(Boolean).flatMap((l) => { try { return [JSON.parse(l)]; } catch { return []; } });

const service = (name: string, port: number) => `      - { name: ${name}, path_prefix: /api/${name}, strip_prefix: true, instances: [{ url: "http://127.0.0.1:${port}" }], health_check: { enabled: false } }`;

beforeAll(async () => {
  receiver = startOtlpReceiver();
  writeFileSync(join(dir, "config.yaml"), `host:
  data_dir: ${join(dir, "data")}
  bind: 127.0.0.1
  log_level: debug
  tracing: { endpoint: "${receiver.url}", flush_interval: 100ms }
plugins:
  security: { port: ${ports.security}, admin_token: ${SEC_ADMIN} }
  breaker: { port: ${ports.breaker}, admin_token: ${BRK_ADMIN}, services: { via-gateway: {}, direct: {} } }
  falco:
    port: ${ports.falco}
    services: [{ service: via-gateway, container_names: [via-gateway] }, { service: direct, container_names: [direct] }]
    respond: { policies: [{ on: [TradPal Shell In Trading Container], min_priority: warning, action: quarantine, mode: dry_run }] }
  gateway:
    port: ${ports.gateway}
    access_log: { enabled: true, sample_rate: 1 }
    services:
${service("security", ports.security)}
${service("breaker", ports.breaker)}
${service("falco", ports.falco)}
`);
  proc = Bun.spawn(["bun", "run", join(ROOT, "src/main.ts"), "--config", join(dir, "config.yaml")], {
    cwd: dir, env: { ...process.env, REDIS_URL: "", LOG_LEVEL: "debug", TRADPAL_PLATFORM: `logs-${process.pid}` }, stdout: "pipe", stderr: "pipe", stdin: "ignore",
  });
  const decoder = new TextDecoder();
  void (async () => { for await (const c of proc.stdout as ReadableStream<Uint8Array>) out.push(decoder.decode(c)); })();
  void (async () => { for await (const c of proc.stderr as ReadableStream<Uint8Array>) out.push(decoder.decode(c)); })();
  const deadline = Date.now() + 30_000;
  for (const port of Object.values(ports)) {
    while (!(await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline) throw new Error(`port ${port} did not come up:\n${out.join("").slice(-3000)}`);
      await Bun.sleep(100);
    }
  }
});
afterAll(async () => {
  proc?.kill("SIGTERM");
  await proc?.exited;
  receiver?.stop();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
const hex = (len: number) => Array.from(crypto.getRandomValues(new Uint8Array(len / 2)), (b) => b.toString(16).padStart(2, "0")).join("");
function ids() {
  const id = `logs-${++n}-${hex(8)}`;
  const trace = hex(32);
  return { id, trace, headers: { "x-request-id": id, traceparent: `00-${trace}-${hex(16)}-01` } };
}

/** An alert a dry-run policy acts on (once per service: `who` is the service and its container). */
const falcoAlert = (who: string) => JSON.stringify({
  output: "shell in trading", priority: "Warning", rule: "TradPal Shell In Trading Container", time: new Date().toISOString(), source: "syscall",
  tags: ["shell"], output_fields: { "container.id": `c-${who}`, "container.name": who, "user.name": "root" },
});

interface Call { path: string; init: { method: string; body?: string; headers: Record<string, string> }; status: number; msgs: readonly string[] }
/** What each request does (`who`: via-gateway or direct, so each acts once), its answer, and the messages its plugin must log for it. */
const calls: Record<"security" | "breaker" | "falco", (who: string) => Call> = {
  security: () => ({ path: "/tokens/validate", init: { method: "POST", body: JSON.stringify({ token: "not-a-jwt" }), headers: { "content-type": "application/json" } }, status: 401, msgs: ["request"] }), // refused: no service token
  breaker: (who) => ({ path: `/circuit-breakers/${who}/force-open`, init: { method: "POST", headers: { authorization: `Bearer ${BRK_ADMIN}` } }, status: 200, msgs: ["request", "breaker operator action", "breaker transition"] }),
  falco: (who) => ({ path: "/falco/alerts", init: { method: "POST", body: falcoAlert(who), headers: { "content-type": "application/json" } }, status: 200, msgs: ["request", "dry run: would quarantine service"] }),
};

async function send(url: string, c: Call, h: Record<string, string>) {
  const res = await fetch(url, { ...c.init, headers: { ...c.init.headers, ...h } });
  expect({ status: res.status, body: c.status === res.status ? "" : await res.text() }).toEqual({ status: c.status, body: "" });
  expect(res.headers.get("x-request-id")).toBe(h["x-request-id"]);
}

/** The lines naming this request id, once `want` plugins have written `msgs`; all of them must name `trace`. */
async function linesOf(id: string, trace: string, want: Record<string, readonly string[]>) {
  const deadline = Date.now() + 10_000;
  let mine: Record<string, any>[] = [];
  const complete = () => Object.entries(want).every(([plugin, msgs]) => msgs.every((m) => mine.some((l) => l.plugin === plugin && l.msg === m)));
  while (!complete() && Date.now() < deadline) { await Bun.sleep(50); mine = lines().filter((l) => l.request_id === id); }
  expect(Object.fromEntries(Object.keys(want).map((p) => [p, mine.filter((l) => l.plugin === p).map((l) => l.msg).sort()]))).toEqual(
    Object.fromEntries(Object.entries(want).map(([p, msgs]) => [p, expect.arrayContaining([...msgs])])),
  );
  for (const l of mine) expect({ msg: l.msg, plugin: l.plugin, trace_id: l.trace_id }).toEqual({ msg: l.msg, plugin: l.plugin, trace_id: trace });
  // No line of another request names this trace.
  expect(lines().filter((l) => l.trace_id === trace && l.request_id !== id)).toEqual([]);
  return mine;
}

/** Every span_id a plugin logged is a span that plugin exported in this trace. */
async function spansMatch(mine: Record<string, any>[], trace: string) {
  const logged = mine.filter((l) => l.span_id !== undefined);
  expect(logged.length).toBeGreaterThan(0);
  const spans = await receiver.waitFor((s) => logged.every((l) => s.some((x) => x.traceId === trace && x.spanId === l.span_id)));
  for (const l of logged) expect(spans.find((x) => x.spanId === l.span_id)!.service).toBe(`tradpal-${l.plugin}`);
}

for (const plugin of ["security", "breaker", "falco"] as const) {
  test(`through the gateway to ${plugin}: the gateway's and ${plugin}'s lines all carry the client's trace id`, async () => {
    const { id, trace, headers } = ids();
    const call = calls[plugin]("via-gateway");
    await send(`http://127.0.0.1:${ports.gateway}/api/${plugin}${call.path}`, call, headers);
    const mine = await linesOf(id, trace, { gateway: ["access", "proxy decision", "request"], [plugin]: call.msgs });
    await spansMatch(mine, trace);
  });

  test(`straight to ${plugin}: its lines carry the trace id`, async () => {
    const { id, trace, headers } = ids();
    const call = calls[plugin]("direct");
    await send(`http://127.0.0.1:${ports[plugin]}${call.path}`, call, headers);
    await spansMatch(await linesOf(id, trace, { [plugin]: call.msgs }), trace);
  });
}

test("no traceparent: the gateway starts a trace and the plugin behind it logs the same trace id", async () => {
  const id = `logs-new-${hex(8)}`;
  const call = calls.security("");
  await send(`http://127.0.0.1:${ports.gateway}/api/security${call.path}`, call, { "x-request-id": id });
  const deadline = Date.now() + 10_000;
  let mine: Record<string, any>[] = [];
  while (Date.now() < deadline && !(mine.some((l) => l.plugin === "security") && mine.some((l) => l.msg === "access"))) { await Bun.sleep(50); mine = lines().filter((l) => l.request_id === id); }
  const traces = new Set(mine.map((l) => l.trace_id));
  expect(mine.map((l) => [l.plugin, l.msg, l.decision, l.trace_id])).toEqual(mine.map((l) => [l.plugin, l.msg, l.decision, mine.at(-1)!.trace_id]));
  expect(traces.size).toBe(1);
  expect([...traces][0]).toMatch(/^[0-9a-f]{32}$/);
  expect(new Set(mine.map((l) => l.plugin))).toEqual(new Set(["gateway", "security"]));
});
