/**
 * The SSE frame of a delivery (subscribe.ts frame): the untraced frame splices deliveryCount into the
 * event's JSON instead of stringifying a copy; the text must stay what the copy gave, for any event a store
 * hands back (optional fields absent or present, non-ASCII and escapes in the payload, another key order).
 */
import { describe, expect, test } from "bun:test";
import { frame } from "./subscribe";
import type { Delivery, StoredEvent } from "./store/types";

/** The frame as it was built before: a copy of the event with deliveryCount (and a traceparent) added. */
function copyFrame(d: Delivery, traceparent?: string): string {
  const e = d.event;
  const data = traceparent === undefined ? { ...e, deliveryCount: d.deliveryCount } : { ...e, traceparent, deliveryCount: d.deliveryCount };
  return `id: ${e.streamId}\nevent: ${e.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

const base: StoredEvent = { id: "e-1", streamId: "1700000000000-0", type: "market.data_update", source: "s", time: "2026-01-01T00:00:00.000Z", correlationId: "c", schemaVersion: 1, payload: { symbol: "BTC/USDT", price: 97000.5 } };
const events: StoredEvent[] = [
  base,
  { ...base, traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
  { ...base, payload: { note: "é — \u2028 \"quoted\" \\ back", nested: { a: [1, null, true] } } },
  { ...base, payload: {} },
  { payload: { x: 1 }, type: "custom.order", streamId: "5-3", id: "e-2", time: base.time, source: "", correlationId: "", schemaVersion: 2 } as StoredEvent,
];

describe("frame", () => {
  test("the untraced frame is the text of the event's copy with deliveryCount", () => {
    for (const event of events) for (const n of [1, 2, 17]) expect(frame({ event, deliveryCount: n })).toBe(copyFrame({ event, deliveryCount: n }));
  });

  test("a delivery span's traceparent replaces the stored one", () => {
    const tp = "00-11111111111111111111111111111111-2222222222222222-01";
    for (const event of events) expect(frame({ event, deliveryCount: 3 }, tp)).toBe(copyFrame({ event, deliveryCount: 3 }, tp));
  });

  test("the data line parses back to the event with its delivery count", () => {
    const data = frame({ event: events[2], deliveryCount: 4 }).split("\n")[2].slice("data: ".length);
    expect(JSON.parse(data)).toEqual({ ...events[2], deliveryCount: 4 });
  });
});
