import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { withFileLock } from "./file-lock";

const dir = mkdtempSync(join(tmpdir(), "file-lock-"));

test("holders never overlap: 20 concurrent callers run one at a time and the lock file is gone after", async () => {
  const lock = join(dir, "a.lock");
  let inside = 0;
  let maxInside = 0;
  await Promise.all(Array.from({ length: 20 }, () => withFileLock(lock, async () => {
    inside++; maxInside = Math.max(maxInside, inside);
    await Bun.sleep(2);
    inside--;
  })));
  expect(maxInside).toBe(1);
  expect(existsSync(lock)).toBe(false);
});

test("a lock left by a dead process is taken over at once", async () => {
  const lock = join(dir, "b.lock");
  const dead = Bun.spawnSync(["true"]).pid; // exited: its pid names no live process (until reused)
  writeFileSync(lock, String(dead));
  expect(await withFileLock(lock, async () => 42, { waitMs: 1_000, staleMs: 600_000 })).toBe(42); // not by age: by the dead pid
});

test("a live holder makes a waiter time out with a clear error, and the holder's lock survives", async () => {
  const lock = join(dir, "c.lock");
  writeFileSync(lock, String(process.pid));
  await expect(withFileLock(lock, async () => 1, { waitMs: 100 })).rejects.toThrow(/timed out waiting for the lock/);
  expect(existsSync(lock)).toBe(true);
  rmSync(lock);
});

test("the lock is released when the work throws", async () => {
  const lock = join(dir, "d.lock");
  await expect(withFileLock(lock, async () => { throw new Error("boom"); })).rejects.toThrow("boom");
  expect(existsSync(lock)).toBe(false);
});
