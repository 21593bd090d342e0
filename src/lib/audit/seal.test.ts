/**
 * The head seal: a clean log verifies (also across restarts), and every way of cutting or rewriting the
 * tail is reported: last line, last N lines, emptied or deleted file, a rewritten last line (with or without
 * a recomputed hash), a rolled-back, deleted, malformed or forged seal, a cut line. A start that finds any of
 * these records it in the chain (audit.seal_broken), so it stays visible.
 */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chainHash, type AuditEntry } from "./chain";
import { createAuditLog } from "./log";
import { headFileOf, makeHead, writeHead } from "./seal";
import { verifyLog } from "./verify";

const FAST = { retries: 0 };

function newLog(n: number, key?: Buffer) {
  const file = join(mkdtempSync(join(tmpdir(), "audit-seal-")), "audit.log");
  const log = createAuditLog(file, true, { sealKey: key });
  for (let i = 1; i <= n; i++) log.append({ who: "admin", action: "secret.write", target: `p/${i}`, outcome: "ok" });
  log.flush();
  return { file, head: headFileOf(file), log };
}
const lines = (file: string) => readFileSync(file, "utf8").split("\n").filter(Boolean);
const keep = (file: string, n: number) => writeFileSync(file, lines(file).slice(0, n).map((l) => l + "\n").join(""));

/** Re-seal a line as a forger who knows the (unkeyed) chain algorithm would. */
function forge(line: string, change: Record<string, unknown>): string {
  const { hash: _h, ...body } = JSON.parse(line) as AuditEntry;
  const next = { ...body, ...change };
  return JSON.stringify({ ...next, hash: chainHash(next.prev, JSON.stringify(next)) });
}

for (const keyed of [true, false]) {
  const key = keyed ? randomBytes(32) : undefined;
  describe(`head seal (${keyed ? "HMAC key" : "no key: plain hash"})`, () => {
    test("a clean log verifies; the head is 0600, beside the log, and follows each batch", () => {
      const { file, head, log } = newLog(5, key);
      expect(head).toBe(file.replace(/audit\.log$/, "audit.head"));
      expect(statSync(head).mode & 0o777).toBe(0o600);
      expect(verifyLog(file, key, FAST)).toMatchObject({ ok: true, lines: 5 });
      for (let i = 0; i < 2000; i++) log.append({ who: "x", action: "token.validate", outcome: "ok" });
      log.flush();
      expect(JSON.parse(readFileSync(head, "utf8"))).toMatchObject({ v: 1, lines: 2005, keyed });
      expect(verifyLog(file, key, FAST)).toMatchObject({ ok: true, lines: 2005 });
    });

    test("a restart resumes the chain and the seal; a new, empty log is sealed from the start", () => {
      const { file } = newLog(3, key);
      for (let r = 0; r < 3; r++) {
        const again = createAuditLog(file, true, { sealKey: key });
        expect(again.integrity).toBeUndefined();
        again.append({ who: "admin", action: "token.issue", outcome: "ok" });
        again.flush();
      }
      expect(verifyLog(file, key, FAST)).toMatchObject({ ok: true, lines: 6 });
      const fresh = join(mkdtempSync(join(tmpdir(), "audit-seal-")), "audit.log");
      createAuditLog(fresh, true, { sealKey: key });
      expect(existsSync(headFileOf(fresh))).toBe(true);
      expect(verifyLog(fresh, key)).toMatchObject({ ok: true, lines: 0 });
    });

    test("truncation is detected: last line, last N lines, the file emptied, the file deleted", () => {
      for (const cut of [1, 3, 9]) {
        const { file } = newLog(10, key);
        keep(file, 10 - cut);
        const v = verifyLog(file, key, FAST);
        expect(v).toMatchObject({ ok: false, line: 11 - cut });
        expect(v.ok ? "" : v.reason).toContain(`the last ${cut} line(s) were removed`);
      }
      const emptied = newLog(4, key);
      writeFileSync(emptied.file, "");
      expect(verifyLog(emptied.file, key, FAST)).toMatchObject({ ok: false, reason: expect.stringContaining("the log is empty, its seal says 4 lines") });
      const deleted = newLog(4, key);
      rmSync(deleted.file);
      expect(verifyLog(deleted.file, key, FAST)).toMatchObject({ ok: false, reason: expect.stringContaining("TRUNCATED") });
    });

    test("a rewritten last line is detected, also when its hash was recomputed", () => {
      const { file } = newLog(4, key);
      const all = lines(file);
      writeFileSync(file, [...all.slice(0, 3), all[3].replace('"outcome":"ok"', '"outcome":"denied"')].join("\n") + "\n");
      expect(verifyLog(file, key, FAST)).toMatchObject({ ok: false, line: 4, reason: expect.stringContaining("line edited") });
      writeFileSync(file, [...all.slice(0, 3), forge(all[3], { outcome: "denied" })].join("\n") + "\n");
      expect(verifyLog(file, key, FAST)).toMatchObject({ ok: false, line: 4, reason: expect.stringContaining("last line was rewritten") });
      // Removing the last line and re-chaining a forged one in its place: same count, other hash.
      writeFileSync(file, [...all.slice(0, 3), forge(all[3], { who: "nobody", action: "noop" })].join("\n") + "\n");
      expect(verifyLog(file, key, FAST).ok).toBe(false);
    });

    test("a rolled-back seal is detected: the lines after it are named", () => {
      const { file, head, log } = newLog(3, key);
      const old = `${head}.old`;
      copyFileSync(head, old);
      log.append({ who: "admin", action: "secret.delete", outcome: "ok" });
      log.append({ who: "admin", action: "secret.destroy", outcome: "ok" });
      log.flush();
      copyFileSync(old, head);
      expect(verifyLog(file, key, FAST)).toMatchObject({ ok: false, line: 4, reason: expect.stringContaining("2 line(s) after the sealed head") });
    });

    test("a deleted, malformed or cut seal, and a cut last line, are reported", () => {
      const a = newLog(2, key);
      rmSync(a.head);
      expect(verifyLog(a.file, key, FAST)).toMatchObject({ ok: false, reason: expect.stringContaining("no seal file") });
      for (const junk of ["", "{", "null", '{"v":1}', '{"v":2,"lines":2,"last":"x","ts":"t","keyed":false,"mac":"m"}']) {
        const b = newLog(2, key);
        writeFileSync(b.head, junk);
        expect(verifyLog(b.file, key, FAST).ok).toBe(false);
      }
      const c = newLog(3, key);
      writeFileSync(c.file, readFileSync(c.file, "utf8").slice(0, -20));
      expect(verifyLog(c.file, key, FAST).ok).toBe(false);
    });

    test("a start after tampering records it in the chain (audit.seal_broken) and says so; the log goes on and verify keeps failing", () => {
      const { file } = newLog(6, key);
      keep(file, 4);
      const again = createAuditLog(file, true, { sealKey: key });
      expect(again.integrity).toContain("2 line(s) removed from the end");
      again.append({ who: "admin", action: "token.issue", outcome: "ok" });
      again.flush();
      const all = lines(file).map((l) => JSON.parse(l));
      expect(all.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(all[4]).toMatchObject({ who: "system", action: "audit.seal_broken", outcome: "error" });
      const v = verifyLog(file, key, FAST);
      expect(v).toMatchObject({ ok: false, line: 5, reason: expect.stringContaining("did not match its seal") });
      // Later restarts find the new seal intact: no second record, still reported.
      expect(createAuditLog(file, true, { sealKey: key }).integrity).toBeUndefined();
      expect(verifyLog(file, key, FAST).ok).toBe(false);
    });

    test("a start after a crash mid-write drops the cut line, records it, and appends on a fresh line", () => {
      const { file } = newLog(3, key);
      writeFileSync(file, readFileSync(file, "utf8") + '{"seq":4,"ts":"2026');
      const again = createAuditLog(file, true, { sealKey: key });
      expect(again.integrity).toContain("cut mid-write");
      again.flush();
      expect(lines(file).map((l) => JSON.parse(l).seq)).toEqual([1, 2, 3, 4]);
    });

    test("a start with lines past the seal says whether they chain on (crash before sealing vs appended junk)", () => {
      const { file, head, log } = newLog(2, key);
      const old = readFileSync(head, "utf8");
      log.append({ who: "admin", action: "x", outcome: "ok" });
      log.flush();
      writeFileSync(head, old);
      expect(createAuditLog(file, true, { sealKey: key }).integrity).toContain("1 line(s) after the sealed head (2 lines");
      const b = newLog(2, key);
      writeFileSync(b.file, readFileSync(b.file, "utf8") + forge(lines(b.file)[1], { seq: 3, prev: "f".repeat(64) }) + "\n");
      expect(createAuditLog(b.file, true, { sealKey: key }).integrity).toContain("do not chain on");
    });

    test("a disabled log writes neither lines nor a seal", () => {
      const file = join(mkdtempSync(join(tmpdir(), "audit-seal-")), "audit.log");
      const log = createAuditLog(file, false, { sealKey: key });
      log.append({ who: "a", action: "b", outcome: "ok" });
      log.flush();
      expect(existsSync(file) || existsSync(headFileOf(file))).toBe(false);
    });
  });
}

describe("head seal: the key", () => {
  test("with a key a forger cannot rewrite log and seal together: a re-made seal without the key, or with another, is refused", () => {
    const key = randomBytes(32);
    for (const forgedKey of [undefined, randomBytes(32)]) {
      const { file, head } = newLog(5, key);
      keep(file, 3);
      const last = JSON.parse(lines(file)[2]).hash as string;
      writeHead(head, makeHead(3, last, forgedKey));
      expect(verifyLog(file, key, FAST)).toMatchObject({ ok: false, reason: expect.stringMatching(/MAC does not match|no MAC although the log is keyed/) });
      expect(createAuditLog(file, true, { sealKey: key }).integrity).toBeDefined();
    }
  });

  test("a keyed seal checked without the key is a usage error, not a pass", () => {
    const { file } = newLog(2, randomBytes(32));
    expect(verifyLog(file, undefined, FAST)).toMatchObject({ ok: false, usage: true });
  });

  test("the seal costs one write per batch, not per line (measured: 20 batches of 1000 lines)", () => {
    const { file, log } = newLog(0, randomBytes(32));
    const t0 = performance.now();
    for (let b = 0; b < 20; b++) {
      for (let i = 0; i < 1000; i++) log.append({ who: "svc", action: "token.validate", outcome: "ok" });
      log.flush();
    }
    const ms = performance.now() - t0;
    expect(verifyLog(file, undefined, FAST).ok).toBe(false); // keyed: needs the key
    expect(lines(file).length).toBe(20_000);
    expect(ms).toBeLessThan(5_000);
  });
});

test("a line audited after close() (a request finishing during shutdown) is still sealed: the next start finds the log intact", async () => {
  const key = randomBytes(32);
  const { file, log } = newLog(2, key);
  log.close();
  log.append({ who: "admin", action: "late", outcome: "ok" });
  await Bun.sleep(5); // the batch flushes on the next tick
  expect(verifyLog(file, key, FAST)).toMatchObject({ ok: true, lines: 3 });
  expect(createAuditLog(file, true, { sealKey: key }).integrity).toBeUndefined();
});

test("the seal's MAC is HMAC-SHA256 (a plain SHA-256 without a key) of the documented message, as node:crypto computes it: seals written before stay valid", async () => {
  const { createHash, createHmac } = await import("node:crypto");
  const key = randomBytes(32);
  const last = "ab".repeat(32);
  const now = new Date();
  const msg = `tradpal-audit-head v1\n42\n${last}\n${now.toISOString()}`;
  expect(makeHead(42, last, key, now).mac).toBe(createHmac("sha256", key).update(msg).digest("hex"));
  expect(makeHead(42, last, undefined, now).mac).toBe(createHash("sha256").update(msg).digest("hex"));
});

test("a shorter seal written over a longer one leaves nothing of it behind (the record is rewritten whole: 511 bytes and a newline)", async () => {
  const { openHeadWriter, readHead } = await import("./seal");
  const file = join(mkdtempSync(join(tmpdir(), "audit-seal-")), "audit.head");
  const key = randomBytes(32);
  const w = openHeadWriter(file);
  w.write(makeHead(123_456_789_012, "f".repeat(64), key));
  w.write(makeHead(1, "0".repeat(64), key));
  w.close();
  const bytes = readFileSync(file);
  expect(bytes.length).toBe(512);
  expect(bytes[511]).toBe(10);
  const read = readHead(file, key);
  expect(read.ok && read.head.lines).toBe(1);
});
