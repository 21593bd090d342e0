/**
 * The audit line's bytes, made where they are written (the batch buffer), with the same text and hash
 * as chain.ts's sealLine: the format on disk does not change. append() keeps only the line's head
 * (`{"seq":N,"ts":"…",<fields>,"prev":"`, lineHead); the batch then lays out each line's hash input
 * (prev + "\n" + the line without its hash) as bytes, hashes them into a reused digest and writes the
 * line once, its hash hex-encoded in place (LineSealer). The string joins around the hash, the hex
 * string of each digest and a second UTF-8 encoding per line were ~half of a line's cost (measured).
 */
import { sealLine, type AuditFields } from "./chain";

/**
 * The line's text up to its prev hash, as sealLine writes it; undefined for fields naming a key the line
 * sets itself (seq, ts, prev, hash: sealLine merges those, so it makes that line).
 */
export function lineHead(seq: number, ts: string, fields: AuditFields): string | undefined {
  const own = fields as AuditFields & { seq?: unknown; ts?: unknown; prev?: unknown; hash?: unknown };
  if (own.seq !== undefined || own.ts !== undefined || own.prev !== undefined || own.hash !== undefined) return undefined;
  return headOfJson(seq, ts, JSON.stringify(fields));
}

/** lineHead for fields whose JSON (JSON.stringify's text of them, braces included) the caller has made. */
export function headOfJson(seq: number, ts: string, json: string): string {
  return '{"seq":' + seq + ',"ts":"' + ts + '"' + (json.length > 2 ? "," + json.slice(1, -1) : "") + ',"prev":"';
}

const HASH_KEY = Buffer.from(',"hash":"', "latin1");
const HEX = Buffer.from("0123456789abcdef", "latin1");

/**
 * Writes the lines of a batch into the batch buffer, each chained on the previous line's hash (`prev`).
 * The hash input (prev + "\n" + the line's JSON without its hash) is laid out in a scratch buffer that
 * starts with the last hash, so each line is one contiguous hash.
 */
export class LineSealer {
  private scratch = Buffer.allocUnsafe(4096);
  private digest = new Uint8Array(32);
  /** Bytes of the last hash at the start of scratch (a newline follows). */
  private prevLen = 0;
  /** The last hash as text; undefined until asked for (it is in scratch). */
  private prevText: string | undefined;

  constructor(prev: string) {
    this.prev = prev;
  }

  /** The hash the next line chains on; set it to start again from a hash (as after a failed batch). */
  get prev(): string {
    return (this.prevText ??= this.scratch.toString("utf8", 0, this.prevLen));
  }
  set prev(hash: string) {
    if (hash.length * 3 + 1 > this.scratch.length) this.scratch = Buffer.allocUnsafe(hash.length * 3 + 4096);
    this.prevLen = this.scratch.write(hash, 0); // any text a damaged log's last line held, as sealLine takes it
    this.scratch[this.prevLen] = 10;
    this.prevText = hash;
  }

  /** Most bytes `line(head)` writes (the caller sizes the batch buffer). */
  maxBytes(head: string): number {
    return head.length * 3 + this.prevLen + 80;
  }

  /** Append the line for `head` (lineHead's text) at `out[at]`, with its newline; returns the new end. */
  line(head: string, out: Buffer, at: number): number {
    const start = this.prevLen + 1;
    if (start + this.maxBytes(head) > this.scratch.length) this.grow(start + this.maxBytes(head));
    const s = this.scratch;
    let e = start + s.write(head, start);
    e += s.copy(s, e, 0, this.prevLen); // the prev field's value
    s[e++] = 0x22; // "
    s[e++] = 0x7d; // }
    const d = this.digest;
    Bun.SHA256.hash(s.subarray(0, e), d);
    at += s.copy(out, at, start, e - 1); // the line without its closing brace
    at += HASH_KEY.copy(out, at);
    const hex = at;
    for (let i = 0; i < 32; i++) {
      out[at++] = HEX[d[i] >> 4];
      out[at++] = HEX[d[i] & 15];
    }
    out[at++] = 0x22;
    out[at++] = 0x7d;
    out[at++] = 10;
    out.copy(s, 0, hex, hex + 64); // the next line's prev
    s[64] = 10;
    this.prevLen = 64;
    this.prevText = undefined;
    return at;
  }

  /** The text of a line sealLine makes (fields lineHead does not take), chained on like the others. */
  slowLine(seq: number, ts: string, fields: AuditFields): string {
    const { line, hash } = sealLine(seq, this.prev, fields, ts);
    this.prev = hash;
    return line;
  }

  private grow(need: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(need, this.scratch.length * 2));
    this.scratch.copy(bigger, 0, 0, this.prevLen + 1); // the last hash and its newline stay
    this.scratch = bigger;
  }
}
