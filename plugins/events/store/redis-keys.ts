/**
 * Redis key scheme (Redis Cluster safe).
 *
 * The main stream key is the stream name itself ("tradpal_events"), so the seed's debug command
 * `redis-cli XINFO STREAM tradpal_events` shows what the service writes. A key without braces hashes
 * as a whole, so its slot is CRC16("tradpal_events"). Every derived key puts the stream name in a hash
 * tag, "{tradpal_events}:dlq", whose slot is CRC16 of the tag, the same slot. Hence the Lua publish
 * script (stream + dedup keys) and MULTI batches only ever touch keys of one slot, and a cluster can
 * hold many streams on many nodes. Stream names must therefore not contain braces.
 */

export interface StreamKeys {
  stream: string;
  dlq: string;
  types: string;
  idemPrefix: string;
  /** Hash: group name → the group's type filter (fixed by its first subscription). */
  groupFilters: string;
}

export const STREAM_NAME_RE = /^[A-Za-z0-9_.:\-]{1,200}$/;

export function keysFor(stream: string): StreamKeys {
  if (!STREAM_NAME_RE.test(stream)) throw new Error(`invalid stream name ${JSON.stringify(stream)} (letters, digits, _ . : - only)`);
  const tag = `{${stream}}`;
  return { stream, dlq: `${tag}:dlq`, types: `${tag}:types`, idemPrefix: `${tag}:idem:`, groupFilters: `${tag}:gfilter` };
}

/** Field names of a stream entry (short, readable in redis-cli XRANGE). */
export const F = { id: "id", type: "type", source: "source", time: "time", cid: "cid", ver: "v", payload: "payload", tp: "tp" } as const;

/**
 * Publish script: dedup by request key and/or per-event id, then XADD each event, atomically.
 * KEYS[1] stream, KEYS[2] request idem key, KEYS[3..] per-event idem keys.
 * ARGV: windowMs, useRequestKey, useEventKeys, trimKind ("MAXLEN" | "MINID" | ""), trimArg, valuesPerEvent,
 * requestDigest (idempotency.ts; "" without a key), then per event the values of EVENT_FIELDS in order (the script adds the field names: half the arguments
 * to encode and send per event; valuesPerEvent 7 when no event of the call has a trace context, else 8 with an
 * empty tp left out of the entry).
 * Returns {0, "id1,id2,..."} when stored, {1, "id1,..."} when every event was a known id, {2, record}
 * when the request key is known (the record, JSON {d: digest, e: event ids, s: stream ids}: the caller
 * answers from it or refuses a different digest). Check and write happen in one script, so two
 * concurrent publishes with one key store one request.
 */
export const EVENT_FIELDS = [F.id, F.type, F.source, F.time, F.cid, F.ver, F.payload, F.tp] as const;
const NF = EVENT_FIELDS.length;
const fieldValues = (n: number) => EVENT_FIELDS.slice(0, n).map((f, j) => `'${f}', ARGV[base + ${j + 1}]`).join(", ");
/** Refuses a call whose values per event are neither count (a caller's bug: an ERR reply, not an outage). */
const CHECK_NF = `if nf ~= ${NF} and nf ~= ${NF - 1} then return redis.error_reply('ERR values per event must be ${NF - 1} or ${NF}') end`;
/**
 * XADD of the event whose values are ARGV[base + 1 ..] as `id`, the field names written out: no argument
 * table, loop or unpack per event. An empty tp value (no trace context) is not written: the entry has no tp
 * field at all. No trimming per XADD: TRIM_ONCE trims after the call's appends (redis-server CPU per event
 * ~7.1 → ~5.9 µs with 16 events per call, the bench's size, appendonly everysec).
 */
const XADD_EVENT = `if nf == ${NF} and ARGV[base + ${NF}] ~= '' then
      id = redis.call('XADD', KEYS[1], '*', ${fieldValues(NF)})
    else
      id = redis.call('XADD', KEYS[1], '*', ${fieldValues(NF - 1)})
    end`;
/** The call's one trim (approximate, as each XADD's was) once it appended anything. */
const TRIM_ONCE = (kind: string, arg: string) => `if fresh > 0 and ${kind} ~= '' then redis.call('XTRIM', KEYS[1], ${kind}, '~', ${arg}) end`;

export const PUBLISH_LUA = `
local window = tonumber(ARGV[1])
if ARGV[2] == '1' then
  local hit = redis.call('GET', KEYS[2])
  if hit then return {2, hit} end
end
local nf = tonumber(ARGV[6])
${CHECK_NF}
local n = (#ARGV - 7) / nf
local ids = {}
local eids = {}
local fresh = 0
for i = 0, n - 1 do
  local prev = false
  if ARGV[3] == '1' then prev = redis.call('GET', KEYS[3 + i]) end
  eids[#eids + 1] = ARGV[8 + i * nf]
  if prev then
    ids[#ids + 1] = prev
  else
    local base = 7 + i * nf
    local id
    ${XADD_EVENT}
    ids[#ids + 1] = id
    fresh = fresh + 1
    if ARGV[3] == '1' then redis.call('SET', KEYS[3 + i], id, 'PX', window) end
  end
end
${TRIM_ONCE("ARGV[4]", "ARGV[5]")}
local joined = table.concat(ids, ',')
if ARGV[2] == '1' then redis.call('SET', KEYS[2], cjson.encode({d = ARGV[7], e = eids, s = ids}), 'PX', window) end
if fresh == 0 and n > 0 then return {1, joined} end
return {0, joined}
`;

/**
 * The keyed publishes of one event-loop turn in one call (every typed-client publish carries an
 * Idempotency-Key): each request exactly as PUBLISH_LUA with useRequestKey=1, useEventKeys=0 would run
 * it, in order, so a later request of the call sees an earlier one's record (two publishes with one key
 * still store one request). KEYS[1] stream, KEYS[1 + r] request r's idem key. ARGV: trimKind, trimArg,
 * valuesPerEvent, then per request: windowMs, requestDigest, event count, the events' values.
 * Returns a flat list, two items per request: 0, "id1,id2,..." (stored) or 2, record (key known).
 */
export const PUBLISH_KEYED_LUA = `
local kind, arg = ARGV[1], ARGV[2]
local nf = tonumber(ARGV[3])
${CHECK_NF}
local fresh = 0
local out = {}
local p = 4
local r = 0
while p <= #ARGV do
  r = r + 1
  local window, digest, n = ARGV[p], ARGV[p + 1], tonumber(ARGV[p + 2])
  p = p + 3
  local hit = redis.call('GET', KEYS[1 + r])
  if hit then
    out[#out + 1] = 2
    out[#out + 1] = hit
  else
    local ids, eids = {}, {}
    for i = 0, n - 1 do
      local base = p + i * nf - 1
      eids[#eids + 1] = ARGV[base + 1]
      local id
      ${XADD_EVENT}
      ids[#ids + 1] = id
    end
    fresh = fresh + n
    redis.call('SET', KEYS[1 + r], cjson.encode({d = digest, e = eids, s = ids}), 'PX', window)
    out[#out + 1] = 0
    out[#out + 1] = table.concat(ids, ',')
  end
  p = p + n * nf
end
${TRIM_ONCE("kind", "arg")}
return out
`;
