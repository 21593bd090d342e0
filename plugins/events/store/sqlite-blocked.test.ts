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
