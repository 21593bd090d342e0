import { test, expect } from "bun:test";
import { holdRead, inTurn, pendingInTurn, releaseRead, type HeldReads } from "./turn-queue";

const turnEnd = () => new Promise<void>((r) => setImmediate(r));
const fail = (_: unknown, err: unknown) => { throw err; };

test("events wait for the end of the turn and are handled in the order they came", async () => {
  const seen: string[] = [];
  const note = (who: string, what: string) => { seen.push(`${who}:${what}`); };
  inTurn(note, "a", "data", fail);
  inTurn(note, "b", "data", fail);
  inTurn(note, "a", "close", fail);
  expect(seen).toEqual([]);
  expect(pendingInTurn()).toBe(3);
  await turnEnd();
  expect(seen).toEqual(["a:data", "b:data", "a:close"]);
  expect(pendingInTurn()).toBe(0);
});

test("an event a handler causes joins the same run, after the others", async () => {
  const seen: string[] = [];
  const close = (who: string) => { seen.push(`${who}:close`); };
  inTurn((who: string) => { seen.push(`${who}:data`); inTurn(close, who, undefined, fail); }, "a", undefined, fail);
  inTurn((who: string) => { seen.push(`${who}:data`); }, "b", undefined, fail);
  await turnEnd();
  expect(seen).toEqual(["a:data", "b:data", "a:close"]);
});

test("a handler that throws stops no other; its error goes to its own failed(), with its target", async () => {
  const seen: string[] = [];
  inTurn(() => { throw new Error("boom"); }, "a", undefined, (who: string, err: unknown) => { seen.push(`${who} failed: ${(err as Error).message}`); });
  inTurn(() => { seen.push("b handled"); }, "b", undefined, fail);
  await turnEnd();
  expect(seen).toEqual(["a failed: boom", "b handled"]);
});

test("a socket's second read in a turn pauses it; the last handled read resumes it once", () => {
  const h: HeldReads = { heldReads: 0, heldPaused: false };
  expect(holdRead(h)).toBe(false); // the first read: no pause
  expect(holdRead(h)).toBe(true); // the second: pause now
  expect(holdRead(h)).toBe(false); // already paused
  expect(releaseRead(h)).toBe(false);
  expect(releaseRead(h)).toBe(false);
  expect(releaseRead(h)).toBe(true); // the last: resume
  expect(h).toEqual({ heldReads: 0, heldPaused: false });
  expect(holdRead(h)).toBe(false);
  expect(releaseRead(h)).toBe(false); // one read alone never paused, never resumes
});
