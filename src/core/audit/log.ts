/**
 * Platform library (src/core/audit): any plugin may keep its own hash-chained audit log with it.
 * Append-only, hash-chained audit log. Lines are chained synchronously (order = call order) and written
 * in small batches (one appendFileSync per tick) so auditing a 20k/s endpoint costs a hash, not a syscall,
 * per call. Resumes the chain from the file's last line after a restart. Paging reads only the part of
 * the file it needs, through a sparse index of byte offsets (every INDEX_EVERY-th line).
 */
import { appendFileSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync } from "node:fs";
import { dirname } from "node:path";
import { GENESIS, sealLine, type AuditEntry, type AuditFields } from "./chain";

export interface AuditLog {
  append(fields: AuditFields): void;
  flush(): void;
  /** Entries with seq > after, at most limit, oldest first; `next` is the cursor for the following page. */
  page(after: number, limit: number): { entries: AuditEntry[]; next?: number };
  readonly file: string;
  close(): void;
}

const INDEX_EVERY = 1024;
const CHUNK = 1 << 20;

/** Scan the file once: byte offset of every INDEX_EVERY-th line, the last line, and the size. */
function scan(file: string): { index: number[]; last?: string; size: number; lines: number } {
  const index: number[] = [];
  if (!existsSync(file)) return { index, size: 0, lines: 0 };
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(CHUNK);
    let pos = 0, lines = 0, lineStart = 0;
    while (pos < size) {
      const n = readSync(fd, buf, 0, CHUNK, pos);
      for (let i = 0; i < n; i++) {
        if (buf[i] !== 10) continue;
        if (lines % INDEX_EVERY === 0) index.push(lineStart);
        lines++;
        lineStart = pos + i + 1;
      }
      pos += n;
    }
    let last: string | undefined;
    if (lines > 0) {
      const len = Math.min(size, 64 * 1024);
      const tail = Buffer.alloc(len);
      readSync(fd, tail, 0, len, size - len);
      const all = tail.toString("utf8").split("\n").filter(Boolean);
      last = all[all.length - 1];
    }
    return { index, last, size, lines };
  } finally {
    closeSync(fd);
  }
}

export function createAuditLog(file: string, enabled: boolean): AuditLog {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const found = scan(file);
  const index = found.index;
  let size = found.size;
  let seq = 0;
  let prev = GENESIS;
  if (found.last) {
    const e = JSON.parse(found.last) as AuditEntry;
    seq = e.seq;
    prev = e.hash;
  }
  let written = seq; // lines on disk
  let pending: string[] = [];
  let scheduled = false;

  function flush() {
    scheduled = false;
    if (pending.length === 0) return;
    let chunk = "";
    for (const line of pending) {
      if (written % INDEX_EVERY === 0) index.push(size + Buffer.byteLength(chunk));
      chunk += line + "\n";
      written++;
    }
    pending = [];
    appendFileSync(file, chunk, { mode: 0o600 });
    size += Buffer.byteLength(chunk);
  }

  return {
    file,
    append(fields) {
      if (!enabled) return;
      const { line, hash } = sealLine(++seq, prev, fields);
      prev = hash;
      pending.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
    page(after, limit) {
      flush();
      const entries: AuditEntry[] = [];
      if (after >= written || !existsSync(file)) return { entries };
      // Line k (0-based) holds seq k+1: start from the indexed line at or before `after`.
      const slot = Math.floor(after / INDEX_EVERY);
      let lineNo = slot * INDEX_EVERY;
      let pos = index[slot] ?? 0;
      const fd = openSync(file, "r");
      try {
        let carry = "";
        const buf = Buffer.alloc(CHUNK);
        while (pos < size && entries.length < limit) {
          const n = readSync(fd, buf, 0, Math.min(CHUNK, size - pos), pos);
          if (n <= 0) break;
          pos += n;
          const parts = (carry + buf.toString("utf8", 0, n)).split("\n");
          carry = parts.pop() ?? "";
          for (const p of parts) {
            if (++lineNo > after && p) entries.push(JSON.parse(p));
            if (entries.length >= limit) break;
          }
        }
      } finally {
        closeSync(fd);
      }
      const lastSeq = entries.length ? entries[entries.length - 1].seq : after;
      return { entries, next: lastSeq < seq ? lastSeq : undefined };
    },
    close() { flush(); },
  };
}
