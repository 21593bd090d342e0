import { test, expect } from "bun:test";
import { holdRead, inTurn, pendingInTurn, releaseRead, turnEpochNow, turnMonoNow, type HeldReads } from "./turn-queue";

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

test("the events of one turn read one clock each (their arrival); outside a turn and in the next, the clocks move", async () => {
  const seen: { mono: number; epoch: number }[] = [];
  const spin = (ms: number) => { const until = performance.now() + ms; while (performance.now() < until) { /* time passes within the turn */ } };
  const read = () => { seen.push({ mono: turnMonoNow(), epoch: turnEpochNow() }); spin(3); };
  inTurn(read, 1, 1, fail);
  inTurn(read, 2, 2, fail);
  inTurn(read, 3, 3, fail);
  await turnEnd();
  expect(seen.map((s) => s.mono)).toEqual([seen[0].mono, seen[0].mono, seen[0].mono]);
  expect(seen.map((s) => s.epoch)).toEqual([seen[0].epoch, seen[0].epoch, seen[0].epoch]);
  const outside = turnMonoNow();
  expect(outside - seen[0].mono).toBeGreaterThanOrEqual(6); // the spins of the turn have passed
  expect(turnMonoNow()).toBeGreaterThanOrEqual(outside); // outside a turn: the clock itself
  inTurn(read, 4, 4, fail);
  await turnEnd();
  expect(seen[3].mono).toBeGreaterThanOrEqual(outside);
  expect(seen[3].epoch).toBeGreaterThan(seen[0].epoch);
});
