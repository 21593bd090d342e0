/**
 * The audit log's hash chain (pure): each line is a JSON object whose `hash` is
 * sha256(prev_hash + "\n" + the line's JSON without `hash`), and whose `prev` is the previous line's hash.
 * Editing, inserting, removing or reordering a line breaks the chain at that line.
 */
export const GENESIS = "0".repeat(64);

export interface AuditFields {
  who: string;
  action: string;
  target?: string;
  outcome: "ok" | "denied" | "error" | "invalid";
  request_id?: string;
  /** HMAC-SHA256 of a secret value (never the value). */
  value_hmac?: string;
  /** The versions (or other numbered items) an operation acted on. */
  versions?: number[];
  reason?: string;
}

export interface AuditEntry extends AuditFields {
  seq: number;
  ts: string;
  prev: string;
  hash: string;
}

/** sha256(prev + "\n" + body) in hex (UTF-8). The one-shot Bun.SHA256 costs ~half a reused CryptoHasher's update + digest, and this runs per audited call. */
export function chainHash(prev: string, bodyJson: string): string {
  return Bun.SHA256.hash(prev + "\n" + bodyJson, "hex") as string;
}

/**
 * Build the next line (without trailing newline): the JSON of { seq, ts, ...fields, prev } in that key
 * order, spliced from the fields' own JSON (no merged copy per line; verifyChain re-serialises the parsed
 * line, which gives the same text).
 */
export function sealLine(seq: number, prev: string, fields: AuditFields, ts = new Date().toISOString()): { line: string; hash: string } {
  const own = fields as AuditFields & { seq?: unknown; ts?: unknown; prev?: unknown; hash?: unknown };
  // A field named like a chain key would override it in the merged object: that rare line takes the slow path.
  const reserved = own.seq !== undefined || own.ts !== undefined || own.prev !== undefined || own.hash !== undefined;
  const inner = JSON.stringify(fields);
  const json = reserved ? JSON.stringify({ seq, ts, ...fields, prev })
    : `{"seq":${seq},"ts":"${ts}",${inner.length > 2 ? `${inner.slice(1, -1)},` : ""}"prev":"${prev}"}`;
  const hash = chainHash(prev, json);
  return { line: `${json.slice(0, -1)},"hash":"${hash}"}`, hash };
}

export type VerifyResult = { ok: true; lines: number; last: string } | { ok: false; line: number; reason: string };

/** Check every line of a log's text; `from` continues a chain (the text then starts at line from.lines + 1). */
export function verifyChain(text: string, from: { lines: number; last: string } = { lines: 0, last: GENESIS }): VerifyResult {
  let prev = from.last;
  let n = from.lines;
  for (const raw of text.split("\n")) {
    if (raw === "") continue;
    n++;
    let entry: Record<string, unknown>;
    try { entry = JSON.parse(raw); } catch { return { ok: false, line: n, reason: "not JSON" }; }
    const { hash, ...body } = entry;
    if (typeof hash !== "string") return { ok: false, line: n, reason: "no hash" };
    if (body.prev !== prev) return { ok: false, line: n, reason: "prev does not match the previous line's hash (line removed, inserted or reordered)" };
    if (body.seq !== n) return { ok: false, line: n, reason: `seq ${body.seq} where ${n} was expected` };
    if (chainHash(prev, JSON.stringify(body)) !== hash) return { ok: false, line: n, reason: "hash does not match the line's content (line edited)" };
    prev = hash;
  }
  return { ok: true, lines: n, last: prev };
}
