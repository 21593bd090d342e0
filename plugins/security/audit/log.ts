/**
 * Append-only, hash-chained audit log. Lines are chained synchronously (order = call order) and written
 * in small batches (one appendFileSync per tick) so auditing a 20k/s endpoint costs a hash, not a syscall,
 * per call. Resumes the chain from the file's last line after a restart.
 */
import { appendFileSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync } from "node:fs";
import { dirname } from "node:path";
import { GENESIS, sealLine, type AuditEntry, type AuditFields } from "./chain";

export interface AuditLog {
  append(fields: AuditFields): void;
  flush(): void;
  /** Entries with seq > after, at most limit, oldest first. */
  page(after: number, limit: number): { entries: AuditEntry[]; next?: number };
  readonly file: string;
  close(): void;
}

function lastLine(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString("utf8").split("\n").filter(Boolean);
    return lines[lines.length - 1];
  } finally {
    closeSync(fd);
  }
}

export function createAuditLog(file: string, enabled: boolean): AuditLog {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let seq = 0;
  let prev = GENESIS;
  const last = lastLine(file);
  if (last) {
    const e = JSON.parse(last) as AuditEntry;
    seq = e.seq;
    prev = e.hash;
  }
  let pending: string[] = [];
  let scheduled = false;

  function flush() {
    scheduled = false;
    if (pending.length === 0) return;
    const chunk = pending.join("\n") + "\n";
    pending = [];
    appendFileSync(file, chunk, { mode: 0o600 });
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
      if (!existsSync(file)) return { entries: [] };
      const entries: AuditEntry[] = [];
      // Lines are numbered from 1 by seq, so line index = seq - 1.
      const lines = readFileSync(file, "utf8").split("\n");
      for (let i = Math.max(0, after); i < lines.length && entries.length < limit; i++) if (lines[i]) entries.push(JSON.parse(lines[i]));
      const lastSeq = entries.length ? entries[entries.length - 1].seq : after;
      return { entries, next: lastSeq < seq ? lastSeq : undefined };
    },
    close() { flush(); },
  };
}
