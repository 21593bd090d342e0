/**
 * The falco plugin's spans (spans.ts) exported to a real OTLP/HTTP receiver (test/support/otlp-receiver.ts),
 * with the real security plugin in the same host: an alert posted with a traceparent gives one trace —
 * the intake server span under the caller's span, falco.fold and falco.response under it, the revoke call to
 * the security plugin as a client span whose traceparent the security plugin's own span joins, and the
 * output delivery as a client span whose traceparent the webhook receiver gets. The wire lane (a whole body
 * with the head) is traced the same; a notice announced after group_wait lands in its alert's trace.
 * Tracing off: nothing is sent, no traceparent goes to the output.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { freePort, startHost, type TestHost } from "../../../test/support/harness";
import { startOtlpReceiver, type OtlpReceiver } from "../../../test/support/otlp-receiver";
import { RawConn } from "../../../test/support/raw-http";
import { alertOf, postJson } from "./support";

const ADMIN = "falco-trace-security-admin-0123456789";
/** The webhook output: records the traceparent of every delivery. */
const delivered: { traceparent: string | null; rule: string }[] = [];
const webhook = Bun.serve({
  port: 0, hostname: "127.0.0.1",
  async fetch(req) { const b = (await req.json()) as any; delivered.push({ traceparent: req.headers.get("traceparent"), rule: b.rule }); return new Response("ok"); },
});

function config(tracing: string, secPort: number): string {
  return `host:
  data_dir: \${DATA_DIR}
${tracing}
plugins:
  security: { port: ${secPort}, admin_token: "${ADMIN}" }
  falco:
    port: 0
    dedup: { window: 30s, group_wait: 100ms }
    services: [{ service: trading_service, container_names: [trading_service] }]
    outputs: [{ name: hook, type: webhook, url: "http://127.0.0.1:${webhook.port}/" }]
    respond:
      security_url: "http://127.0.0.1:${secPort}"
      security_token: "${ADMIN}"
      policies: [{ on: [quarantine], min_priority: critical, action: quarantine, mode: enforce }]
`;
}

const TRACE = "6c1f0e2d3b4a59687c1f0e2d3b4a5968";
const CALLER = "1a2b3c4d5e6f7081";

describe("tracing on", () => {
  let t: TestHost;
  let r: OtlpReceiver;
  beforeAll(async () => {
    r = startOtlpReceiver();
    t = await startHost(config(`  tracing: { endpoint: "${r.url}", flush_interval: 50ms }`, freePort()), { only: ["security", "falco"] });
    expect((await fetch(`${t.url("security")}/credentials/trading_service`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(201);
  });
  afterAll(async () => { await t?.stop(); r?.stop(); });

  test("intake, fold, response (and security's span under its revoke call) and output: one trace under the caller", async () => {
    const res = await postJson(`${t.url("falco")}/falco/alerts`, alertOf({ priority: "Critical", tags: ["quarantine"] }, { "container.name": "trading_service", "container.id": "t-1" }), { traceparent: `00-${TRACE}-${CALLER}-01` });
    expect(res.status).toBe(200);
    const all = await r.waitFor((s) => ["falco.output", "falco.response.revoke"].every((n) => s.some((x) => x.traceId === TRACE && x.name === n)) && s.some((x) => x.traceId === TRACE && x.service === "tradpal-security"));
    const spans = all.filter((s) => s.traceId === TRACE);
    const one = (name: string) => { const s = spans.filter((x) => x.name === name); expect(s.length, name).toBe(1); return s[0]; };

    const intake = one("falco POST /falco/alerts");
    expect(intake).toMatchObject({ service: "tradpal-falco", kind: 2, parentSpanId: CALLER });
    expect(intake.attributes).toMatchObject({ "http.response.status_code": 200, "tradpal.falco.accepted": 1 });
    const fold = one("falco.fold");
    expect(fold.parentSpanId).toBe(intake.spanId);
    expect(fold.attributes).toMatchObject({ "tradpal.falco.alerts": 1, "tradpal.falco.folded": 0, "tradpal.falco.new_groups": 1 });

    const response = one("falco.response");
    expect(response.parentSpanId).toBe(intake.spanId);
    expect(response.attributes).toMatchObject({ "tradpal.falco.mode": "enforce", "tradpal.service": "trading_service" });
    const revoke = one("falco.response.revoke");
    expect(revoke).toMatchObject({ kind: 3, parentSpanId: response.spanId });
    expect(revoke.attributes["http.response.status_code"]).toBe(200);
    const security = spans.find((s) => s.service === "tradpal-security")!;
    expect(security.name).toBe("security POST /credentials/trading_service/*");
    expect(security.parentSpanId).toBe(revoke.spanId);

    // The notice went out after group_wait, from the lane's loop: still in the alert's trace, its traceparent sent on.
    const output = one("falco.output");
    expect(output).toMatchObject({ kind: 3, parentSpanId: intake.spanId });
    expect(output.attributes).toMatchObject({ "tradpal.falco.output": "hook", "tradpal.falco.result": "sent", "http.response.status_code": 200 });
    expect(delivered.find((d) => d.traceparent?.includes(TRACE))?.traceparent).toBe(`00-${TRACE}-${output.spanId}-01`);
    for (const s of spans) expect(s.end >= s.start).toBe(true);
  });

  test("both lanes are traced alike (a body whole with the head: wire; chunked: fetch); a refused batch ends its span with the code", async () => {
    const trace = "7d2e1f3c4b5a69788d2e1f3c4b5a6978";
    const body = JSON.stringify(alertOf({ rule: "Wire rule" }, { "container.id": "w-1" }));
    const port = Number(new URL(t.url("falco")).port);
    const conn = await RawConn.open(port);
    const raw = await conn.request(`POST / HTTP/1.1\r\nhost: x\r\ntraceparent: 00-${trace}-${CALLER}-01\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
    expect(raw.status).toBe(200);
    // A chunked body takes the fetch lane (the wire lane declines it).
    const bad = await (await RawConn.open(port)).request(`POST / HTTP/1.1\r\nhost: x\r\ntraceparent: 00-${trace}-${CALLER}-01\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n9\r\n{not json\r\n0\r\n\r\n`);
    expect(bad.status).toBe(400);
    const spans = (await r.waitFor((s) => s.filter((x) => x.traceId === trace && x.name === "falco POST /").length === 2 && s.some((x) => x.traceId === trace && x.name === "falco.output"))).filter((s) => s.traceId === trace);
    const intakes = spans.filter((s) => s.name === "falco POST /");
    expect(intakes.map((s) => s.attributes["tradpal.lane"]).sort()).toEqual(["fetch", "wire"]);
    const wire = intakes.find((s) => s.attributes["tradpal.lane"] === "wire")!;
    expect(wire.attributes).toMatchObject({ "http.response.status_code": 200, "tradpal.falco.accepted": 1 });
    expect(spans.find((s) => s.name === "falco.fold")!.parentSpanId).toBe(wire.spanId);
    const refused = intakes.find((s) => s.attributes["tradpal.lane"] === "fetch")!;
    expect(refused.attributes).toMatchObject({ "http.response.status_code": 400, "tradpal.error_code": "FALCO_ERR_PARSE" });
  });
});

test("tracing off: no span is sent, no traceparent goes to the output", async () => {
  const r = startOtlpReceiver();
  const t = await startHost(config("", freePort()), { only: ["falco"] });
  try {
    delivered.length = 0;
    expect((await postJson(`${t.url("falco")}/`, alertOf({ rule: "Off rule" }, { "container.id": "o-1" }), { traceparent: `00-${TRACE}-${CALLER}-01` })).status).toBe(200);
    const deadline = Date.now() + 5000;
    while (!delivered.some((d) => d.rule === "Off rule") && Date.now() < deadline) await Bun.sleep(20);
    expect(delivered.find((d) => d.rule === "Off rule")?.traceparent).toBeNull();
    await Bun.sleep(200);
    expect(r.requests).toBe(0);
  } finally {
    await t.stop();
    r.stop();
  }
});

afterAll(() => webhook.stop(true));
