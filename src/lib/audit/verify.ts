/**
 * Verify a whole audit log against its head seal: the chain line by line (edits, removals, reordering),
 * then the seal (truncation, a rewritten last line, lines past the seal, a forged or rolled-back seal),
 * then the problems the log itself recorded when it found its seal broken at a start (action audit.seal_broken).
 */
import { existsSync, readFileSync } from "node:fs";
import { verifyChain } from "./chain";
import { headFileOf, readHead } from "./seal";

export const SEAL_BROKEN = "audit.seal_broken";

export type LogVerdict =
  | { ok: true; lines: number; last: string; sealedAt?: string }
  | { ok: false; line?: number; reason: string; usage?: boolean };

/**
 * A live log may be caught between a batch's write and its seal (or mid-seal): the log is read before the
 * seal, and a seal mismatch is re-checked `retries` times, `waitMs` apart, before it is reported.
 */
export function verifyLog(logFile: string, key: Buffer | undefined, opts: { retries?: number; waitMs?: number; headFile?: string } = {}): LogVerdict {
  const { retries = 3, waitMs = 25, headFile = headFileOf(logFile) } = opts;
  for (let attempt = 0; ; attempt++) {
    const v = verifyOnce(logFile, key, headFile);
    if (v.ok || v.usage || v.chain || attempt >= retries) return v;
    Bun.sleepSync(waitMs);
  }
}

function verifyOnce(logFile: string, key: Buffer | undefined, headFile: string): LogVerdict & { chain?: boolean } {
  const text = existsSync(logFile) ? readFileSync(logFile, "utf8") : "";
  const chain = verifyChain(text);
  if (!chain.ok) return { ...chain, chain: true };
  if (text !== "" && !text.endsWith("\n")) return { ok: false, line: chain.lines, reason: "the last line is incomplete (no newline): written partly, or cut" };
  const h = readHead(headFile, key);
  if (!h.ok) {
    if (h.missing && chain.lines === 0) return { ok: true, lines: 0, last: chain.last };
    if (h.reason.includes("no key was given")) return { ok: false, reason: h.reason, usage: true };
    return { ok: false, reason: h.missing ? `${h.reason}: the log's tail cannot be checked (a removed tail would go unseen)` : h.reason };
  }
  const head = h.head;
  if (chain.lines < head.lines) {
    const gone = head.lines - chain.lines;
    return { ok: false, line: chain.lines + 1, reason: chain.lines === 0 ? `TRUNCATED: the log is empty, its seal says ${head.lines} lines` : `TRUNCATED: the log has ${chain.lines} lines, its seal says ${head.lines}: the last ${gone} line(s) were removed` };
  }
  if (chain.lines > head.lines) {
    return { ok: false, line: head.lines + 1, reason: `${chain.lines - head.lines} line(s) after the sealed head (${head.lines} lines, sealed ${head.ts}): appended behind the log's back, or the seal was rolled back` };
  }
  if (chain.last !== head.last) return { ok: false, line: chain.lines, reason: "the last line was rewritten: its hash differs from the sealed head" };
  // Evidence the log itself sealed into the chain when a start found its seal broken.
  let n = 0;
  for (const raw of text.split("\n")) {
    if (raw === "") continue;
    n++;
    if (!raw.includes(SEAL_BROKEN)) continue;
    const e = JSON.parse(raw) as { action?: string; reason?: string; ts?: string };
    if (e.action === SEAL_BROKEN) return { ok: false, chain: true, line: n, reason: `at a start (${e.ts}) the log did not match its seal: ${e.reason}` };
  }
  return { ok: true, lines: chain.lines, last: chain.last, sealedAt: head.ts };
}
