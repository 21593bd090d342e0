/**
 * The embedded store's dedup records (sqlite-idem.ts) across restarts and over time: a repeat after the
 * store was closed and reopened on the same file is still answered with the first ids (or refused as a
 * conflict), records of the version before (the `idem` table) still count, one group commit that uses a
 * key twice stores once, and expired records leave memory and the table (memory bounded by the window).
 */
import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../../test/support/harness";
import { newEvent } from "./conformance";
import { createEmbeddedFactory } from "./sqlite-store";
import { IdempotencyConflictError } from "../idempotency";

const dir = tempDir("tradpal-events-idem-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const open = (file: string) => createEmbeddedFactory({ file: join(dir, file), sync: "normal", trim: { maxLen: 0, maxAgeMs: 0 } });
const W = { dedupWindowMs: 60_000 };
const rowsOf = (file: string, sql: string) => { const db = new Database(join(dir, file), { readonly: true }); try { return (db.query(sql).get() as { n: number }).n; } finally { db.close(); } };

test("a repeated key after a restart answers the first ids; another body is still a conflict; nothing new is stored", async () => {
  let f = open("restart.db");
  let s = f.open("restart");
  const keys = Array.from({ length: 300 }, (_, i) => `restart-${i}`);
  const first = await Promise.all(keys.map((k) => s.append([newEvent(), newEvent()], { ...W, idempotencyKey: k, requestDigest: `d-${k}` })));
  const byId = newEvent();
  const firstById = await s.append([byId], { ...W, dedupById: true });
  const length = (await s.stats()).length;
  await f.close();

  f = open("restart.db");
  s = f.open("restart");
  const again = await Promise.all(keys.map((k) => s.append([newEvent(), newEvent()], { ...W, idempotencyKey: k, requestDigest: `d-${k}` })));
  for (let i = 0; i < keys.length; i++) {
    expect(again[i].duplicate).toBe(true);
    expect(again[i].streamIds).toEqual(first[i].streamIds);
  }
  const conflict = await s.append([newEvent()], { ...W, idempotencyKey: keys[7], requestDigest: "another body" }).catch((e) => e);
  expect(conflict).toBeInstanceOf(IdempotencyConflictError);
  expect((conflict as IdempotencyConflictError).original.s).toEqual(first[7].streamIds);
  expect((await s.append([byId], { ...W, dedupById: true })).streamIds).toEqual(firstById.streamIds);
  expect((await s.stats()).length).toBe(length);
  await f.close();
});

test("records written by the version before (the idem table) are honoured after the upgrade", async () => {
  let f = open("upgrade.db");
  let s = f.open("up");
  await s.append([newEvent()], W); // creates the tables
  await f.close();
  const db = new Database(join(dir, "upgrade.db"));
  db.query("INSERT INTO idem (stream, key, ids, expires) VALUES (?, ?, ?, ?)").run("up", "k:old-key", JSON.stringify({ d: "dig", e: ["ev-1"], s: ["1-1"] }), Date.now() + 60_000);
  db.close();
  f = open("upgrade.db");
  s = f.open("up");
  const r = await s.append([newEvent()], { ...W, idempotencyKey: "old-key", requestDigest: "dig" });
  expect(r).toMatchObject({ duplicate: true, streamIds: ["1-1"], eventIds: ["ev-1"] });
  expect(await s.append([newEvent()], { ...W, idempotencyKey: "old-key", requestDigest: "other" }).catch((e) => e)).toBeInstanceOf(IdempotencyConflictError);
  await f.close();
});

test("one group commit using a key twice (and plain appends around it) stores the keyed event once", async () => {
  const f = open("same-turn.db");
  const s = f.open("turn");
  const rs = await Promise.all([
    s.append([newEvent()], W),
    s.append([newEvent()], { ...W, idempotencyKey: "twice", requestDigest: "x" }),
    s.append([newEvent()], W),
    s.append([newEvent()], { ...W, idempotencyKey: "twice", requestDigest: "x" }),
    s.append([newEvent()], { ...W, idempotencyKey: "twice", requestDigest: "y" }).catch((e) => e),
  ]);
  expect(rs[1]).toMatchObject({ duplicate: false });
  expect(rs[3]).toMatchObject({ duplicate: true, streamIds: (rs[1] as any).streamIds });
  expect(rs[4]).toBeInstanceOf(IdempotencyConflictError);
  expect((await s.stats()).length).toBe(3);
  await f.close();
});

test("expired records leave memory and the table at trim: memory is bounded by the window, not by history", async () => {
  const f = open("expiry.db");
  const s = f.open("exp");
  const idem = (s as unknown as { idem: { size: number } }).idem;
  for (let round = 0; round < 5; round++) {
    await Promise.all(Array.from({ length: 200 }, (_, i) => s.append([newEvent()], { dedupWindowMs: 40, idempotencyKey: `exp-${round}-${i}` })));
    await s.append([newEvent()], { dedupWindowMs: 40, dedupById: true });
    expect(idem.size).toBe(201);
    await Bun.sleep(60);
    await s.trim();
    expect(idem.size).toBe(0);
  }
  expect(rowsOf("expiry.db", "SELECT count(*) AS n FROM idem_log")).toBe(0);
  // A key whose record expired is new again.
  expect((await s.append([newEvent()], { ...W, idempotencyKey: "exp-0-0" })).duplicate).toBe(false);
  // A live record survives the trim, in memory and on disk.
  await s.trim();
  expect(idem.size).toBe(1);
  expect(rowsOf("expiry.db", "SELECT count(*) AS n FROM idem_log")).toBe(1);
  await f.close();
});
