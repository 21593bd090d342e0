/**
 * One request id per publish, in the answer and in the request's log lines: the caller's X-Request-Id when
 * acceptable; without one, the first event's id on success and a minted id on a refusal — the same id the
 * host's debug line for the request names (src/core/request-context.ts).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startHost, type TestHost } from "../../../test/support/harness";

let t: TestHost;
beforeAll(async () => { t = await startHost(`\nhost:\n  data_dir: \${DATA_DIR}\n  log_level: debug\nplugins:\n  events: { port: 0 }\n`); });
afterAll(async () => { await t?.stop(); });

const publish = (body: string, headers: Record<string, string> = {}) =>
  fetch(`${t.url("events")}/events`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
const requestLine = async (id: string) => {
  for (let i = 0; i < 40; i++) { const l = t.logs.find((x) => x.msg === "request" && x.request_id === id); if (l) return l; await Bun.sleep(25); }
  return undefined;
};
const event = JSON.stringify({ type: "market.data_update", payload: { symbol: "BTC/USDT", price: 1 } });

test("no X-Request-Id: the answer and the request's log line both name the event's id", async () => {
  for (let i = 0; i < 5; i++) {
    const r = await publish(event);
    expect(r.status).toBe(201);
    const { id } = await r.json();
    expect(r.headers.get("x-request-id")).toBe(id);
    expect((await requestLine(id))?.status).toBe(201);
  }
});

test("a refused publish without X-Request-Id (or with an unacceptable one): the answer's id is the one its log line names", async () => {
  for (const headers of [{}, { "x-request-id": "has spaces in it" }, { "x-request-id": "x".repeat(200) }] as Record<string, string>[]) {
    const r = await publish("{not json", headers);
    expect(r.status).toBe(400);
    const id = r.headers.get("x-request-id")!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await requestLine(id))?.status).toBe(400);
  }
});

test("an acceptable X-Request-Id is kept on success and refusal", async () => {
  for (const [body, status] of [[event, 201], ["[", 400]] as const) {
    const id = `ev-rid-${status}-${crypto.randomUUID()}`;
    const r = await publish(body, { "x-request-id": id });
    expect(r.status).toBe(status);
    expect(r.headers.get("x-request-id")).toBe(id);
    expect((await requestLine(id))?.status).toBe(status);
  }
});
