/**
 * Platform library (src/lib/audit): any plugin may keep its own hash-chained audit log with it.
 * Append-only, hash-chained audit log. Lines are numbered and stamped when appended (order = call order),
 * chained and encoded when their batch is written (encode.ts; a failed batch is chained again, the same) and
 * written in small batches (one write per tick to a descriptor kept open, appender.ts) so auditing a 20k/s
 * endpoint costs a hash, not a syscall, per call. A caller that must not answer before its line is on file (fail closed) awaits synced():
 * it resolves after the batch holding that line was written (in the OS: survives a crash of this
 * process) and rejects when that write failed; the batch then stays queued for the next try. After each batch the head (line count + last hash) is sealed beside the log (seal.ts), so a
 * removed tail is detected; a start checks the log against that seal (resume.ts) and resumes the chain from
 * the file's last line. Paging reads only the part of the file it needs (a sparse index of byte offsets).
 */
import { chmodSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, statSync, truncateSync } from "node:fs";
import { dirname } from "node:path";
import { openAppender } from "./appender";
import type { AuditEntry, AuditFields } from "./chain";
import { fieldsJson, LineSealer } from "./encode";
import { headFileOf, makeHead, openHeadWriter, readHead, writeHead } from "./seal";
import { resumeChain, type Found } from "./resume";
import { SEAL_BROKEN } from "./verify";

export interface AuditLog {
  append(fields: AuditFields): void;
  /**
   * append() for a hot caller that makes its fields' JSON itself (parts of it kept): `json` must be the
   * text JSON.stringify gives the fields (AuditFields' keys only), so the line verifies.
   */
  appendJson(json: string): void;
  /** Write the queued lines now (synced() waiters learn the outcome; a failure is not thrown here). */
  flush(): void;
  /** True while appended lines wait to be written. */
  readonly queued: boolean;
  /** Resolves once every line appended so far is written; rejects if that write failed. */
  synced(): Promise<void>;
  /**
   * synced() for a hot caller: `done()` once every line appended so far is written, `done(err)` if that
   * write failed; at once when nothing is queued. A callback, not a promise per caller.
   */
  whenSynced(done: (err?: unknown) => void): void;
  /** Entries with seq > after, at most limit, oldest first; `next` is the cursor for the following page. */
  page(after: number, limit: number): { entries: AuditEntry[]; next?: number };
  readonly file: string;
  /** What a start found wrong with the log against its seal (also recorded as an audit.seal_broken line); undefined when intact. */
  readonly integrity?: string;
  close(): void;
}

const INDEX_EVERY = 1024;

/** The line's timestamp, formatted once per millisecond (an audited 20k/s endpoint stamps many lines per ms). */
let isoMs = -1;
let isoText = "";
function isoNow(): string {
  const ms = Date.now();
  if (ms !== isoMs) { isoMs = ms; isoText = new Date(ms).toISOString(); }
  return isoText;
}
const CHUNK = 1 << 20;
/** The batch buffer's usual size (grown for a larger batch, then given back). */
const OUT_KEEP = 64 * 1024;

/** Scan the file once: byte offset of every INDEX_EVERY-th line, the last complete line, the size, and any partial tail. */
function scan(file: string): Found {
  const index: number[] = [];
  if (!existsSync(file)) return { index, size: 0, lines: 0, fragment: 0 };
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(CHUNK);
    let pos = 0, lines = 0, lineStart = 0, prevStart = 0;
    while (pos < size) {
      const n = readSync(fd, buf, 0, CHUNK, pos);
      if (n <= 0) break;
      for (let i = 0; i < n; i++) {
        if (buf[i] !== 10) continue;
        if (lines % INDEX_EVERY === 0) index.push(lineStart);
        lines++;
        prevStart = lineStart;
        lineStart = pos + i + 1;
      }
      pos += n;
    }
    let last: string | undefined;
    if (lines > 0) {
      const tail = Buffer.alloc(lineStart - 1 - prevStart);
      readSync(fd, tail, 0, tail.length, prevStart);
      last = tail.toString("utf8");
    }
    // Bytes after the last newline: a line cut by a crash mid-write (or by someone).
    return { index, last, size: lineStart, lines, fragment: size - lineStart };
  } finally {
    closeSync(fd);
  }
}

export interface AuditLogOptions {
  /** MAC key for the head seal (the owning plugin's secret); without one the seal is a plain hash. */
  sealKey?: Buffer;
}

export function createAuditLog(file: string, enabled: boolean, opts: AuditLogOptions = {}): AuditLog {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // The mode given at open applies only when it creates the file: tighten one left looser.
  if (enabled && existsSync(file) && (statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  const headFile = headFileOf(file);
  const found = scan(file);
  const index = found.index;
  let size = found.size;
  const resumed = resumeChain(file, found, readHead(headFile, opts.sealKey), INDEX_EVERY);
  let seq = resumed.seq;
  /** The hash of the last line written (the chain as on disk: a failed batch is sealed again from here). */
  let prev = resumed.prev;
  const sealer = new LineSealer(prev);
  if (enabled && found.fragment > 0) truncateSync(file, found.size); // so the next batch starts on a fresh line
  let written = seq; // lines on disk
  /** Queued lines (line written + 1 + i at i): the fields' JSON, or (fields fieldsJson does not take) what sealLine needs. */
  let pending: (string | { fields: AuditFields })[] = [];
  /** Each queued line's timestamp. */
  let stamps: string[] = [];
  const appender = openAppender(file);
  let out = Buffer.allocUnsafe(OUT_KEEP);
  let scheduled = false;
  /** The waiters of the queued lines (synced()), settled by the flush that writes them. */
  let waiters: { promise: Promise<void>; resolve(): void; reject(err: unknown): void } | undefined;
  /** The whenSynced() callbacks of the queued lines, called by the same flush. */
  let callbacks: ((err?: unknown) => void)[] = [];
  function notify(list: ((err?: unknown) => void)[], err?: unknown): void {
    for (const done of list) {
      try { done(err); } catch { /* one caller's failure must not keep the others waiting */ }
    }
  }

  function flush() {
    scheduled = false;
    if (pending.length === 0) return;
    const settle = waiters;
    waiters = undefined;
    const called = callbacks;
    callbacks = [];
    // Each line chained and encoded straight into one reused buffer (encode.ts).
    const offsets: number[] = [];
    let n = written;
    let at = 0;
    sealer.prev = prev;
    for (let i = 0; i < pending.length; i++) {
      const entry = pending[i];
      if (n % INDEX_EVERY === 0) offsets.push(size + at);
      if (typeof entry === "string") {
        room(at + sealer.maxBytes(stamps[i], entry));
        at = sealer.line(n + 1, stamps[i], entry, out, at);
      } else {
        const line = sealer.slowLine(n + 1, stamps[i], entry.fields);
        room(at + line.length * 3 + 1); // UTF-8 takes at most 3 bytes per UTF-16 unit
        at += out.write(line, at);
        out[at++] = 10;
      }
      n++;
    }
    const bytes = out.subarray(0, at);
    if (out.length > OUT_KEEP) out = Buffer.allocUnsafe(OUT_KEEP); // a huge batch (lines kept through failed tries) is not held on to
    try {
      appender.append(bytes);
    } catch (err) {
      // Nothing of this batch counts as written (the appender cut a partial write off): the lines stay for the next try.
      settle?.reject(err);
      notify(called, err ?? new Error("audit write failed"));
      return;
    }
    for (const o of offsets) index.push(o);
    written = n;
    prev = sealer.prev;
    size += bytes.length;
    pending = [];
    stamps = [];
    try {
      // The seal follows the batch (not each line): a removed tail, a rewritten last line or a rolled-back seal shows.
      seal();
    } catch (err) {
      settle?.reject(err);
      notify(called, err ?? new Error("audit seal failed"));
      return;
    }
    settle?.resolve();
    notify(called);
  }

  /** The batch buffer holds at least `need` bytes (what it has is kept). */
  function room(need: number): void {
    if (need <= out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(need, out.length * 2));
    out.copy(bigger);
    out = bigger;
  }

  let headWriter = enabled ? openHeadWriter(headFile) : undefined;
  /** Seal the head; a line audited after close() (a request finishing during shutdown) is sealed too. */
  function seal(): void {
    const h = makeHead(written, prev, opts.sealKey);
    if (headWriter) headWriter.write(h);
    else if (enabled) writeHead(headFile, h);
  }
  if (enabled) {
    // Evidence of a broken seal goes into the chain itself, so every later verify reports it.
    if (resumed.problem) {
      append({ who: "system", action: SEAL_BROKEN, outcome: "error", reason: resumed.problem });
      flush();
      if (pending.length) throw new Error(`audit log ${file} is not writable`);
    } else if (!resumed.sealed) {
      seal(); // a new log: sealed from its first byte
    }
  }

  function append(fields: AuditFields): void {
    if (!enabled) return;
    const ts = isoNow();
    // Fields fieldsJson does not take are copied now (as a line made now would be), chained at the flush.
    queue(fieldsJson(fields) ?? { fields: JSON.parse(JSON.stringify(fields)) }, ts);
  }

  function appendJson(json: string): void {
    if (enabled) queue(json, isoNow());
  }

  function queue(entry: (typeof pending)[number], ts: string): void {
    seq++;
    pending.push(entry);
    stamps.push(ts);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  }

  const DONE = Promise.resolve();
  function synced(): Promise<void> {
    if (pending.length === 0) return DONE;
    if (!waiters) {
      let resolve!: () => void, reject!: (err: unknown) => void;
      const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
      waiters = { promise, resolve, reject };
    }
    if (!scheduled) { scheduled = true; setImmediate(flush); } // lines left by a failed try are tried again
    return waiters.promise;
  }

  function whenSynced(done: (err?: unknown) => void): void {
    if (pending.length === 0) { done(); return; }
    callbacks.push(done);
    if (!scheduled) { scheduled = true; setImmediate(flush); } // lines left by a failed try are tried again
  }

  return {
    file,
    append,
    appendJson,
    flush,
    synced,
    whenSynced,
    get queued() { return pending.length > 0; },
    integrity: resumed.problem,
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
            if (++lineNo > after && p) {
              // A damaged line (audit:verify names it) is skipped, never a crash of the reader.
              try { entries.push(JSON.parse(p)); } catch { /* skipped */ }
            }
            if (entries.length >= limit) break;
          }
        }
      } finally {
        closeSync(fd);
      }
      const lastSeq = entries.length ? entries[entries.length - 1].seq : after;
      return { entries, next: lastSeq < seq ? lastSeq : undefined };
    },
    close() {
      flush();
      headWriter?.close();
      headWriter = undefined;
      appender.close();
    },
  };
}
