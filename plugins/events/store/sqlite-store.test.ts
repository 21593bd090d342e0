/** The conformance suite against the embedded bun:sqlite store (temp database file). */
import { afterAll, test, expect } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../../test/support/harness";
import { eventStoreConformance, newEvent } from "./conformance";
import { createEmbeddedFactory } from "./sqlite-store";

const dir = tempDir("tradpal-events-sqlite-");
let i = 0;
eventStoreConformance("embedded (bun:sqlite)", (trim) => createEmbeddedFactory({ file: join(dir, `events-${i++}.db`), sync: "normal", trim }));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("embedded: trimming a backlog larger than one step, by length and by age, keeps counts right", async () => {
  const f = createEmbeddedFactory({ file: join(dir, "trim-steps.db"), sync: "normal", trim: { maxLen: 100, maxAgeMs: 0 } });
  const s = f.open("steps");
  for (let i = 0; i < 5; i++) await s.append(Array.from({ length: 1000 }, (_, j) => newEvent(j % 2 ? "custom.odd" : "custom.even", { j })), { dedupWindowMs: 0 });
  expect(await s.trim()).toBe(4900);
  const st = await s.stats();
  expect(st.length).toBe(100);
  expect(st.trimmed).toBe(4900);
  expect(st.perType).toEqual({ "custom.odd": 50, "custom.even": 50 });
  const page = await s.read({ limit: 1000 });
  expect(page.events.length).toBe(100);
  expect(page.events[0].streamId).toBe(st.firstId!);

  const aged = createEmbeddedFactory({ file: join(dir, "trim-age.db"), sync: "normal", trim: { maxLen: 0, maxAgeMs: 50 } });
  const a = aged.open("aged");
  await a.append(Array.from({ length: 3000 }, () => newEvent()), { dedupWindowMs: 0 });
  await Bun.sleep(80);
  const fresh = await a.append([newEvent()], { dedupWindowMs: 0 });
  expect(await a.trim()).toBe(3000);
  expect((await a.stats()).firstId).toBe(fresh.streamIds[0]);
  await f.close();
  await aged.close();
});
