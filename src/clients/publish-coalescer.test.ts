/**
 * PublishCoalescer's rules with stand-in senders that record what they were asked to send (the real
 * client against a real events host: plugins/events/test/client-coalesce.test.ts).
 */
import { describe, test, expect } from "bun:test";
import { PublishCoalescer, MAX_GROUP, type BatchResult } from "./publish-coalescer";
import { ServiceError } from "./http";
import type { EventInput } from "../contracts/event-catalog";

const ev = (n: number): EventInput => ({ type: "custom.n", payload: { n } }) as EventInput;
const nOf = (e: EventInput) => (e.payload as { n: number }).n;

function recording(batchAnswer: (bodies: EventInput[]) => Promise<BatchResult>) {
  const sent = { singles: [] as number[], batches: [] as number[][] };
  const c = new PublishCoalescer(
    (body) => { sent.singles.push(nOf(body)); return Promise.resolve({ id: `id-${nOf(body)}`, streamId: `1-${nOf(body)}`, duplicate: false }); },
    (bodies) => { sent.batches.push(bodies.map(nOf)); return batchAnswer(bodies); },
  );
  return { c, sent };
}
const stored = (bodies: EventInput[]): Promise<BatchResult> =>
  Promise.resolve({ count: bodies.length, ids: bodies.map((b) => `id-${nOf(b)}`), streamIds: bodies.map((b) => `1-${nOf(b)}`), duplicate: false });

describe("PublishCoalescer", () => {
  test("one turn's publishes form one batch in call order; a publish alone in its turn goes alone", async () => {
    const { c, sent } = recording(stored);
    const rs = await Promise.all([1, 2, 3].map((n) => c.publish(ev(n))));
    expect(sent.batches).toEqual([[1, 2, 3]]);
    expect(rs.map((r) => r.id)).toEqual(["id-1", "id-2", "id-3"]);
    await c.publish(ev(9));
    expect(sent.singles).toEqual([9]);
  });

  test("a turn with more than MAX_GROUP publishes is cut into batches of MAX_GROUP", async () => {
    const { c, sent } = recording(stored);
    await Promise.all(Array.from({ length: MAX_GROUP * 2 + 3 }, (_, i) => c.publish(ev(i))));
    expect(sent.batches.map((b) => b.length)).toEqual([MAX_GROUP, MAX_GROUP, 3]);
  });

  test("a refusal that is not about the batch's events (401, 5xx after retries) rejects each publish, nothing sent again", async () => {
    for (const err of [new ServiceError(401, "AUTH_ERR_MISSING", "no credential", "header.authorization"), new ServiceError(503, "EV_ERR_STORE_UNAVAILABLE", "down")]) {
      const { c, sent } = recording(() => Promise.reject(err));
      const settled = await Promise.allSettled([1, 2].map((n) => c.publish(ev(n))));
      expect(settled.map((s) => (s as PromiseRejectedResult).reason)).toEqual([err, err]);
      expect(sent.singles).toEqual([]);
    }
  });

  test("a refusal naming one event, or the batch's size: each publish sent again alone", async () => {
    const { c, sent } = recording(() => Promise.reject(new ServiceError(400, "EV_ERR_VALIDATION", "bad", "/events/1/payload")));
    const rs = await Promise.all([1, 2, 3].map((n) => c.publish(ev(n))));
    expect(sent.singles.sort()).toEqual([1, 2, 3]);
    expect(rs.map((r) => r.id)).toEqual(["id-1", "id-2", "id-3"]);
    expect(c.groupCap).toBe(MAX_GROUP);
  });

  test("EV_ERR_BATCH_TOO_LARGE halves the group size for later batches", async () => {
    const limit = 4;
    const { c, sent } = recording((bodies) => (bodies.length > limit ? Promise.reject(new ServiceError(413, "EV_ERR_BATCH_TOO_LARGE", "too many", "body")) : stored(bodies)));
    await Promise.all(Array.from({ length: 20 }, (_, i) => c.publish(ev(i))));
    expect(c.groupCap).toBe(10);
    sent.batches = [];
    await Promise.all(Array.from({ length: 20 }, (_, i) => c.publish(ev(i))));
    expect(c.groupCap).toBe(5);
    await Promise.all(Array.from({ length: 20 }, (_, i) => c.publish(ev(i))));
    expect(c.groupCap).toBe(2);
    sent.batches = [];
    await Promise.all(Array.from({ length: 6 }, (_, i) => c.publish(ev(i))));
    expect(sent.batches).toEqual([[0, 1], [2, 3], [4, 5]]);
  });
});
