/**
 * Folding and delivery against a real host and real HTTP receivers on loopback: a burst of 1,000 identical
 * alerts is one notification with its count; a higher priority inside a burst goes out at once; per-output
 * minimum priority; an output that is down neither slows nor loses intake and gets its backlog when it returns.
 */
import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import { startHost, type TestHost } from "../../../test/support/harness";
import { alertOf, postJson, startReceiver, until, type Receiver } from "./support";

let t: TestHost;
let base: string;
let hook: Receiver, slack: Receiver, flaky: Receiver;

beforeAll(async () => {
  hook = startReceiver();
  slack = startReceiver();
  flaky = startReceiver();
  flaky.down = true;
  t = await startHost(`
host:
  data_dir: \${DATA_DIR}
plugins:
  falco:
    port: 0
    dedup: { window: 3s, group_wait: 1s }   # group_wait long enough for a burst sent in 4 requests on a loaded machine
    outputs:
      - { name: hook, type: webhook, url: "${hook.url}/hook", minimum_priority: warning }
      - { name: chat, type: slack, url: "${slack.url}/slack", minimum_priority: critical }
      - { name: flaky, type: webhook, url: "${flaky.url}/in", minimum_priority: debug, retry_base: 20ms, retry_max: 100ms, max_queue: 5000 }
`);
  base = t.url("falco");
});
afterAll(async () => { await t.stop(); hook.stop(); slack.stop(); flaky.stop(); });

const forRule = (r: Receiver, rule: string) => r.bodies.filter((b) => b.body?.rule === rule);

describe("folding", () => {
  test("1,000 identical alerts: one notification with count 1000; all 1,000 counted and queryable raw", async () => {
    const rule = "Burst rule";
    const batch = Array.from({ length: 1000 }, () => alertOf({ rule }));
    for (let i = 0; i < 1000; i += 250) expect((await postJson(base + "/", batch.slice(i, i + 250))).status).toBe(200);
    await until(() => forRule(hook, rule).length >= 1);
    await Bun.sleep(3500); // past the window: no second notification, nothing new arrived
    const got = forRule(hook, rule);
    expect(got).toHaveLength(1);
    expect(got[0].body.tradpal).toMatchObject({ count: 1000, kind: "new" });
    expect(got[0].body).toMatchObject({ priority: "Warning", rule, output_fields: { "container.id": "abc123" } });
    const raw = await (await fetch(`${base}/falco/alerts?folded=false&rule=${encodeURIComponent(rule)}&limit=1000`)).json();
    expect(raw.matched).toBe(1000);
    const folded = await (await fetch(`${base}/falco/alerts?rule=${encodeURIComponent(rule)}`)).json();
    expect(folded.alerts).toHaveLength(1);
    expect(folded.alerts[0]).toMatchObject({ count: 1000, notifications: 1 });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain(`tradpal_falco_alerts_received_total{rule="${rule}",priority="warning"} 1000`);
  });

  test("a higher-priority alert inside the burst is forwarded at once, also to the critical-only output", async () => {
    const rule = "Escalating rule";
    await postJson(base + "/", Array.from({ length: 200 }, () => alertOf({ rule })));
    const t0 = Date.now();
    await postJson(base + "/", alertOf({ rule, priority: "Critical" }));
    await until(() => forRule(hook, rule).length >= 1 && slack.bodies.some((b) => String(b.body?.text).includes(rule)), 3000, 5);
    await until(() => forRule(hook, rule).some((b) => b.body.tradpal.kind === "escalation"), 3000, 5);
    const first = forRule(hook, rule).find((b) => b.body.tradpal.kind === "escalation")!;
    expect(first.body.priority).toBe("Critical");
    expect(first.body.tradpal).toMatchObject({ kind: "escalation", count: 201 });
    expect(first.at - t0).toBeLessThan(900); // did not wait for group_wait (1 s)
    const s = slack.bodies.find((b) => String(b.body?.text).includes(rule))!;
    expect(s.body.text).toContain("[Critical]");
    expect(s.body.attachments[0].fields).toContainEqual({ title: "count", value: "201", short: true });
    expect(slack.bodies.some((b) => String(b.body?.text).includes("Burst rule"))).toBe(false); // warning < critical
  });

  test("a new container and a new user each break the fold", async () => {
    const rule = "Fold breaker rule";
    await postJson(base + "/", [alertOf({ rule }), alertOf({ rule }), alertOf({ rule }, { "container.id": "other" }), alertOf({ rule }, { "user.name": "mallory" })]);
    await until(() => forRule(hook, rule).length >= 3);
    await Bun.sleep(100);
    const got = forRule(hook, rule).map((b) => [b.body.output_fields["container.id"], b.body.output_fields["user.name"], b.body.tradpal.count]);
    expect(got.sort()).toEqual([["abc123", "mallory", 1], ["abc123", "root", 2], ["other", "root", 1]]);
  });
});

describe("delivery", () => {
  test("an output that is down keeps its backlog and delivers it when it returns; the others are unaffected", async () => {
    expect(flaky.bodies).toHaveLength(0);
    const stats = await (await fetch(`${base}/falco/stats`)).json();
    expect(stats.outputs.flaky).toMatchObject({ up: false });
    expect(stats.outputs.flaky.queued).toBeGreaterThan(0);
    expect(stats.outputs.flaky.failed_attempts).toBeGreaterThan(0);
    const queued = stats.outputs.flaky.queued;
    flaky.down = false;
    await until(async () => (await (await fetch(`${base}/falco/stats`)).json()).outputs.flaky.queued === 0);
    expect(flaky.bodies.length).toBeGreaterThanOrEqual(queued);
    const after = (await (await fetch(`${base}/falco/stats`)).json()).outputs.flaky;
    expect(after).toMatchObject({ up: true, dropped_overflow: 0 });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/tradpal_falco_output_deliveries_total\{output="flaky",result="retry"\} [1-9]/);
    expect(metrics).toContain('tradpal_falco_output_up{output="flaky"} 1');
  });

  test("the metrics pass promtool check metrics", async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const p = Bun.spawn(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(text), stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    expect(out + err).toBe("");
    expect(code).toBe(0);
  });
});
