/** The audit log's hash chain: intact logs verify; an edited, removed or reordered line is named. */
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAuditLog } from "./log";
import { verifyChain } from "./chain";

const VERIFY = join(import.meta.dir, "..", "..", "..", "plugins", "security", "audit-verify.ts");

function writeLog(n: number) {
  const file = join(mkdtempSync(join(tmpdir(), "sec-audit-")), "audit.log");
  const log = createAuditLog(file, true);
  for (let i = 1; i <= n; i++) log.append({ who: "admin", action: "secret.write", target: `p/${i}`, outcome: "ok", value_hmac: "ab".repeat(32) });
  log.flush();
  return file;
}

async function runVerify(file: string) {
  const p = Bun.spawn(["bun", "run", VERIFY, file], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code };
}

test("an intact log verifies, also after a restart appends to the same chain", async () => {
  const file = writeLog(5);
  const again = createAuditLog(file, true);
  again.append({ who: "admin", action: "token.issue", outcome: "ok" });
  again.flush();
  expect(verifyChain(readFileSync(file, "utf8"))).toMatchObject({ ok: true, lines: 6 });
  const r = await runVerify(file);
  expect(r.code).toBe(0);
  expect(r.out).toContain("ok: 6 lines");
});

test("an edited line is detected by the verifier command (exit 1, line named)", async () => {
  const file = writeLog(5);
  const lines = readFileSync(file, "utf8").split("\n");
  lines[2] = lines[2].replace('"outcome":"ok"', '"outcome":"denied"');
  writeFileSync(file, lines.join("\n"));
  const r = await runVerify(file);
  expect(r.code).toBe(1);
  expect(r.err).toContain("line 3");
});

test("a removed line and swapped lines are detected", () => {
  const file = writeLog(5);
  const lines = readFileSync(file, "utf8").split("\n").filter(Boolean);
  expect(verifyChain([lines[0], lines[2], lines[3]].join("\n"))).toMatchObject({ ok: false, line: 2 });
  expect(verifyChain([lines[0], lines[2], lines[1]].join("\n"))).toMatchObject({ ok: false, line: 2 });
  expect(verifyChain(lines.slice(0, 4).join("\n") + "\nnot json")).toMatchObject({ ok: false, line: 5 });
});

test("paging returns entries after a seq with a next cursor", () => {
  const file = writeLog(7);
  const log = createAuditLog(file, true);
  const p1 = log.page(0, 3);
  expect(p1.entries.map((e) => e.seq)).toEqual([1, 2, 3]);
  expect(p1.next).toBe(3);
  const p3 = log.page(6, 3);
  expect(p3.entries.map((e) => e.seq)).toEqual([7]);
  expect(p3.next).toBeUndefined();
});

test("the verifier refuses a missing file with a usage error", async () => {
  expect((await runVerify("/nonexistent/audit.log")).code).toBe(2);
});

test("paging across index blocks reads the right lines (sparse offset index, also after a restart)", () => {
  const file = writeLog(3000);
  const again = createAuditLog(file, true);
  for (let i = 0; i < 50; i++) again.append({ who: "x", action: "secret.read", outcome: "ok", target: "é/ü" });
  again.flush();
  for (const log of [again, createAuditLog(file, true)]) {
    for (const after of [0, 1023, 1024, 1025, 2047, 2999, 3020]) {
      const p = log.page(after, 5);
      expect(p.entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5].map((k) => after + k).filter((s) => s <= 3050));
    }
    expect(log.page(3050, 5)).toEqual({ entries: [] });
  }
  expect(verifyChain(readFileSync(file, "utf8"))).toMatchObject({ ok: true, lines: 3050 });
});

test("lines written by an earlier version (hashed with node:crypto, as the format says) and lines appended now form one chain", () => {
  const { createHash } = require("node:crypto") as typeof import("node:crypto");
  const file = join(mkdtempSync(join(tmpdir(), "sec-audit-old-")), "audit.log");
  let prev = "0".repeat(64);
  let text = "";
  for (let seq = 1; seq <= 3; seq++) {
    const json = JSON.stringify({ seq, ts: "2026-01-01T00:00:00.000Z", who: "admin", action: "secret.read", target: `p/ä/${seq}`, outcome: "ok", prev });
    const hash = createHash("sha256").update(prev + "\n" + json).digest("hex");
    text += `${json.slice(0, -1)},"hash":"${hash}"}\n`;
    prev = hash;
  }
  writeFileSync(file, text);
  const log = createAuditLog(file, true);
  log.append({ who: "admin", action: "token.validate", target: "svc-✓", outcome: "ok" });
  log.flush();
  log.close();
  const all = readFileSync(file, "utf8");
  // Line 4 records that the old log had no seal; the chain runs through old and new lines alike.
  expect(verifyChain(all)).toMatchObject({ ok: true, lines: 5 });
  expect(all.split("\n").filter(Boolean).map((l) => JSON.parse(l).action)).toEqual(["secret.read", "secret.read", "secret.read", "audit.seal_broken", "token.validate"]);
});
