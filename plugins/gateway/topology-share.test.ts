import { describe, expect, test } from "bun:test";
import { Topology } from "./topology";
import { mergeCounts, SHARE_TTL_MS, type TopologyStore } from "./topology-share";

/** A store in memory, as the Redis hash behaves (fields by process id). */
function memoryStore(): TopologyStore & { fields: Map<string, string>; fail: boolean } {
  const s = {
    fields: new Map<string, string>(), fail: false,
    async put(id: string, json: string) { if (s.fail) throw new Error("down"); s.fields.set(id, json); },
    async all() { if (s.fail) throw new Error("down"); return new Map(s.fields); },
    async drop(ids: string[]) { for (const id of ids) s.fields.delete(id); },
  };
  return s;
}

const T0 = 1_700_000_000_000;

describe("topology shared between gateway processes", () => {
  test("edges of the same caller → route → service → instance add up, latency buckets too", () => {
    const a = new Topology(60), b = new Topology(60);
    for (let i = 0; i < 3; i++) a.record("10.0.0.1", "quotes", "quotes", "http://q:1", 200, 3, T0);
    b.record("10.0.0.1", "quotes", "quotes", "http://q:1", 500, 700, T0);
    b.record("10.0.0.2", "orders", "orders", "http://o:1", 200, 1, T0);
    const merged = mergeCounts([a.windowed(T0), b.windowed(T0)]);
    expect(merged).toHaveLength(2);
    const quotes = merged.find((e) => e.route === "quotes")!;
    expect(quotes).toMatchObject({ requests: 4, errors: 1, total: 4, total_errors: 1 });
    expect(quotes.hist.reduce((x, y) => x + y, 0)).toBe(4);
    // Inputs untouched (a process's own counts are not changed by merging).
    expect(a.windowed(T0)[0].requests).toBe(3);
  });

  test("GET /topology's view: this process's edges now plus the others' last published; a stale or own field is skipped", async () => {
    const store = memoryStore();
    const a = new Topology(60), b = new Topology(60);
    const shareA = a.shareVia(store), shareB = b.shareVia(store);
    a.record("10.0.0.1", "quotes", "quotes", "http://q:1", 200, 3, T0);
    b.record("10.0.0.1", "quotes", "quotes", "http://q:1", 200, 3, T0);
    b.record("10.0.0.9", "orders", "orders", "http://o:1", 503, 30, T0);
    await shareA.publish(T0);
    await shareB.publish(T0);
    store.fields.set("dead-process", JSON.stringify({ at: T0 - SHARE_TTL_MS - 1, edges: [{ caller: "ghost", route: "x", service: "x", instance: "x", requests: 9, errors: 0, hist: [9], total: 9, total_errors: 0 }] }));
    const view = await a.merged(T0 + 1000);
    expect(view.shared).toBe("redis");
    expect(view.sources!.map((s) => s.id).sort()).toEqual([shareA.id, shareB.id].sort());
    expect(view.edges.find((e) => e.route === "quotes")).toMatchObject({ requests: 2, errors: 0 });
    expect(view.edges.find((e) => e.route === "orders")).toMatchObject({ caller: "10.0.0.9", requests: 1, errors: 1, error_ratio: 1 });
    expect(view.edges.some((e) => e.caller === "ghost")).toBe(false);
    await Bun.sleep(0);
    expect(store.fields.has("dead-process")).toBe(false); // the reader cleaned it up
    await a.close();
    await b.close();
    expect(store.fields.size).toBe(0); // a closed process takes its edges out
  });

  test("store unreachable: this process's graph, marked", async () => {
    const store = memoryStore();
    const a = new Topology(60);
    a.shareVia(store);
    a.record("10.0.0.1", "quotes", "quotes", "http://q:1", 200, 3, T0);
    store.fail = true;
    const view = await a.merged(T0);
    expect(view.shared).toBe("unavailable");
    expect(view.edges).toHaveLength(1);
    await a.close();
  });

  test("not shared (embedded mode): the process's own snapshot", async () => {
    const a = new Topology(60);
    a.record("10.0.0.1", "quotes", "quotes", "http://q:1", 200, 3, T0);
    expect(await a.merged(T0)).toEqual(a.snapshot(T0));
  });
});
