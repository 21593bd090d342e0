/**
 * The one attempt driver both lanes use, with a scripted lane: retries on another instance within the
 * route's attempts and the retry budget, failures mapped to coded refusals, no instance, the client
 * leaving; the permit is settled exactly once however the request ends.
 */
import { describe, expect, test } from "bun:test";
import { AttemptDriver, type AttemptLane } from "./attempt";
import { roundRobin, type Member } from "./balancers";
import { RetryBudget } from "./retry-budget";
import { CellHistogram } from "../../../src/core/metric-cells";
import type { CompiledRoute } from "./compiled-route";
import { newCall, type ProxyCore, type Refusal } from "./pipeline";
import type { Permit } from "../../../src/contracts/bus-topics";
import type { UpstreamErrorKind } from "../transport/upstream-client";

const member = (url: string): Member => ({ url, weight: 1, state: { url, active: 0, ewmaMs: 0, ewmaAt: 0, healthy: true, checkPasses: 0, checkFailures: 0, consecutiveFailures: 0, ejectedUntil: 0, ejections: 0, requests: 0, failures: 0 } } as unknown as Member);

function setup(opts: { attempts?: number; members?: number; budget?: number } = {}) {
  const latency = new CellHistogram("t", "t", [0.1, 1]);
  const members = Array.from({ length: opts.members ?? 2 }, (_, i) => member(`http://10.0.0.${i + 1}:80`));
  const svc = {
    name: "svc", members, balancer: roundRobin(), panicNext: 0,
    budget: new RetryBudget({ ratio: 0, min_per_second: opts.budget ?? 10, window: 10_000 }),
    retriesSent: { value: 0 }, retriesDenied: { value: 0 }, ejections: { value: 0 }, latency: latency.cell({}),
    settings: { health_check: { panic: false }, outlier: { enabled: false, consecutive_failures: 5, base_ejection: 1000, max_ejection: 10_000, max_ejection_percent: 50 } },
  };
  const route = { id: "r", svc, timeoutMs: 5000, perTryTimeoutMs: 0, retryAttempts: opts.attempts ?? 2, retryStatuses: new Set([503]), backoffBaseMs: 0, backoffCapMs: 0 } as unknown as CompiledRoute;
  const core = { o: { log: { warn() {} }, latency, maxBodySize: 1 }, trace: undefined } as unknown as ProxyCore;
  const settled: unknown[][] = [];
  const permit = { allowed: true, settle: (...a: unknown[]) => settled.push(a) } as unknown as Permit;
  const sent: string[] = [];
  const answers: [string, number, number][] = [];
  const refusals: [string, string | undefined, number | undefined][] = [];
  let discarded = 0;
  let onSend: (m: Member, n: number) => void = () => {};
  const lane: AttemptLane<{ body: string; discard(): void }> = {
    send(m) { sent.push(m.url); onSend(m, sent.length); },
    answer(a, status, m, attempts) { answers.push([a.body, status, attempts]); },
    refuse(r: Refusal, m, attempts) { refusals.push([r.code, m?.url, attempts]); },
  };
  const driver = new AttemptDriver(core, route, newCall("GET", "/x", "", "req-1", "127.0.0.1", undefined, performance.now()), permit, true, lane);
  const reply = (status: number, err?: UpstreamErrorKind) => driver.result(status, err, err === undefined ? { body: `from ${sent.at(-1)}`, discard: () => { discarded++; } } : undefined);
  return { driver, svc, members, sent, answers, refusals, settled, reply, discards: () => discarded, script: (f: typeof onSend) => { onSend = f; } };
}

describe("AttemptDriver", () => {
  test("a retryable status is retried on another instance; the answer goes out once, the permit settled once with it", () => {
    const t = setup();
    t.script((_m, n) => { if (n === 1) queueMicrotask(() => t.reply(503)); });
    t.driver.go();
    return Bun.sleep(5).then(() => {
      expect(t.sent).toHaveLength(2);
      expect(t.sent[0]).not.toBe(t.sent[1]);
      t.reply(200);
      expect(t.answers).toEqual([[`from ${t.sent[1]}`, 200, 2]]);
      expect(t.discards()).toBe(1);
      expect(t.svc.retriesSent.value).toBe(1);
      expect(t.settled).toHaveLength(1);
      expect(t.settled[0][0]).toBe(200);
      expect(t.members.every((m) => m.state.active === 0)).toBe(true);
    });
  });

  test("a connect failure past the attempts is the coded 502, settled as connect", () => {
    const t = setup({ attempts: 0 });
    t.driver.go();
    t.reply(0, "connect");
    expect(t.refusals).toEqual([["GW_ERR_PROXY_UPSTREAM_CONNECT", t.sent[0], 1]]);
    expect(t.settled).toEqual([[0, expect.any(Number), "connect"]]);
  });

  test("an empty retry budget denies the retry: the failure is answered, the denial counted", () => {
    const t = setup({ budget: 0 });
    t.driver.go();
    t.reply(0, "reset");
    expect(t.sent).toHaveLength(1);
    expect(t.svc.retriesDenied.value).toBe(1);
    expect(t.refusals[0][0]).toBe("GW_ERR_PROXY_UPSTREAM_RESET");
  });

  test("no instance: 503 without an attempt, settled as unsent", () => {
    const t = setup({ members: 0 });
    t.driver.go();
    expect(t.sent).toEqual([]);
    expect(t.refusals).toEqual([["GW_ERR_NO_HEALTHY_UPSTREAM", undefined, 1]]);
    expect(t.settled).toEqual([[0, 0, "unsent"]]);
  });

  test("the client left: a late answer is discarded, nothing answered, the permit settled once (the client's doing)", () => {
    const t = setup();
    t.driver.go();
    t.driver.clientGone();
    t.reply(0, "client");
    t.driver.end();
    expect(t.answers).toEqual([]);
    expect(t.refusals).toEqual([]);
    expect(t.settled).toEqual([[0, expect.any(Number), "client"]]);
  });
});
