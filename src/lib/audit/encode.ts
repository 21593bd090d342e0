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
 * The fields' JSON as a line takes it (LineSealer.line); undefined for fields naming a key the line sets
 * itself (seq, ts, prev, hash: sealLine merges those, so it makes that line).
 */
export function fieldsJson(fields: AuditFields): string | undefined {
  const own = fields as AuditFields & { seq?: unknown; ts?: unknown; prev?: unknown; hash?: unknown };
  if (own.seq !== undefined || own.ts !== undefined || own.prev !== undefined || own.hash !== undefined) return undefined;
  return JSON.stringify(fields);
}

const SEQ_KEY = Buffer.from('{"seq":', "latin1");
const TS_KEY = Buffer.from(',"ts":"', "latin1");
const PREV_KEY = Buffer.from(',"prev":"', "latin1");
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
  /** The last hash input's view of scratch: lines of one length (most, on a busy endpoint) reuse it. */
  private view: Buffer | undefined;
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
    if (hash.length * 3 + 1 > this.scratch.length) { this.scratch = Buffer.allocUnsafe(hash.length * 3 + 4096); this.view = undefined; }
    this.prevLen = this.scratch.write(hash, 0); // any text a damaged log's last line held, as sealLine takes it
    this.scratch[this.prevLen] = 10;
    this.prevText = hash;
  }

  /** Most bytes `line()` writes for fields JSON `json` stamped `ts` (the caller sizes the batch buffer). */
  maxBytes(ts: string, json: string): number {
    return (ts.length + json.length) * 3 + this.prevLen + 120;
  }

  /**
   * Append line `seq` at `out[at]`, with its newline: { seq, ts, <json's keys>, prev, hash } in that order,
   * `json` being the fields' JSON.stringify text (fieldsJson). Returns the new end.
   */
  line(seq: number, ts: string, json: string, out: Buffer, at: number): number {
    const start = this.prevLen + 1;
    const need = start + this.maxBytes(ts, json);
    if (need > this.scratch.length) this.grow(need);
    const s = this.scratch;
    let e = start + SEQ_KEY.copy(s, start);
    e += s.write("" + seq, e, "latin1");
    e += TS_KEY.copy(s, e);
    e += s.write(ts, e);
    s[e++] = 0x22; // "
    if (json.length > 2) { // the fields' keys go on from here: their "{" becomes a comma, their "}" is dropped
      const from = e;
      e += s.write(json, e) - 1;
      s[from] = 0x2c;
    }
    e += PREV_KEY.copy(s, e);
    e += s.copy(s, e, 0, this.prevLen); // the prev field's value
    s[e++] = 0x22; // "
    s[e++] = 0x7d; // }
    const d = this.digest;
    let v = this.view;
    if (v === undefined || v.length !== e) this.view = v = s.subarray(0, e);
    Bun.SHA256.hash(v, d);
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
    this.view = undefined;
  }
}
