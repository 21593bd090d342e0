/**
 * The audit log's writer on real files: the descriptor stays open across batches, a moved, deleted or
 * replaced log is reopened at its path, a batch that cannot be written fails (fail closed) and is
 * written by the next try, and a line acknowledged (synced) is in the file even if the process is killed.
 */
import { expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmdirSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAuditLog } from "./log";
import { verifyChain } from "./chain";
import { verifyLog } from "./verify";

const tmpLog = () => join(mkdtempSync(join(tmpdir(), "audit-app-")), "audit.log");
const lines = (file: string) => readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { who: string; seq: number });
/** Descriptors of this process open on `file`. */
const openOn = (file: string) => readdirSync("/proc/self/fd").filter((fd) => { try { return readlinkSync(`/proc/self/fd/${fd}`) === file; } catch { return false; } }).length;

test("the log file stays open between batches (one write per batch, no open/close)", async () => {
  const file = tmpLog();
  const log = createAuditLog(file, true);
  for (let i = 0; i < 3; i++) {
    log.append({ who: `w${i}`, action: "x", outcome: "ok" });
    await log.synced();
    expect(openOn(file)).toBe(1);
  }
  log.close();
  expect(openOn(file)).toBe(0);
  expect(verifyLog(file, undefined)).toMatchObject({ ok: true, lines: 3 });
});

test("a log moved away (rotation) or deleted is reopened at its path: no line goes to the old file", async () => {
  const file = tmpLog();
  const log = createAuditLog(file, true);
  log.append({ who: "a", action: "x", outcome: "ok" });
  await log.synced();
  renameSync(file, `${file}.1`);
  log.append({ who: "b", action: "x", outcome: "ok" });
  await log.synced();
  expect(lines(`${file}.1`).map((l) => l.who)).toEqual(["a"]);
  expect(lines(file).map((l) => l.who)).toEqual(["b"]);
  unlinkSync(file);
  log.append({ who: "c", action: "x", outcome: "ok" });
  await log.synced();
  expect(lines(file).map((l) => l.who)).toEqual(["c"]);
  // The rotated pieces still chain when put back together.
  expect(verifyChain(readFileSync(`${file}.1`, "utf8")).ok).toBe(true);
  log.close();
});

test("a log path replaced by a directory fails the batch (nothing acknowledged); the next try writes it, chain intact", async () => {
  const file = tmpLog();
  const log = createAuditLog(file, true);
  log.append({ who: "a", action: "x", outcome: "ok" });
  await log.synced();
  renameSync(file, `${file}.saved`);
  mkdirSync(file);
  log.append({ who: "b", action: "x", outcome: "ok" });
  const outcome = await log.synced().then(() => "acknowledged", (err: NodeJS.ErrnoException) => err.code);
  expect(outcome).toBe("EISDIR");
  expect(log.queued).toBe(true);
  expect(readFileSync(`${file}.saved`, "utf8")).not.toContain(`"who":"b"`); // not written to the file that was moved away
  rmdirSync(file);
  renameSync(`${file}.saved`, file);
  await log.synced();
  expect(lines(file).map((l) => l.who)).toEqual(["a", "b"]);
  expect(verifyLog(file, undefined)).toMatchObject({ ok: true, lines: 2 });
  log.close();
});

test("crash safety: every line acknowledged before a SIGKILL is in the file, and the log verifies after a restart", async () => {
  const file = tmpLog();
  const child = Bun.spawn(["bun", "-e", `
    const { createAuditLog } = await import(${JSON.stringify(join(import.meta.dir, "log.ts"))});
    const log = createAuditLog(${JSON.stringify(file)}, true);
    for (let i = 1; ; i++) {
      for (let k = 0; k < 5; k++) log.append({ who: "w", action: "x", outcome: "ok", request_id: i + "-" + k });
      await log.synced();
      console.log("ack " + i);
    }
  `], { stdout: "pipe", stderr: "inherit" });
  const reader = child.stdout.getReader();
  let text = "";
  while (!/ack 200\n/.test(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  child.kill("SIGKILL");
  await child.exited;
  const acked = [...text.matchAll(/ack (\d+)/g)].map((m) => Number(m[1]));
  expect(acked.length).toBeGreaterThanOrEqual(200);
  // The kill can land inside the write of the batch after the last acknowledged one (the kernel stops a write
  // to a file at a page boundary for a fatal signal): the file may end in a cut line, never an acknowledged one.
  const onDisk = readFileSync(file);
  const end = onDisk.lastIndexOf(10) + 1;
  const complete = onDisk.toString("utf8", 0, end);
  const cut = onDisk.length - end;
  const ids = new Set(complete.split("\n").filter(Boolean).map((l) => JSON.parse(l).request_id));
  for (const i of acked) for (let k = 0; k < 5; k++) expect(ids.has(`${i}-${k}`)).toBe(true);
  // A kill between a batch's write and its seal, or inside the write, is reported at the next start (recorded
  // in the chain), never a lost line: the restart removes only the cut line's bytes.
  const again = createAuditLog(file, true);
  if (cut > 0) expect(again.integrity).toContain(`${cut} byte(s) after the last complete line`);
  again.append({ who: "after", action: "x", outcome: "ok" });
  await again.synced();
  const after = readFileSync(file, "utf8");
  expect(after.startsWith(complete)).toBe(true);
  expect(verifyChain(after).ok).toBe(true);
  again.close();
  expect(existsSync(file)).toBe(true);
});

test("non-ASCII lines: the batch is encoded as UTF-8, paging finds lines past an index block by byte offset, the chain verifies", async () => {
  const file = tmpLog();
  const log = createAuditLog(file, true);
  for (let i = 1; i <= 1100; i++) log.append({ who: "a", action: "x", target: `pä/✓/😀/${i}`, outcome: "ok" });
  await log.synced();
  expect(log.page(1030, 3).entries.map((e) => [e.seq, e.target])).toEqual([[1031, "pä/✓/😀/1031"], [1032, "pä/✓/😀/1032"], [1033, "pä/✓/😀/1033"]]);
  expect(verifyLog(file, undefined)).toMatchObject({ ok: true, lines: 1100 });
  log.close();
});
