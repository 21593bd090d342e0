/**
 * The raw lane's gate (afterAudit): answers wait for the audit batch holding their lines and leave
 * together once it is written; a failed write refuses every one of them; one answer's failure does not
 * hold the others; an answer with nothing queued leaves at once.
 */
import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAuditLog } from "../../../src/lib/audit/log";
import { afterAudit } from "../http/audit-gate";

const tmpLog = () => join(mkdtempSync(join(tmpdir(), "sec-gate-")), "audit.log");

test("answers leave only once their batch is written, each seeing its line on file", async () => {
  const file = tmpLog();
  const log = createAuditLog(file, true);
  const seen: string[] = [];
  const gate = afterAudit<string>(log, (id, audited) => {
    expect(audited).toBe(true);
    if (id !== "before-any-line") expect(readFileSync(file, "utf8")).toContain(`"request_id":"${id}"`);
    seen.push(id);
  });
  gate("before-any-line");
  expect(seen).toEqual(["before-any-line"]); // nothing queued: at once
  for (const id of ["a", "b", "c"]) { log.append({ who: "x", action: "secret.read", outcome: "ok", request_id: id }); gate(id); }
  expect(seen.length).toBe(1);
  await log.synced();
  expect(seen).toEqual(["before-any-line", "a", "b", "c"]);
  log.append({ who: "x", action: "secret.read", outcome: "ok", request_id: "d" }); // the next batch waits on its own
  gate("d");
  await log.synced();
  expect(seen.at(-1)).toBe("d");
  log.close();
});

test("a failed write refuses every waiting answer; one that throws does not hold the others", async () => {
  const file = tmpLog();
  const log = createAuditLog(file, true);
  log.append({ who: "x", action: "a", outcome: "ok" });
  await log.synced();
  renameSync(file, `${file}.saved`);
  mkdirSync(file);
  const outcomes: string[] = [];
  const gate = afterAudit<string>(log, (id, audited) => {
    if (id === "boom") throw new Error("caller bug");
    outcomes.push(`${id}:${audited}`);
  });
  for (const id of ["r1", "boom", "r2"]) { log.append({ who: "x", action: "secret.read", outcome: "ok", request_id: id }); gate(id); }
  await log.synced().catch(() => {});
  expect(outcomes).toEqual(["r1:false", "r2:false"]);
  rmdirSync(file);
  renameSync(`${file}.saved`, file);
  gate("r3");
  await log.synced();
  expect(outcomes).toEqual(["r1:false", "r2:false", "r3:true"]);
  log.close();
});
