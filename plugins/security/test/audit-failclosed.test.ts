/**
 * The audit log fails closed: an answer leaves only once its audit line is on file (batched with the
 * other answers of the same event-loop turn), and a request whose line could not be written is answered
 * 503 SEC_ERR_AUDIT_UNAVAILABLE, its line kept queued and written with the next batch (the chain intact).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAuditLog } from "../../../src/lib/audit/log";
import { verifyChain } from "../../../src/lib/audit/chain";
import { startSecurity, run, type SecurityHarness } from "./support";

/** Make appends to `file` fail (EISDIR) until the returned function puts the file back. */
function breakFile(file: string): () => void {
  renameSync(file, `${file}.saved`);
  mkdirSync(file);
  return () => { rmdirSync(file); renameSync(`${file}.saved`, file); };
}

test("synced(): resolves once the batch is written, rejects when the write fails, and the lines are written by the next try", async () => {
  const file = join(mkdtempSync(join(tmpdir(), "audit-sync-")), "audit.log");
  const log = createAuditLog(file, true);
  log.append({ who: "a", action: "x", outcome: "ok" });
  expect(log.queued).toBe(true);
  await log.synced();
  expect(log.queued).toBe(false);
  expect(readFileSync(file, "utf8").split("\n").filter(Boolean)).toHaveLength(1);
  const restore = breakFile(file);
  log.append({ who: "b", action: "x", outcome: "ok" });
  const failed = await log.synced().then(() => "written", (err) => String(err));
  expect(failed).toContain("EISDIR");
  expect(log.queued).toBe(true);
  restore();
  log.append({ who: "c", action: "x", outcome: "ok" });
  await log.synced();
  const text = readFileSync(file, "utf8");
  expect(text.split("\n").filter(Boolean).map((l) => JSON.parse(l).who)).toEqual(["a", "b", "c"]);
  expect(verifyChain(text)).toMatchObject({ ok: true, lines: 3 });
  log.close();
});

let s: SecurityHarness;
beforeAll(async () => { s = await startSecurity(`services:\n  orders: { scopes: [read] }`); });
afterAll(async () => { await s?.stop(); });

test("an answered validation or read has its audit line on file; an unwritable log answers 503 and loses no line", async () => {
  const file = join(s.dataDir, "security", "audit.log");
  const h = s.auth();
  const tok = (await (await fetch(`${s.base}/tokens/orders`, { method: "POST", headers: h, body: "{}" })).json()).token;
  await fetch(`${s.base}/secrets/services/orders/k`, { method: "PUT", headers: h, body: JSON.stringify({ data: { v: 1 } }) });
  // 20 concurrent validations: each answer finds its own line already in the file.
  await Promise.all(Array.from({ length: 20 }, async (_, i) => {
    const res = await fetch(`${s.base}/tokens/validate`, { method: "POST", headers: { ...h, "x-request-id": `fc-ok-${i}` }, body: JSON.stringify({ token: tok }) });
    expect(res.status).toBe(200);
    expect(readFileSync(file, "utf8")).toContain(`"request_id":"fc-ok-${i}"`);
  }));

  const restore = breakFile(file);
  try {
    const v = await fetch(`${s.base}/tokens/validate`, { method: "POST", headers: { ...h, "x-request-id": "fc-down-1" }, body: JSON.stringify({ token: tok }) });
    expect(v.status).toBe(503);
    expect((await v.json()).error.code).toBe("SEC_ERR_AUDIT_UNAVAILABLE");
    expect(v.headers.get("x-request-id")).toBe("fc-down-1");
    const r = await fetch(`${s.base}/secrets/services/orders/k`, { headers: { ...h, "x-request-id": "fc-down-2" } });
    expect(r.status).toBe(503);
  } finally {
    restore();
  }
  const back = await fetch(`${s.base}/secrets/services/orders/k`, { headers: { ...h, "x-request-id": "fc-back" } });
  expect(back.status).toBe(200);
  const text = readFileSync(file, "utf8");
  // The refused requests' lines were kept and written first: nothing lost, the chain (and the seal) intact.
  const ids = text.split("\n").filter(Boolean).map((l) => JSON.parse(l).request_id);
  expect(ids.slice(-3)).toEqual(["fc-down-1", "fc-down-2", "fc-back"]);
  expect((await run(["bun", "run", "audit:verify", file])).code).toBe(0);
});
