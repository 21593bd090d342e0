/** The embedded store's group commit (sqlite-append.ts): callback appends, and when a commit waits a turn for more. */
import { afterAll, expect, spyOn, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../../test/support/harness";
import { newEvent } from "./conformance";
import { createEmbeddedFactory } from "./sqlite-store";
import type { AppendDone, AppendResult, EventStore } from "./types";

const dir = tempDir("tradpal-events-append-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const open = () => createEmbeddedFactory({ file: join(dir, `a-${n++}.db`), sync: "normal", trim: { maxLen: 0, maxAgeMs: 0 } });
const turn = () => new Promise<void>((r) => setImmediate(r));

/** An AppendDone that records when (in `log` order) and with what it was settled. */
function recorder(log: string[], name: string) {
  const out: { r?: AppendResult; err?: unknown } = {};
  const done: AppendDone = { stored(r) { out.r = r; log.push(name); }, failed(err) { out.err = err; log.push(name); } };
  return { done, out };
}

async function settled(log: string[], count: number) {
  for (let i = 0; i < 50 && log.length < count; i++) await turn();
  expect(log.length).toBe(count);
}

test("embedded: appendTo answers through the callback object after the commit, and a callback that throws costs no other append its answer", async () => {
  const f = open();
  const s = f.open("cb") as EventStore;
  expect(typeof s.appendTo).toBe("function");
  const log: string[] = [];
  const a = recorder(log, "a");
  const boom: AppendDone = { stored() { log.push("boom"); throw new Error("a broken callback"); }, failed() { log.push("boom failed"); } };
  const c = recorder(log, "c");
  const thrown: unknown[] = [];
  const spy = spyOn(console, "error").mockImplementation((_msg: unknown, err: unknown) => { thrown.push(err); });
  try {
    const events = [newEvent(), newEvent()];
    s.appendTo!(events, { dedupWindowMs: 0 }, a.done);
    s.appendTo!([newEvent()], { dedupWindowMs: 0 }, boom);
    s.appendTo!([newEvent()], { dedupWindowMs: 0 }, c.done);
    expect(log).toEqual([]); // nothing answered before the commit
    await settled(log, 3);
    await turn();
    expect(log).toEqual(["a", "boom", "c"]);
    expect(a.out.r!.streamIds.length).toBe(2);
    expect(c.out.r!.streamIds.length).toBe(1);
    expect((thrown[0] as Error)?.message).toBe("a broken callback"); // reported, not swallowed
    // Committed: the rows are there.
    expect((await s.read({ limit: 10 })).events.map((e) => e.id).slice(0, 2)).toEqual(events.map((e) => e.id));
  } finally {
    spy.mockRestore();
    await f.close();
  }
});

test("embedded: after a commit of several appends the next one waits one turn and takes that turn's appends too; after a lone append it does not wait", async () => {
  const f = open();
  const s = f.open("busy");
  const log: string[] = [];
  // The turn each append is answered in: appends of one commit are answered in the same turn, in order.
  let tick = 0;
  let ticking = true;
  const ticker = () => { tick++; if (ticking) setImmediate(ticker); };
  setImmediate(ticker);
  const at = new Map<string, number>();
  const timed = (name: string): AppendDone => {
    const r = recorder(log, name).done;
    return { stored(x) { at.set(name, tick); r.stored(x); }, failed(e) { at.set(name, tick); r.failed(e); } };
  };
  try {
    // A lone append (the last commit carried one): committed in the next turn, before an append made then.
    const t0 = tick;
    s.appendTo!([newEvent()], { dedupWindowMs: 0 }, timed("lone"));
    setImmediate(() => s.appendTo!([newEvent()], { dedupWindowMs: 0 }, timed("after lone")));
    await settled(log, 2);
    expect(log).toEqual(["lone", "after lone"]);
    expect(at.get("lone")! - t0).toBeLessThanOrEqual(2); // committed in the next turn: a lone commit does not wait
    expect(at.get("after lone")).toBeGreaterThan(at.get("lone")!); // its own commit

    // A busy commit: four appends in one turn.
    for (let i = 0; i < 4; i++) s.appendTo!([newEvent()], { dedupWindowMs: 0 }, recorder(log, `busy ${i}`).done);
    await settled(log, 6);

    // Now the next commit waits a turn: the append of the following turn joins it (one commit, answered together).
    s.appendTo!([newEvent()], { dedupWindowMs: 0 }, timed("first"));
    let joined = false;
    setImmediate(() => { joined = true; s.appendTo!([newEvent()], { dedupWindowMs: 0 }, timed("joined")); });
    await turn();
    expect(joined).toBe(true);
    expect(log.length).toBe(6); // not committed yet
    await settled(log, 8);
    expect(log.slice(6)).toEqual(["first", "joined"]);
    expect(at.get("joined")).toBe(at.get("first")!); // one commit
  } finally {
    ticking = false; // the ticker stops even when an expectation failed
    await f.close();
  }
});

test("embedded: a commit that delivered nothing answers its publishers in its own turn", async () => {
  const f = open();
  const s = f.open("prompt");
  const log: string[] = [];
  s.appendTo!([newEvent()], { dedupWindowMs: 0 }, recorder(log, "answered").done);
  await turn(); // the commit's turn
  expect(log).toEqual(["answered"]);
  await f.close();
});

test("embedded: a blocked subscriber's delivery is handed over before the publishers of its commit are answered", async () => {
  const f = open();
  const s = f.open("order") as EventStore;
  await s.ensureGroup("g", "$");
  const log: string[] = [];
  const read = s.readGroup("g", "c", 10, 5000).then((d) => { log.push(`delivered ${d.length}`); });
  await turn(); // the reader waits
  s.appendTo!([newEvent()], { dedupWindowMs: 0 }, recorder(log, "answered").done);
  await read;
  await settled(log, 2);
  expect(log).toEqual(["delivered 1", "answered"]);
  await f.close();
});

test("embedded: an append made by a commit's callback goes to the next commit; a key repeated within one commit is answered from its first use", async () => {
  const f = open();
  const s = f.open("reentrant");
  const log: string[] = [];
  const inner = recorder(log, "inner");
  const outer: AppendDone = {
    stored() { log.push("outer"); s.appendTo!([newEvent()], { dedupWindowMs: 0 }, inner.done); },
    failed() { log.push("outer failed"); },
  };
  s.appendTo!([newEvent()], { dedupWindowMs: 0 }, outer);
  await settled(log, 2);
  expect(log).toEqual(["outer", "inner"]);
  expect(inner.out.r!.streamIds.length).toBe(1);

  // Keys A, B, A, C in one commit: the second A replays the first; B and C are stored.
  const keyed = (key: string, name: string) => { const r = recorder(log, name); s.appendTo!([newEvent()], { dedupWindowMs: 60_000, idempotencyKey: key, requestDigest: "d" }, r.done); return r; };
  const [a1, b, a2, c] = [keyed("A", "a1"), keyed("B", "b"), keyed("A", "a2"), keyed("C", "c")];
  await settled(log, 6);
  expect([a1.out.r!.duplicate, b.out.r!.duplicate, a2.out.r!.duplicate, c.out.r!.duplicate]).toEqual([false, false, true, false]);
  expect(a2.out.r!.streamIds).toEqual(a1.out.r!.streamIds);
  expect(new Set([a1, b, c].map((x) => x.out.r!.streamIds[0])).size).toBe(3);
  expect((await s.stats()).length).toBe(5);
  await f.close();
});
