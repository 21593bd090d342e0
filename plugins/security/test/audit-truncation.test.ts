/**
 * The audit log's tail is anchored: the real `bun run audit:verify` against a log written by the running
 * security plugin exits 0 when intact and 1, naming what happened, when the tail was cut (last line, last N,
 * emptied), the last line rewritten (hash recomputed), the seal rolled back, forged without the key or
 * deleted. A restart of the plugin on a truncated log records it in the chain, so it stays reported.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, startSecurityAt } from "./support";
import { chainHash } from "../../../src/lib/audit/chain";
import { makeHead, writeHead } from "../../../src/lib/audit/seal";

const root = mkdtempSync(join(tmpdir(), "audit-trunc-"));
const dataDir = join(root, "data");
const sec = join(dataDir, "security");
const kek = join(sec, "secrets.kek");
let pristine: { log: string; head: string };

async function activity(base: string, admin: string, n: number) {
  const h = { authorization: `Bearer ${admin}`, "content-type": "application/json" };
  for (let i = 0; i < n; i++) await fetch(`${base}/secrets/services/orders/k${i}`, { method: "PUT", headers: h, body: JSON.stringify({ data: { v: i } }) });
}
const verify = (log: string, ...extra: string[]) => run(["bun", "run", "audit:verify", log, ...extra]);
/** A copy of the pristine log and seal in a directory of its own (the KEK is passed with --kek-file). */
function copy(): { dir: string; log: string; head: string } {
  const dir = mkdtempSync(join(root, "copy-"));
  const out = { dir, log: join(dir, "audit.log"), head: join(dir, "audit.head") };
  writeFileSync(out.log, pristine.log);
  writeFileSync(out.head, pristine.head);
  return out;
}
const lines = (text: string) => text.split("\n").filter(Boolean);

beforeAll(async () => {
  const s = await startSecurityAt(dataDir, "");
  const admin = readFileSync(join(sec, "admin-token"), "utf8").trim();
  await activity(s.base, admin, 12);
  await s.stop();
  pristine = { log: readFileSync(join(sec, "audit.log"), "utf8"), head: readFileSync(join(sec, "audit.head"), "utf8") };
});
afterAll(() => {});

describe("audit:verify on the plugin's own log", () => {
  test("the live files: exit 0, both 0600", async () => {
    const r = await verify(join(sec, "audit.log"));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ok: \d+ lines, chain head [0-9a-f]{64}, sealed /);
    for (const f of ["audit.log", "audit.head"]) expect(statSync(join(sec, f)).mode & 0o777).toBe(0o600);
  });

  test("cut tails exit 1 with TRUNCATED: the last line, the last 5 lines, all but one, the file emptied", async () => {
    const total = lines(pristine.log).length;
    for (const keep of [total - 1, total - 5, 1, 0]) {
      const c = copy();
      writeFileSync(c.log, lines(pristine.log).slice(0, keep).map((l) => l + "\n").join(""));
      const r = await verify(c.log, "--kek-file", kek);
      expect(r.code).toBe(1);
      expect(r.err).toContain("TRUNCATED");
      expect(r.err).toContain(keep === 0 ? "the log is empty" : `the last ${total - keep} line(s) were removed`);
    }
  });

  test("a rewritten last line (hash recomputed, so the chain alone passes) exits 1", async () => {
    const c = copy();
    const all = lines(pristine.log);
    const { hash: _h, ...body } = JSON.parse(all[all.length - 1]);
    const forged = { ...body, who: "someone-else" };
    all[all.length - 1] = JSON.stringify({ ...forged, hash: chainHash(forged.prev, JSON.stringify(forged)) });
    writeFileSync(c.log, all.join("\n") + "\n");
    const r = await verify(c.log, "--kek-file", kek);
    expect(r.code).toBe(1);
    expect(r.err).toContain("last line was rewritten");
  });

  test("a seal forged without the key (or with another), deleted, or rolled back exits 1", async () => {
    const total = lines(pristine.log).length;
    for (const key of [undefined, randomBytes(32)]) {
      const c = copy();
      const kept = lines(pristine.log).slice(0, total - 2);
      writeFileSync(c.log, kept.join("\n") + "\n");
      writeHead(c.head, makeHead(kept.length, JSON.parse(kept[kept.length - 1]).hash, key));
      const r = await verify(c.log, "--kek-file", kek);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/MAC does not match|no MAC although the log is keyed/);
    }
    const gone = copy();
    await run(["rm", gone.head]);
    expect((await verify(gone.log, "--kek-file", kek)).err).toContain("no seal file");
    // Roll back: an older (genuine) seal over a longer log.
    const older = mkdtempSync(join(root, "older-"));
    const s = await startSecurityAt(join(older, "data"), "");
    const admin = readFileSync(join(older, "data", "security", "admin-token"), "utf8").trim();
    await activity(s.base, admin, 2);
    await fetch(`${s.base}/audit`, { headers: { authorization: `Bearer ${admin}` } }); // flushes
    const headFile = join(older, "data", "security", "audit.head");
    copyFileSync(headFile, join(older, "old.head"));
    await activity(s.base, admin, 3);
    await s.stop();
    copyFileSync(join(older, "old.head"), headFile);
    const r = await verify(join(older, "data", "security", "audit.log"));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/\d+ line\(s\) after the sealed head/);
  });

  test("the key: SECRETS_KEK works as --kek-file does; a keyed seal without any key is a usage error (2), not a pass", async () => {
    const c = copy();
    const env = { ...process.env, SECRETS_KEK: readFileSync(kek, "utf8").trim() };
    const p = Bun.spawn(["bun", "run", "audit:verify", c.log], { env, stdout: "pipe", stderr: "pipe" });
    expect(await p.exited).toBe(0);
    const none = await verify(c.log);
    expect(none.code).toBe(2);
    expect(none.err).toContain("no key was given");
    expect((await verify(c.log, "--kek-file", join(root, "nope.kek"))).code).toBe(2);
  });

  test("a restart on a truncated log records audit.seal_broken in the chain: verify keeps failing after more activity; a clean restart resumes", async () => {
    const dir = mkdtempSync(join(root, "restart-"));
    const data = join(dir, "data");
    const a = await startSecurityAt(data, "");
    const admin = readFileSync(join(data, "security", "admin-token"), "utf8").trim();
    await activity(a.base, admin, 5);
    await a.stop();
    const log = join(data, "security", "audit.log");
    // A clean restart: no record, verify 0, the chain goes on.
    const b = await startSecurityAt(data, "");
    await activity(b.base, admin, 1);
    await b.stop();
    expect((await verify(log)).code).toBe(0);
    const before = lines(readFileSync(log, "utf8"));
    writeFileSync(log, before.slice(0, -2).join("\n") + "\n");
    const c = await startSecurityAt(data, "");
    expect(c.logs.some((l) => l.level === "error" && String(l.msg).includes("does not match its seal"))).toBe(true);
    await activity(c.base, admin, 2);
    await c.stop();
    const after = lines(readFileSync(log, "utf8")).map((l) => JSON.parse(l));
    const broken = after.find((e) => e.action === "audit.seal_broken");
    expect(broken).toMatchObject({ who: "system", outcome: "error", seq: before.length - 1 });
    expect(broken.reason).toContain("2 line(s) removed from the end");
    const r = await verify(log);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`line ${before.length - 1}: at a start`);
  });
});
