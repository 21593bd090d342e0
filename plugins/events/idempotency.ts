/**
 * Idempotency-Key records (as Stripe's idempotency keys): a key names one request; its record holds a
 * digest of the request's canonical body and the ids and stream positions the first request stored.
 * A repeat with the same body is answered from the record (the first event's ids, `duplicate: true`);
 * the same key with another body is 409 EV_ERR_IDEMPOTENCY_CONFLICT. "The body" is the events as the
 * publisher wrote them (type, payload and the envelope fields it gave), canonical JSON (keys sorted),
 * not the fields the server fills in (generated id, receive time, default source/correlation id) and
 * not headers (a retry may carry a new X-Request-Id).
 */

/** A stored record: digest of the body, event ids and stream ids of the first request. */
export interface IdemRecord {
  d: string;
  e: string[];
  s: string[];
}

/** JSON with object keys sorted at every level (so key order and whitespace do not change the digest). */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(v as object).sort();
  let out = "{";
  for (let i = 0; i < keys.length; i++) {
    const x = (v as Record<string, unknown>)[keys[i]];
    if (x === undefined) continue;
    if (out.length > 1) out += ",";
    out += `${JSON.stringify(keys[i])}:${canonicalJson(x)}`;
  }
  return out + "}";
}

/** The events of a POST /events body (one event, `{events: [...]}` or an array) as written. */
function itemsOf(body: unknown): unknown[] {
  if (Array.isArray(body)) return body;
  if (body && typeof body === "object" && Array.isArray((body as any).events) && !("type" in (body as any))) return (body as any).events;
  return [body];
}

/** sha256 (hex) of the canonical events of a body: a single event and a batch of that one event digest alike. */
export function bodyDigest(body: unknown): string {
  return new Bun.CryptoHasher("sha256").update(canonicalJson(itemsOf(body))).digest("hex");
}

/** Decodes a stored record; a record written before digests existed ("<sid>,<sid>") has no digest (never a conflict). */
export function decodeRecord(raw: string): IdemRecord {
  if (raw.startsWith("{")) return JSON.parse(raw) as IdemRecord;
  return { d: "", e: [], s: raw.split(",") };
}

export function encodeRecord(r: IdemRecord): string {
  return JSON.stringify(r);
}

/** The same key was used for another body (thrown by the stores, answered 409 by the publisher). */
export class IdempotencyConflictError extends Error {
  constructor(readonly original: IdemRecord) {
    super("Idempotency-Key already used for a different request body");
    this.name = "IdempotencyConflictError";
  }
}

/** The answer to a repeat of `rec` with a body of digest `digest`: the record, or a conflict. */
export function replayOf(rec: IdemRecord, digest: string | undefined): IdemRecord {
  if (rec.d && digest && rec.d !== digest) throw new IdempotencyConflictError(rec);
  return rec;
}
