/**
 * A successful read's audit line made from kept parts (auditReadOk) is the line audit() makes from its
 * fields: the same JSON text, for odd principals, paths and request ids too, and after the part caches
 * are cleared at their bound.
 */
import { expect, test } from "bun:test";
import { audit, auditReadOk, type Deps } from "../http/deps";
import type { Principal } from "../authz";
import type { AuditFields } from "../../../src/lib/audit/chain";

function fakeDeps() {
  const lines: string[] = [];
  const counted: string[] = [];
  const d = {
    state: { audit: { append: (f: AuditFields) => lines.push(JSON.stringify(f)), appendJson: (j: string) => lines.push(j) } },
    ops: { labels: (l: { op: string; outcome: string }) => ({ inc: () => counted.push(`${l.op}/${l.outcome}`) }) },
  } as unknown as Deps;
  return { d, lines, counted };
}

const principals: Principal[] = [
  { kind: "admin", id: "admin" },
  { kind: "service", id: "service:bench", service: "bench", scopes: [] },
  { kind: "service", id: 'cert:"odd"\\ü', service: "odd", scopes: [] },
];
const paths = ["services/bench/db", 'services/a/"quoted"\\é\u0001', "x".repeat(300)];
const ids = ["0f8fad5b-d9cb-469f-a165-70867728950e", "client:req.1-2_3", "with space", 'q"uote\\', "é"];

test("auditReadOk writes the line audit() would, byte for byte", () => {
  const a = fakeDeps(), b = fakeDeps();
  for (const p of principals) for (const path of paths) for (const id of ids) for (const version of [1, 42, 999_999_999]) {
    auditReadOk(a.d, p, path, id, version);
    audit(b.d, p, { action: "secret.read", target: path, outcome: "ok", request_id: id, reason: `version ${version}` });
  }
  expect(a.lines.length).toBe(principals.length * paths.length * ids.length * 3);
  expect(a.lines).toEqual(b.lines);
  expect(a.counted).toEqual(b.counted);
});

test("the part caches stay right past their bound", () => {
  const a = fakeDeps(), b = fakeDeps();
  const p: Principal = { kind: "admin", id: "admin" };
  for (let i = 0; i < 2100; i++) {
    auditReadOk(a.d, p, `p/${i % 1500}`, "r", 1);
    audit(b.d, p, { action: "secret.read", target: `p/${i % 1500}`, outcome: "ok", request_id: "r", reason: "version 1" });
  }
  for (let i = 0; i < 300; i++) {
    const q: Principal = { kind: "service", id: `service:s${i}`, service: `s${i}`, scopes: [] };
    auditReadOk(a.d, q, "p/x", "r", 2);
    audit(b.d, q, { action: "secret.read", target: "p/x", outcome: "ok", request_id: "r", reason: "version 2" });
  }
  expect(a.lines).toEqual(b.lines);
});
