/** Blocked group reads of the embedded store served inside the append's transaction (sqlite-blocked.ts). */
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../../test/support/harness";
import { newEvent } from "./conformance";
import { createEmbeddedFactory } from "./sqlite-store";
import { BlockedReads } from "./sqlite-blocked";
import { notifyAppend } from "./wakeup";
import type { Delivery } from "./types";

const dir = tempDir("tradpal-events-blocked-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a blocked read is served by the append's own transaction: delivered and pending when the publish is acknowledged", async () => {
  const f = createEmbeddedFactory({ file: join(dir, "served.db"), sync: "normal", trim: { maxLen: 0, maxAgeMs: 0 } });
  try {
    const s = f.open("served");
    await s.ensureGroup("g", "$");
    await s.readGroup("g", "c", 10, 0); // the consumer is seen: its next read blocks on the probe
    const read = s.readGroup("g", "c", 10, 2000);
    await Bun.sleep(20);
    const r = await s.append([newEvent("custom.x", { n: 1 })], { dedupWindowMs: 0 });
    // Read at once (stats() queries synchronously): with a read of its own after the wake-up, the entry
    // would not be pending yet.
    expect((await s.stats()).groups.find((g) => g.name === "g")!.pending).toBe(1);
    expect((await read).map((d) => d.event.streamId)).toEqual(r.streamIds);
    expect(await s.readGroup("g", "c", 10, 0)).toEqual([]); // delivered once
  } finally { await f.close(); }
});

test("reads made in a transaction that rolled back are never handed over; a gone group is left to the reader", async () => {
  const b = new BlockedReads("blocked-unit");
  const d: Delivery[] = [{ event: newEvent() as never, deliveryCount: 1 }];
  const first = b.wait("g", "c", 10, 1000);
  b.readInTx(() => d);
  b.rolledBack();
  notifyAppend("blocked-unit");
  expect(await first).toBeNull(); // woken, not served: it reads for itself
  const second = b.wait("g", "c", 10, 1000);
  b.readInTx(() => { throw new Error("NOGROUP no such group g"); });
  b.committed();
  notifyAppend("blocked-unit");
  expect(await second).toBeNull();
  const third = b.wait("g", "c", 10, 1000);
  b.readInTx(() => d);
  b.committed();
  notifyAppend("blocked-unit");
  expect(await third).toBe(d);
  b.wait("g", "c", 10, 1000).catch(() => {});
  expect(() => b.readInTx(() => { throw new Error("disk I/O error"); })).toThrow("disk I/O error"); // fails the append's transaction
  b.rolledBack();
  notifyAppend("blocked-unit");
});

test("a wait given its own read: woken unserved it reads then, past its time it reads once, aborted it reads nothing", async () => {
  const b = new BlockedReads("blocked-own-read");
  const d: Delivery[] = [{ event: newEvent() as never, deliveryCount: 1 }];
  const reads: string[] = [];
  const own = (g: string, c: string, n: number) => { reads.push(`${g}/${c}/${n}`); return d; };
  const ac = new AbortController();
  // Woken by an append that read nothing for it: its own read, made at the wake-up.
  const woken = b.wait("g", "c", 5, 10_000, ac.signal, own);
  notifyAppend("blocked-own-read");
  expect(await woken).toBe(d);
  expect(reads).toEqual(["g/c/5"]);
  // The same subscription's next wait (its reader reused): past its time it reads once, not at the 10 s of the first.
  const t0 = Date.now();
  expect(await b.wait("g", "c", 7, 150, ac.signal, own)).toBe(d);
  expect(Date.now() - t0).toBeLessThan(2000);
  expect(reads).toEqual(["g/c/5", "g/c/7"]);
  // Served by the append's transaction: what it read, no read of its own.
  const served = b.wait("g", "c", 5, 10_000, ac.signal, own);
  b.readInTx(() => d);
  b.committed();
  notifyAppend("blocked-own-read");
  expect(await served).toBe(d);
  expect(reads.length).toBe(2);
  // A read of its own that fails rejects the wait (and nothing else).
  const failing = b.wait("g", "c", 5, 10_000, ac.signal, () => { throw new Error("SQLITE_BUSY"); });
  notifyAppend("blocked-own-read");
  expect(await failing.then(() => null, (e: Error) => e.message)).toBe("SQLITE_BUSY");
  // Aborted while waiting: [] at once, and a later append's transaction reads nothing for it.
  const gone = b.wait("g", "c", 5, 10_000, ac.signal, own);
  ac.abort();
  expect(await gone).toEqual([]);
  let readFor = 0;
  b.readInTx(() => { readFor++; return d; });
  b.committed();
  expect(readFor).toBe(0);
  expect(reads.length).toBe(2);
});
