/**
 * One request id per publish, in the answer and in the request's log lines: the caller's X-Request-Id when
 * acceptable; without one, the first event's id on success and a minted id on a refusal — the same id the
 * host's debug line for the request names (src/core/request-context.ts). On both lanes: a body sent with
 * its length takes the raw HTTP/1.1 lane (publish-wire.ts), a chunked one the fetch lane (hot-path.ts).
 * The raw lane's debug line carries no status (WireClient.done does not take one): only its id is checked.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startHost, type TestHost } from "../../../test/support/harness";
import { chunkedBody } from "./support";

let t: TestHost;
beforeAll(async () => { t = await startHost(`\nhost:\n  data_dir: \${DATA_DIR}\n  log_level: debug\nplugins:\n  events: { port: 0 }\n`); });
afterAll(async () => { await t?.stop(); });

/** A body as one string goes with Content-Length (raw lane); as a stream, chunked (fetch lane). */
const lanes = [
  { lane: "wire", send: (body: string) => body as BodyInit },
  { lane: "fetch", send: (body: string) => chunkedBody(body) as BodyInit },
];
const publish = (send: (b: string) => BodyInit, body: string, headers: Record<string, string> = {}) =>
  fetch(`${t.url("events")}/events`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: send(body) });
const requestLine = async (id: string) => {
  for (let i = 0; i < 40; i++) { const l = t.logs.find((x) => x.msg === "request" && x.request_id === id); if (l) return l; await Bun.sleep(25); }
  return undefined;
};
/** The host's debug line for the request: found, on the expected lane, with the status where the lane reports one. */
const expectLine = async (id: string, lane: string, status: number) => {
  const l = await requestLine(id);
  expect(l).toBeDefined();
  expect(l!.lane ?? "fetch").toBe(lane);
  if (lane === "fetch") expect(l!.status).toBe(status);
};
const event = JSON.stringify({ type: "market.data_update", payload: { symbol: "BTC/USDT", price: 1 } });

for (const { lane, send } of lanes) {
  test(`${lane} lane: no X-Request-Id: the answer and the request's log line both name the event's id`, async () => {
    for (let i = 0; i < 5; i++) {
      const r = await publish(send, event);
      expect(r.status).toBe(201);
      const { id } = await r.json();
      expect(r.headers.get("x-request-id")).toBe(id);
      await expectLine(id, lane, 201);
    }
  });

  test(`${lane} lane: a refused publish without X-Request-Id (or with an unacceptable one): the answer's id is the one its log line names`, async () => {
    for (const headers of [{}, { "x-request-id": "has spaces in it" }, { "x-request-id": "x".repeat(200) }] as Record<string, string>[]) {
      const r = await publish(send, "{not json", headers);
      expect(r.status).toBe(400);
      const id = r.headers.get("x-request-id")!;
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      await expectLine(id, lane, 400);
    }
  });

  test(`${lane} lane: an acceptable X-Request-Id is kept on success and refusal`, async () => {
    for (const [body, status] of [[event, 201], ["[", 400]] as const) {
      const id = `ev-rid-${lane}-${status}-${crypto.randomUUID()}`;
      const r = await publish(send, body, { "x-request-id": id });
      expect(r.status).toBe(status);
      expect(r.headers.get("x-request-id")).toBe(id);
      await expectLine(id, lane, status);
    }
  });

  test(`${lane} lane: a publisher-chosen event id that is no acceptable request id (CR LF in it) is not written as X-Request-Id: a minted one is`, async () => {
    const id = `evil-${lane}-${crypto.randomUUID()}\r\nx-injected: 1`;
    const r = await publish(send, JSON.stringify({ id, type: "market.data_update", payload: { symbol: "BTC/USDT", price: 1 } }));
    expect(r.status).toBe(201);
    expect((await r.json()).id).toBe(id);
    expect(r.headers.get("x-injected")).toBeNull();
    const rid = r.headers.get("x-request-id")!;
    expect(rid).toMatch(/^[0-9a-f-]{36}$/);
    await expectLine(rid, lane, 201);
  });
}
