/** Breaker transitions and alerts land in the events plugin (platform.event on the host bus → event store). */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startHost, type TestHost } from "./support/harness";

let t: TestHost;

beforeAll(async () => {
  t = await startHost(`
host:
  data_dir: \${DATA_DIR}
plugins:
  events:
    port: 0
  breaker:
    port: 0
    defaults: { failure_threshold: 2 }
`);
});
afterAll(async () => { await t?.stop(); });

test("an opened breaker is stored as breaker.opened with its alert; the reset as breaker.closed", async () => {
  for (let i = 0; i < 2; i++) t.host.bus.emit("upstream.outcome", { service: "quotes", status: 504, latencyMs: 9, error: "timeout" });
  await fetch(`${t.url("breaker")}/circuit-breakers/quotes/reset`, { method: "POST" });
  const types = ["breaker.opened", "breaker.alert", "breaker.closed", "breaker.alert_resolved"];
  let events: any[] = [];
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    events = (await (await fetch(`${t.url("events")}/events?types=${types.join(",")}&limit=50`)).json()).events ?? [];
    if (types.every((ty) => events.some((e) => e.type === ty))) break;
    await Bun.sleep(25);
  }
  expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(types));
  const opened = events.find((e) => e.type === "breaker.opened");
  expect(opened.source).toBe("breaker");
  expect(opened.payload).toMatchObject({ breaker: "quotes", from: "closed", to: "open" });
  expect(opened.payload.reason).toContain("2 consecutive failures");
  expect(events.find((e) => e.type === "breaker.alert").payload).toMatchObject({ breaker: "quotes", kind: "breaker_open", severity: "critical" });
  expect(t.logs.some((l) => /platform.event rejected/.test(String(l.msg)))).toBe(false);
});
