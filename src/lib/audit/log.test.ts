/**
 * whenSynced(): the callback form of synced() the raw lane answers through. It is called at once when
 * nothing is queued, only after the batch holding the caller's line is in the file, with the error when
 * that write failed (the lines then stay queued and a later call sees them written).
 */
import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAuditLog } from "./log";
import { verifyLog } from "./verify";

const tmpLog = () => join(mkdtempSync(join(tmpdir(), "audit-log-")), "audit.log");
const whos = (file: string) => readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => (JSON.parse(l) as { who: string }).who);
const settled = (log: ReturnType<typeof createAuditLog>) => new Promise<unknown>((resolve) => log.whenSynced((err) => resolve(err ?? "written")));

test("whenSynced: at once when nothing is queued, else after the line is in the file", async () => {
  const file = tmpLog();
  const log = createAuditLog(file, true);
  let now = false;
  log.whenSynced(() => { now = true; });
  expect(now).toBe(true);
  log.append({ who: "a", action: "x", outcome: "ok" });
  const seen: string[][] = [];
  log.whenSynced((err) => { expect(err).toBeUndefined(); seen.push(whos(file)); });
  log.whenSynced(() => seen.push(whos(file)));
  expect(seen).toEqual([]); // not before the batch is written
  await log.synced();
  expect(seen).toEqual([["a"], ["a"]]);
  log.close();
});

test("whenSynced: a failed batch reports its error to every waiter; the lines stay queued and the next try writes them", async () => {
  const file = tmpLog();
  const log = createAuditLog(file, true);
  log.append({ who: "a", action: "x", outcome: "ok" });
  expect(await settled(log)).toBe("written");
  renameSync(file, `${file}.saved`);
  mkdirSync(file);
  log.append({ who: "b", action: "x", outcome: "ok" });
  const outcomes = await Promise.all([settled(log), settled(log)]);
  expect(outcomes.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(["EISDIR", "EISDIR"]);
  expect(log.queued).toBe(true);
  rmdirSync(file);
  renameSync(`${file}.saved`, file);
  expect(await settled(log)).toBe("written");
  expect(whos(file)).toEqual(["a", "b"]);
  expect(verifyLog(file, undefined)).toMatchObject({ ok: true, lines: 2 });
  log.close();
});

test("whenSynced: a waiter that throws does not keep the others waiting", async () => {
  const log = createAuditLog(tmpLog(), true);
  log.append({ who: "a", action: "x", outcome: "ok" });
  log.whenSynced(() => { throw new Error("caller bug"); });
  expect(await settled(log)).toBe("written");
  log.close();
});
