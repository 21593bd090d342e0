/**
 * A start of the audit log: compare what is on disk with the head seal and pick up the chain where the
 * file ends. Anything that does not match (a removed tail, a rewritten last line, lines past the seal, a
 * missing, malformed or forged seal, a cut last line) is returned as `problem`, which the log records as an
 * audit.seal_broken line before anything else: the chain goes on, and every later verify reports it.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { GENESIS, chainHash, verifyChain, type AuditEntry } from "./chain";
import type { HeadRead } from "./seal";

export interface Found {
  /** Byte offset of every INDEX_EVERY-th line. */
  index: number[];
  /** The last complete line. */
  last?: string;
  /** Bytes up to and including the last newline. */
  size: number;
  lines: number;
  /** Bytes after the last newline (a cut line). */
  fragment: number;
}

/** The text from 0-based line `from` to `size`, found through the sparse index. */
function readFromLine(file: string, found: Found, from: number, every: number): string {
  const slot = Math.floor(from / every);
  const start = found.index[slot] ?? 0;
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(found.size - start);
    readSync(fd, buf, 0, buf.length, start);
    const lines = buf.toString("utf8").split("\n");
    return lines.slice(from - slot * every).join("\n");
  } finally {
    closeSync(fd);
  }
}

export function resumeChain(file: string, found: Found, head: HeadRead, every: number): { seq: number; prev: string; sealed: boolean; problem?: string } {
  let seq = 0;
  let prev = GENESIS;
  const problems: string[] = [];
  if (found.last !== undefined) {
    try {
      const e = JSON.parse(found.last) as AuditEntry;
      if (!Number.isInteger(e.seq) || typeof e.hash !== "string") throw new Error("no seq/hash");
      seq = e.seq;
      prev = e.hash;
    } catch {
      // Unreadable last line: continue numbering after it; its own hash (any value) links the next line.
      seq = found.lines;
      prev = chainHash(GENESIS, found.last);
      problems.push(`line ${found.lines} is not a valid audit line`);
    }
  }
  if (found.fragment > 0) problems.push(`${found.fragment} byte(s) after the last complete line (a line cut mid-write) were removed`);
  if (!head.ok) {
    if (!(head.missing && found.lines === 0)) problems.push(head.missing ? `${head.reason}, with ${found.lines} line(s) in the log` : head.reason);
  } else {
    const h = head.head;
    if (seq < h.lines) problems.push(`the log has ${seq} line(s), its seal (${h.ts}) says ${h.lines}: ${h.lines - seq} line(s) removed from the end`);
    else if (seq === h.lines && prev !== h.last) problems.push(`line ${seq} differs from the sealed head (rewritten)`);
    else if (seq > h.lines) {
      // Lines past the seal: a crash between the write and the seal, or a rolled-back seal. Say whether they chain on.
      const tail = readFromLine(file, found, Math.max(0, h.lines - 1), every);
      const [first, ...rest] = tail.split("\n");
      const linked = h.lines === 0 ? verifyChain(tail) : (() => {
        try { if ((JSON.parse(first) as AuditEntry).hash !== h.last) return { ok: false as const }; } catch { return { ok: false as const }; }
        return verifyChain(rest.join("\n"), { lines: h.lines, last: h.last });
      })();
      problems.push(`${seq - h.lines} line(s) after the sealed head (${h.lines} lines, sealed ${h.ts}) ${linked.ok ? "chain on from it (a crash before sealing, or a rolled-back seal)" : "do not chain on from it"}`);
    }
  }
  return { seq, prev, sealed: head.ok, problem: problems.length ? problems.join("; ") : undefined };
}
