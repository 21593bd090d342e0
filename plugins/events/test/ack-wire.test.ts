/**
 * POST /events/ack on both lanes, same answers: the raw lane (ack.ts createAckWire) takes a body that came
 * whole with its head; the fetch lane (the Elysia route) the same bytes sent head first and body a moment
 * later. Status, coded error, content-type, connection and the X-Request-Id rule must match, and the host's
 * debug line must name the lane that answered (so the comparison cannot pass with both on one lane).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type TestHost } from "../../../test/support/harness";
import { RawConn, type RawResponse } from "../../../test/support/raw-http";
import { openSse, backends, startEvents, type EventsHost, laneAnswer, laneOfRequest } from "./support";

const J = JSON.stringify;
const nest = (n: number): unknown => (n <= 1 ? { v: 1 } : { v: nest(n - 1) });


for (const b of backends) {
  describe(`POST /events/ack on both lanes (${b.name})`, () => {
    let h: EventsHost;
    let t: TestHost;
    let port = 0;
    beforeAll(async () => {
      h = await startEvents(b.redis, `ackwire_${b.name}`, { logLevel: "debug", settings: "max_event_size: 4kb, max_depth: 8" });
      ({ t, port } = h);
    });
    afterAll(() => h?.stop());

    const laneOf = (rid: string | null) => laneOfRequest(t, rid);

    /** One ack on `lane`: "wire" sends head and body in one write, "fetch" the head first. */
    async function ack(lane: string, body: string, rid: string | undefined): Promise<RawResponse> {
      const head = `POST /events/ack HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${rid ? `x-request-id: ${rid}\r\n` : ""}\r\n`;
      const c = await RawConn.open(port);
      try {
        if (lane === "wire" || body === "") return await c.request(head + body, { method: "POST" });
        await c.write(head);
        await Bun.sleep(15); // the body after the head: not whole with it, so the fetch lane answers
        return await c.request(body, { method: "POST" });
      } finally { c.terminate(); }
    }

    test("every case answers alike on both lanes; acks ack", async () => {
      // Two delivered, unacked events per lane to ack for real.
      const sse = await openSse(`${t.url("events")}/events/subscribe?group=acks&consumer=c&types=custom.ack`);
      const pub = await fetch(`${t.url("events")}/events`, { method: "POST", headers: { "content-type": "application/json" }, body: J({ events: [1, 2, 3, 4].map((n) => ({ type: "custom.ack", payload: { n } })) }) });
      expect(pub.status).toBe(201);
      await sse.waitFor(4);
      const ids = sse.events.map((e) => e.id);
      const cases: [string, (lane: string) => string][] = [
        ["acks two delivered events", (lane) => J({ group: "acks", ids: lane === "wire" ? ids.slice(0, 2) : ids.slice(2) })],
        ["unknown ids ack nothing", () => J({ group: "acks", ids: ["1-1"] })],
        ["no group", () => J({ ids: ["1-1"] })],
        ["bad group name", () => J({ group: "a b", ids: ["1-1"] })],
        ["bad replay name", () => J({ group: "acks", replay: "no pe", ids: ["1-1"] })],
        ["ids not an array", () => J({ group: "acks", ids: "1-1" })],
        ["ids empty", () => J({ group: "acks", ids: [] })],
        ["a bad id named by index", () => J({ group: "acks", ids: ["1-1", "nope"] })],
        ["not an object", () => "42"],
        ["bad JSON", () => "{nope"],
        ["empty body", () => ""],
        ["too deep", () => J({ group: "acks", ids: ["1-1"], x: nest(9) })],
        ["over max_event_size", () => J({ group: "acks", ids: Array.from({ length: 400 }, (_, i) => `1-${i}`) })],
      ];
      for (const [i, [name, bodyOf]] of cases.entries()) {
        const answers: ReturnType<typeof laneAnswer>[] = [];
        for (const lane of ["wire", "fetch"]) {
          const rid = i % 2 ? `aw-${lane}-${i}-${crypto.randomUUID().slice(0, 8)}` : undefined;
          const r = await ack(lane, bodyOf(lane), rid);
          answers.push(laneAnswer(r, rid));
          // An empty body is whole with any head: both sends take the raw lane.
          expect([name, await laneOf(r.header("x-request-id"))]).toEqual([name, name === "empty body" ? "wire" : lane]);
        }
        expect([name, answers[0]]).toEqual([name, answers[1]]);
        if (i === 0) expect(answers[0].body).toEqual({ acked: 2 });
      }
      const stats = await (await fetch(`${t.url("events")}/events/stats`)).json();
      expect(stats.groups.find((g: { name: string }) => g.name === "acks").pending).toBe(0);
      sse.close();
    });
  });
}
