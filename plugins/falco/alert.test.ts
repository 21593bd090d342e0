import { test, expect } from "bun:test";
import { parseAlerts } from "./alert";
import { CodedError } from "../../src/core/errors";
import { FALCO_DOCS_JSON_OUTPUT } from "./test/fixtures/payloads";

const limits = { maxOutputLength: 100, maxFields: 3, maxBatch: 2 };
const err = (text: string) => { try { parseAlerts(text, limits); } catch (e) { return e as CodedError; } throw new Error("accepted"); };

test("Falco's documented alert parses: priority normalised, time in ms, source defaulted, uuid made", () => {
  const [a] = parseAlerts(FALCO_DOCS_JSON_OUTPUT, { ...limits, maxFields: 10 });
  expect(a).toMatchObject({ rule: "Write below binary dir", priority: "error", time: Date.parse("2017-10-09T23:31:56.746Z"), source: "syscall", tags: [] });
  expect(a.fields["evt.time"]).toBe(1507591916746609046);
  expect(a.uuid).toMatch(/^[0-9a-f-]{30}$/);
});

test("a long output is cut and marked, not refused; too many fields, bad tags and bad batches are refused with where", () => {
  const [a] = parseAlerts(JSON.stringify({ rule: "r", priority: "info", time: "2026-01-01T00:00:00Z", output: "x".repeat(500) }), limits);
  expect(a.output).toHaveLength(105);
  expect(a.priority).toBe("informational");
  expect(err(JSON.stringify({ rule: "r", priority: "info", time: "2026-01-01T00:00:00Z", output_fields: { a: 1, b: 2, c: 3, d: 4 } }))).toMatchObject({ code: "FALCO_ERR_INVALID_ALERT", where: "/output_fields" });
  expect(err(JSON.stringify({ rule: "r", priority: "info", time: "2026-01-01T00:00:00Z", tags: ["ok", 5] }))).toMatchObject({ where: "/tags/1" });
  expect(err("[]")).toMatchObject({ code: "FALCO_ERR_EMPTY" });
  expect(err("[1,2,3]")).toMatchObject({ code: "FALCO_ERR_BATCH_TOO_LARGE", status: 413 });
  expect(err("[1]")).toMatchObject({ code: "FALCO_ERR_INVALID_ALERT", where: "/0" });
  const many = err(JSON.stringify({}));
  expect((many.details as unknown[]).length).toBe(3); // rule, priority, time: every problem named
});
