/**
 * The audit log's head seal: the chain's line count and last hash, kept beside the log (`audit.log` →
 * `audit.head`, 0600) and rewritten in place after each batch (one small positioned write). The chain alone cannot see
 * its own tail removed; the seal can. With a key (the owning plugin's) the seal is an HMAC, so whoever can
 * edit the files but lacks the key cannot rewrite log and seal together; without one it is a plain hash.
 */
import { timingSafeEqual } from "node:crypto";
import { closeSync, existsSync, fchmodSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";

export interface AuditHead {
  v: 1;
  /** Lines in the log when sealed. */
  lines: number;
  /** The hash of line `lines` (GENESIS for an empty log). */
  last: string;
  ts: string;
  keyed: boolean;
  mac: string;
}

/** `x/audit.log` → `x/audit.head`; any other name gets `.head` appended. */
export function headFileOf(logFile: string): string {
  return logFile.endsWith(".log") ? `${logFile.slice(0, -4)}.head` : `${logFile}.head`;
}

/** Bun's hasher (HMAC when keyed): the same digest as node:crypto's createHmac/createHash at ~half the cost, paid once per batch. */
function macOf(key: Buffer | undefined, lines: number, last: string, ts: string): string {
  const msg = `tradpal-audit-head v1\n${lines}\n${last}\n${ts}`;
  return (key ? new Bun.CryptoHasher("sha256", key) : new Bun.CryptoHasher("sha256")).update(msg).digest("hex");
}

export function makeHead(lines: number, last: string, key: Buffer | undefined, now = new Date()): AuditHead {
  const ts = now.toISOString();
  return { v: 1, lines, last, ts, keyed: key !== undefined, mac: macOf(key, lines, last, ts) };
}

const RECORD = 512;

/**
 * The seal's writer: one pwrite of a fixed 512-byte record at offset 0 of a file kept open (0600). A
 * single write of less than a sector is never left half-done by a process crash, and costs ~1 µs where a
 * tmp + rename costs ~340 µs on ext4 (rename over a file forces a flush). Readers retry a torn read.
 */
export function openHeadWriter(file: string): { write(head: AuditHead): void; close(): void } {
  const fd = openSync(file, existsSync(file) ? "r+" : "w", 0o600);
  fchmodSync(fd, 0o600); // an existing, looser file is tightened
  ftruncateSync(fd, RECORD);
  let closed = false;
  const record = Buffer.allocUnsafe(RECORD); // reused: one record per batch
  return {
    write(head) {
      if (closed) return;
      const text = JSON.stringify(head);
      if (text.length >= RECORD) throw new Error("audit head record too large");
      const n = record.write(text, 0, RECORD - 1, "utf8");
      record.fill(32, n, RECORD - 1);
      record[RECORD - 1] = 10;
      writeSync(fd, record, 0, RECORD, 0);
    },
    close() {
      if (closed) return;
      closed = true;
      closeSync(fd);
    },
  };
}

/** Write a seal once (tests and tools; the log keeps a writer open). */
export function writeHead(file: string, head: AuditHead): void {
  const w = openHeadWriter(file);
  try { w.write(head); } finally { w.close(); }
}

export type HeadRead = { ok: true; head: AuditHead } | { ok: false; missing: boolean; reason: string };

/** Read and check a seal: well-formed, and its MAC right for `key` (or, without a key, its plain hash). */
export function readHead(file: string, key: Buffer | undefined): HeadRead {
  if (!existsSync(file)) return { ok: false, missing: true, reason: `no seal file ${file}` };
  let h: AuditHead;
  try { h = JSON.parse(readFileSync(file, "utf8")); } catch { return { ok: false, missing: false, reason: `the seal file ${file} is not valid JSON` }; }
  if (!h || h.v !== 1 || !Number.isInteger(h.lines) || h.lines < 0 || typeof h.last !== "string" || typeof h.mac !== "string" || typeof h.ts !== "string") {
    return { ok: false, missing: false, reason: `the seal file ${file} is malformed` };
  }
  if (h.keyed && !key) return { ok: false, missing: false, reason: `the seal is keyed and no key was given to check it` };
  if (!h.keyed && key) return { ok: false, missing: false, reason: `the seal carries no MAC although the log is keyed (rewritten by someone without the key)` };
  const want = Buffer.from(macOf(key, h.lines, h.last, h.ts));
  const got = Buffer.from(h.mac);
  if (want.length !== got.length || !timingSafeEqual(want, got)) {
    return { ok: false, missing: false, reason: `the seal's ${key ? "MAC" : "hash"} does not match its content (forged, or written with another key)` };
  }
  return { ok: true, head: h };
}
