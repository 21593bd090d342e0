/**
 * The SSE frame of a delivery (subscribe.ts frame): the untraced frame splices deliveryCount into the
 * event's JSON instead of stringifying a copy; the text must stay what the copy gave, for any event a store
 * hands back (optional fields absent or present, non-ASCII and escapes in the payload, another key order).
 * And the Subscription's loops: a claim in flight never holds back the read of a new entry.
 */
import { describe, expect, test } from "bun:test";
import { frame, Subscription, type SseSink } from "./subscribe";
import type { ClaimResult, Delivery, EventStore, StoredEvent } from "./store/types";
import { createEventMetrics } from "./metrics";
import { createPluginMetrics } from "../../src/core/metrics";
import { createLogger } from "../../src/core/log";

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

// ── Subscription: claims run beside the reads (a new entry never waits for a claim's round trips).


/** A store whose claims answer only when the test says so; reads block until an append, blockMs, or the abort, as a store's do. */
function slowClaimStore() {
  const appended: Delivery[] = [];
  let wakeRead: (() => void) | undefined;
  let claimCalls = 0;
  let answerClaim: ((r: ClaimResult) => void) | undefined;
  let claimAsked!: () => void;
  const claimInFlight = new Promise<void>((r) => (claimAsked = r));
  const store = {
    stream: "s",
    readOwnPending: async () => [],
    ack: async () => 0,
    claimIdle: () => { claimCalls++; claimAsked(); return new Promise<ClaimResult>((r) => (answerClaim = r)); },
    readGroup: (_g: string, _c: string, _n: number, blockMs: number, signal?: AbortSignal) => new Promise<Delivery[]>((resolve) => {
      const take = () => { clearTimeout(timer); wakeRead = undefined; resolve(appended.splice(0)); };
      const timer = setTimeout(take, blockMs);
      if (appended.length > 0 || signal?.aborted) return take();
      wakeRead = take;
      signal?.addEventListener("abort", take, { once: true });
    }),
  } as unknown as EventStore;
  return {
    store, claimInFlight,
    claimCalls: () => claimCalls,
    append(d: Delivery) { appended.push(d); wakeRead?.(); },
    answerClaim(r: ClaimResult) { answerClaim!(r); },
  };
}

/** A sink that records what was written and resolves `wrote(text)` once some write contains it. */
function recordingSink() {
  let out = "";
  const waiters: { text: string; resolve: () => void }[] = [];
  const sink: SseSink = {
    write(text) { out += text; for (const w of waiters) if (out.includes(w.text)) w.resolve(); },
    behind: () => undefined,
    end() {},
  };
  const wrote = (text: string) => new Promise<void>((resolve) => { if (out.includes(text)) resolve(); else waiters.push({ text, resolve }); });
  return { sink, wrote, text: () => out };
}

describe("Subscription", () => {
  test("an entry appended while a claim is in flight is delivered before the claim answers", async () => {
    const s = slowClaimStore();
    const metrics = createEventMetrics(createPluginMetrics("events"));
    const sub = new Subscription(s.store, { group: "g", consumer: "c", batch: 10, visibilityMs: 200, maxDeliveries: 5, heartbeatMs: 60_000, blockMs: 1000 }, metrics, createLogger({ level: "error", sink: () => {} }), () => {});
    const r = recordingSink();
    sub.start(r.sink);
    try {
      await s.claimInFlight; // the claim interval (50 ms here) came round; its answer is held back
      s.append({ event: { ...base, streamId: "9-1" }, deliveryCount: 1 });
      // Before: the loop awaited the claim before its next read, so this never arrived while the claim was held.
      const fresh = await Promise.race([r.wrote("id: 9-1\n").then(() => true), Bun.sleep(3000).then(() => false)]);
      expect(fresh).toBe(true);
      expect(s.claimCalls()).toBe(1);
      // The claim's answer still goes out, as a redelivery.
      s.answerClaim({ deliveries: [{ event: { ...base, streamId: "8-1" }, deliveryCount: 2 }], deadLettered: [] });
      await r.wrote("id: 8-1\n");
      expect(r.text()).toContain('"deliveryCount":2}');
    } finally {
      sub.close();
    }
  });
});
