/**
 * Body limits of the events plugin, applied before anything else touches a request body:
 *   1. size: Content-Length above the limit is refused before a byte is read; a body without one
 *      (chunked) is read only up to the limit, then refused. Either way 413 with `Connection: close`,
 *      so the rest of an oversize body is neither buffered nor drained.
 *   2. depth: a linear scan of the raw text that stops at the first level too deep (a 1 MB "[[[[…"
 *      costs microseconds and never reaches JSON.parse, TypeBox or JSON.stringify, whose recursion
 *      is what used to end in a 500).
 *   3. parse: JSON.parse; a RangeError from it is still "too deep", never a 500.
 */
import type { CodedError } from "../../src/core/errors";
import { EventErrors } from "./errors";
import type { EventsConfig } from "./schema";
import type { EventMetrics } from "./metrics";

/** The most a body may be at all: the listener's own maxRequestBodySize (serve in index.ts). */
export const LISTENER_BODY_LIMIT = 16 * 1024 * 1024;

const CLOSE = { connection: "close" };
const decoder = new TextDecoder();

export type TooLarge = (message: string, where?: string, details?: unknown, headers?: Record<string, string>) => CodedError;

export interface Body {
  text: string;
  /** Bytes actually read. */
  bytes: number;
}

/** The 413 for a body over `limit`; `Connection: close`, so the rest of it is neither buffered nor drained. */
function overLimit(tooLarge: TooLarge, size: string, what: string, limit: number): CodedError {
  return tooLarge(`${size} is larger than ${what} (${limit} bytes)`, "body", undefined, CLOSE);
}

/** Read a request body as UTF-8 text, refusing it (413 from `tooLarge`) once it is over `limit` bytes. */
export async function readBody(req: Request, limit: number, tooLarge: TooLarge, what: string): Promise<Body> {
  const refuse = (n: string) => overLimit(tooLarge, n, what, limit);
  const cl = req.headers.get("content-length");
  if (cl !== null) {
    const declared = Number(cl);
    if (declared > limit) throw refuse(`a body of ${declared} bytes`);
    const buf = await req.bytes();
    // Cannot happen behind Bun's framing; checked so a front that frames differently cannot bypass the limit.
    if (buf.byteLength > limit) throw refuse(`a body of ${buf.byteLength} bytes`);
    return { text: decoder.decode(buf), bytes: buf.byteLength };
  }
  if (!req.body) return { text: "", bytes: 0 };
  const reader = req.body.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > limit) {
      reader.cancel().catch(() => undefined);
      throw refuse(`a chunked body of more than ${limit} bytes`);
    }
    parts.push(value);
  }
  return { text: decoder.decode(parts.length === 1 ? parts[0] : Buffer.concat(parts, n)), bytes: n };
}

/**
 * The same for a body that arrived whole (the raw HTTP/1.1 lane): `declared` is its Content-Length
 * (-1: none), `bytes` its bytes (null: none). Decoded now: the bytes belong to the connection's buffer.
 */
export function wholeBody(declared: number, bytes: Uint8Array | null, limit: number, tooLarge: TooLarge, what: string): Body {
  if (declared > limit) throw overLimit(tooLarge, `a body of ${declared} bytes`, what, limit);
  if (bytes === null) return { text: "", bytes: 0 };
  return { text: decoder.decode(bytes), bytes: bytes.byteLength };
}

/**
 * Deepest nesting of `[`/`{` outside strings in a JSON text, without parsing it. Returns as soon as
 * the depth passes `limit` (so the result is at most limit + 1). Linear: a string is skipped with
 * indexOf, and each backslash run before a quote is looked at once.
 */
export function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (;;) {
        const q = text.indexOf('"', i + 1);
        if (q === -1) return max; // unterminated string: JSON.parse refuses it
        let b = q - 1;
        while (text.charCodeAt(b) === 0x5c) b--;
        i = q;
        if ((q - 1 - b) % 2 === 0) break; // an even run of backslashes: the quote ends the string
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) { max = depth; if (max > limit) return max; }
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return max;
}

/** True when a parsed value nests at most `max` levels, counting `value` itself as level `start`. No recursion. */
export function withinDepth(value: unknown, max: number, start = 1): boolean {
  if (value === null || typeof value !== "object") return true;
  const stack: object[] = [value];
  const levels: number[] = [start];
  while (stack.length > 0) {
    const v = stack.pop() as Record<string, unknown> | unknown[];
    const level = levels.pop()!;
    if (level > max) return false;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x: unknown = v[i];
        if (x !== null && typeof x === "object") { stack.push(x); levels.push(level + 1); }
      }
      continue;
    }
    for (const k in v) {
      const x = v[k];
      if (x !== null && typeof x === "object") { stack.push(x); levels.push(level + 1); }
    }
  }
  return true;
}

export function tooDeep(maxDepth: number, where = "/"): CodedError {
  return EventErrors.EV_ERR_TOO_DEEP(`JSON nested deeper than max_depth (${maxDepth} levels, the event object being level 1)`, where);
}

/** JSON.parse after the depth scan; `scanLimit` is the deepest the text may be. Returns the value and the text's depth. */
export function parseJson(text: string, scanLimit: number, maxDepth: number): { value: unknown; depth: number } {
  const depth = jsonDepth(text, scanLimit);
  if (depth > scanLimit) throw tooDeep(maxDepth);
  try {
    return { value: JSON.parse(text), depth };
  } catch (err) {
    if (err instanceof RangeError) throw tooDeep(maxDepth);
    throw EventErrors.EV_ERR_PARSE();
  }
}

/** Routes whose body is one event's payload (level 2 of an event), with the envelope an event of that type adds. */
const PAYLOAD_BODIES = new Map([
  ["/events/market-data", "market.data_update"],
  ["/events/trading-signal", "trading.signal"],
].map(([path, type]) => [path, `{"type":"${type}","payload":}`.length]));

/** Elysia wraps whatever a parse hook throws in its own ParseError: the refusal travels as the body instead. */
class Refusal {
  constructor(readonly error: unknown) {}
}

/**
 * Elysia hooks for every body-taking route of the app (the typed shortcuts, ack, replay). A typed
 * route's body is a payload: with its envelope it must fit max_event_size, and it starts at level 2.
 * Other bodies: max_event_size, depth from level 1. Any content type is read as JSON, as on POST
 * /events. An empty body parses to null (the routes answer their own 400).
 */
export function boundedJsonParser(cfg: EventsConfig, metrics: EventMetrics) {
  const parse = async ({ request, path }: { request: Request; path: string }): Promise<unknown> => {
    const envelope = PAYLOAD_BODIES.get(path);
    try {
      if (envelope === undefined) {
        const body = await readBody(request, cfg.max_event_size, EventErrors.EV_ERR_BODY_TOO_LARGE, "max_event_size");
        return body.bytes === 0 ? null : parseJson(body.text, cfg.max_depth, cfg.max_depth).value;
      }
      const body = await readBody(request, cfg.max_event_size - envelope, EventErrors.EV_ERR_EVENT_TOO_LARGE, `max_event_size less the ${envelope}-byte envelope`);
      return body.bytes === 0 ? null : parseJson(body.text, cfg.max_depth - 1, cfg.max_depth).value;
    } catch (err) {
      countRefusal(metrics, err);
      return new Refusal(err);
    }
  };
  const refuse = ({ body }: { body: unknown }) => {
    if (body instanceof Refusal) throw body.error;
  };
  return { parse, refuse };
}

/** rejected_total{reason="too_large"|"too_deep"} for the limits above. */
export function countRefusal(metrics: EventMetrics, err: unknown): void {
  const code = (err as CodedError | undefined)?.code;
  if (code === "EV_ERR_EVENT_TOO_LARGE" || code === "EV_ERR_BODY_TOO_LARGE") metrics.rejected("too_large");
  else if (code === "EV_ERR_TOO_DEEP") metrics.rejected("too_deep");
}
