/**
 * Intake against a real host: Falco's documented JSON output and falcosidekick's own payloads are accepted on
 * POST / and appear in GET /falco/alerts and as security.alert events in the events plugin; bad input is a
 * coded 400/413/401/415, never a 500.
 */
import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import { startHost, type TestHost } from "../../../test/support/harness";
import { FALCO_DOCS_JSON_OUTPUT, FALCOSIDEKICK_README_EXAMPLE, FALCOSIDEKICK_TEST_PAYLOAD, FALCOSIDEKICK_WEBHOOK_PAYLOAD } from "./fixtures/payloads";
import { alertOf, postJson, until } from "./support";

const YAML = `
host:
  data_dir: \${DATA_DIR}
plugins:
  events:
    port: 0
  falco:
    port: 0
    intake: { max_body_size: 64kb, max_batch: 50, shared_secret: s3cret-token }
    dedup: { window: 30s, group_wait: 100ms }
    services:
      - { service: trading_service, container_names: [trading_service] }
`;

let t: TestHost;
let base: string;
const H = { "x-falco-token": "s3cret-token" };

beforeAll(async () => {
  t = await startHost(YAML);
  base = t.url("falco");
});
afterAll(async () => { await t.stop(); });

describe("falcosidekick-compatible intake", () => {
  test("Falco's documented JSON output and falcosidekick's payloads are accepted and queryable raw", async () => {
    for (const body of [FALCO_DOCS_JSON_OUTPUT, FALCOSIDEKICK_README_EXAMPLE, FALCOSIDEKICK_TEST_PAYLOAD, FALCOSIDEKICK_WEBHOOK_PAYLOAD]) {
      const res = await postJson(base + "/", body, H);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ accepted: 1 });
    }
    const raw = await (await fetch(`${base}/falco/alerts?folded=false&rule=${encodeURIComponent("Write below binary dir")}`)).json();
    expect(raw.count).toBe(3);
    expect(raw.alerts[0]).toMatchObject({ rule: "Write below binary dir", priority: "Error", uuid: "3d3a1b1e-6d39-4a4f-9e21-0f1a2b3c4d5e", source: "syscalls", hostname: "falco-node-1", output_fields: { "fd.name": "/bin/hack", "user.name": "root" } });
    expect(raw.alerts[2].time).toBe("2017-10-09T23:31:56.746Z");
    const test_ = await (await fetch(`${base}/falco/alerts?folded=false&rule=Test%20rule`)).json();
    expect(test_.alerts[0]).toMatchObject({ priority: "Debug", hostname: "falcosidekick", tags: ["test", "example"] });
  });

  test("folded alerts become security.alert events in the events plugin", async () => {
    const events = t.url("events");
    await until(async () => (await (await fetch(`${events}/events?type=security.alert`)).json()).events.length >= 2);
    const page = await (await fetch(`${events}/events?type=security.alert`)).json();
    const write = page.events.filter((e: any) => e.payload.rule === "Write below binary dir");
    // The docs alert and sidekick's README copy differ only in time: same rule and key fields → one group.
    expect(write).toHaveLength(1);
    expect(write[0]).toMatchObject({ source: "falco", payload: { priority: "error", fields: { "fd.name": "/bin/hack" } } });
    expect(write[0].payload.count).toBeGreaterThanOrEqual(2);
  });

  test("an array is accepted in one request; the container maps to its platform service and SPIFFE id", async () => {
    const res = await postJson(base + "/falco/alerts", [alertOf(), alertOf({ priority: "Notice" }, { "container.name": "other" })], H);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ accepted: 2 });
    const raw = await (await fetch(`${base}/falco/alerts?folded=false&service=trading_service`)).json();
    expect(raw.alerts[0]).toMatchObject({ service: "trading_service", spiffe_id: "spiffe://tradpal.local/service/trading_service" });
    const notice = await (await fetch(`${base}/falco/alerts?folded=false&priority=warning&rule=TradPal%20Shell%20In%20Trading%20Container`)).json();
    expect(notice.alerts.every((a: any) => a.priority !== "Notice")).toBe(true);
  });

  test("GET /ping, /healthz and POST /test answer like falcosidekick", async () => {
    const ping = await fetch(base + "/ping");
    expect(await ping.text()).toBe("pong\n");
    expect(await (await fetch(base + "/healthz")).json()).toEqual({ status: "ok" });
    const res = await fetch(base + "/test", { method: "POST", headers: H });
    expect(res.status).toBe(200);
    expect((await res.json()).accepted).toBe(1);
  });
});

describe("bad input is a coded error, never a 500", () => {
  const cases: [string, () => Promise<Response>, number, string, string?][] = [
    ["missing secret", () => postJson(base + "/", alertOf()), 401, "FALCO_ERR_UNAUTHORIZED"],
    ["wrong secret", () => postJson(base + "/", alertOf(), { "x-falco-token": "nope" }), 401, "FALCO_ERR_UNAUTHORIZED"],
    ["not JSON", () => postJson(base + "/", "{nope", H), 400, "FALCO_ERR_PARSE", "/"],
    ["empty body", () => postJson(base + "/", "", H), 400, "FALCO_ERR_EMPTY", "/"],
    ["bad priority", () => postJson(base + "/", alertOf({ priority: "Severe" }), H), 400, "FALCO_ERR_INVALID_ALERT", "/priority"],
    ["missing rule", () => postJson(base + "/", alertOf({ rule: undefined }), H), 400, "FALCO_ERR_INVALID_ALERT", "/rule"],
    ["bad time", () => postJson(base + "/", alertOf({ time: "yesterday" }), H), 400, "FALCO_ERR_INVALID_ALERT", "/time"],
    ["nested field value", () => postJson(base + "/", alertOf({}, { "proc.name": { a: 1 } }), H), 400, "FALCO_ERR_INVALID_ALERT", "/output_fields/proc.name"],
    ["second alert of a batch bad", () => postJson(base + "/", [alertOf(), alertOf({ priority: 7 })], H), 400, "FALCO_ERR_INVALID_ALERT", "/1/priority"],
    ["batch too large", () => postJson(base + "/", Array.from({ length: 51 }, () => alertOf()), H), 413, "FALCO_ERR_BATCH_TOO_LARGE"],
    ["body too large", () => postJson(base + "/", alertOf({ output: "x".repeat(70_000) }), H), 413, "FALCO_ERR_BODY_TOO_LARGE"],
    ["text/plain (json_output off)", () => fetch(base + "/", { method: "POST", body: "12:00 Warning shell", headers: { ...H, "content-type": "text/plain" } }), 415, "FALCO_ERR_UNSUPPORTED_MEDIA_TYPE"],
    ["bad query", () => fetch(base + "/falco/alerts?priority=loud"), 400, "FALCO_ERR_BAD_QUERY", "/query/priority"],
    ["unknown query parameter", () => fetch(base + "/falco/alerts?colour=red"), 400, "FALCO_ERR_BAD_QUERY", "/query/colour"],
  ];
  for (const [name, send, status, code, where] of cases) {
    test(name, async () => {
      const before = (await (await fetch(`${base}/falco/stats`)).json()).received;
      const res = await send();
      expect(res.status).toBe(status);
      const body = await res.json();
      expect(body.error.code).toBe(code);
      if (where) expect(body.error.where).toBe(where);
      expect((await (await fetch(`${base}/falco/stats`)).json()).received).toBe(before); // nothing half-stored
    });
  }

  test("a chunked body over the limit is cut off while reading", async () => {
    const big = new ReadableStream({ start(c) { for (let i = 0; i < 100; i++) c.enqueue(new TextEncoder().encode("x".repeat(1024))); c.close(); } });
    const res = await fetch(base + "/", { method: "POST", body: big, headers: H });
    expect(res.status).toBe(413);
    expect((await res.json()).error.code).toBe("FALCO_ERR_BODY_TOO_LARGE");
  });

  test("the secret may come as ?token= (Falco's http_output cannot add headers)", async () => {
    const res = await postJson(base + "/?token=s3cret-token", alertOf());
    expect(res.status).toBe(200);
  });
});
