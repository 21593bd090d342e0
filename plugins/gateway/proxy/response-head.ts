/**
 * Stage 6 of the walk, relay — the response head the client gets: the upstream's fields without
 * hop-by-hop ones, our X-Request-Id, the route's response program, the edge's headers (rate limit
 * state...), a Date when the upstream sent none. One definition for every lane: as lines appended to
 * relayed bytes, as a head rewritten from strings, or on a Headers object.
 */
import type { ResponseHead } from "../../../src/lib/http1/head";
import { dateLine } from "../../../src/lib/http1/date";
import { FRAMING_FIELDS, HOP_BY_HOP, isHopOrFraming } from "../../../src/lib/http1/hop-by-hop";
import { applyHeaderProgram, applyHeaderProgramToPairs } from "../transforms";
import type { CompiledRoute } from "./compiled-route";
import type { Call } from "./pipeline";

/** Response fields never relayed as they came: hop-by-hop (framing is re-decided apart) and the ones the gateway sets itself. */
const DROP_RESPONSE = new Set([...HOP_BY_HOP, "x-request-id"].filter((n) => !FRAMING_FIELDS.has(n)));

/** The edge's response headers as lines. */
function edgeLines(call: Call): string {
  const extra = call.decision?.responseHeaders;
  let out = "";
  if (extra !== undefined) for (let i = 0; i < extra.length; i++) out += extra[i][0] + ": " + extra[i][1] + "\r\n";
  return out;
}

/** The common case: lines appended to the upstream's own (copied as bytes, hop-by-hop lines dropped by the scan). */
export function appendedLines(call: Call, upstreamHasDate: boolean, close: boolean): string {
  let extra = "x-request-id: " + call.requestId + "\r\n";
  if (!upstreamHasDate) extra += dateLine(); // RFC 9110 §6.6.1: a forwarded response without Date gets one
  extra += edgeLines(call);
  if (close) extra += "connection: close\r\n";
  return extra;
}

/** A 101's head: the upstream's lines (Connection/Upgrade kept: they are this hop's answer), our request id, edge headers. */
export function switchHead(call: Call, r: ResponseHead): string {
  let out = "HTTP/1.1 " + r.statusLine.slice(9) + "\r\n";
  const p = r.pairs;
  for (let i = 0; i < p.length; i += 2) {
    const name = p[i];
    if (name === "x-request-id" || (isHopOrFraming(name) && name !== "connection" && name !== "upgrade")) continue;
    out += name + ": " + p[i + 1] + "\r\n";
  }
  return out + "x-request-id: " + call.requestId + "\r\n" + edgeLines(call) + "\r\n";
}

/** The upstream's head rewritten from strings (a response program, odd Connection tokens). */
export function rewrittenHead(call: Call, route: CompiledRoute, r: ResponseHead, close: boolean): string {
  let out = "HTTP/1.1 " + r.statusLine.slice(9) + "\r\n";
  const p = r.pairs;
  const tokens = r.connectionTokens;
  const program = route.transforms.response;
  if (program === undefined) {
    for (let i = 0; i < p.length; i += 2) {
      const name = p[i];
      if (DROP_RESPONSE.has(name) || (tokens !== undefined && tokens.includes(name))) continue;
      out += name + ": " + p[i + 1] + "\r\n";
    }
    out += "x-request-id: " + call.requestId + "\r\n";
  } else {
    // The program sees what the fetch lane's Headers would hold; framing fields stay out of its reach.
    let pairs: string[] = [];
    for (let i = 0; i < p.length; i += 2) {
      const name = p[i];
      if (DROP_RESPONSE.has(name) || (tokens !== undefined && tokens.includes(name))) continue;
      if (FRAMING_FIELDS.has(name)) out += name + ": " + p[i + 1] + "\r\n";
      else pairs.push(name, p[i + 1]);
    }
    pairs.push("x-request-id", call.requestId);
    pairs = applyHeaderProgramToPairs(pairs, program);
    for (let i = 0; i < pairs.length; i += 2) out += pairs[i] + ": " + pairs[i + 1] + "\r\n";
  }
  // The upstream's own Date is kept (or left to the program); a response that had none gets ours.
  let hasDate = false;
  for (let i = 0; i < p.length; i += 2) if (p[i] === "date") { hasDate = true; break; }
  if (!hasDate) out += dateLine();
  out += edgeLines(call);
  if (close) out += "connection: close\r\n";
  return out + "\r\n";
}

/** The same on a Headers object (already free of hop-by-hop fields): an answer that came as a Response. */
export function answerHeaders(rh: Headers, call: Call, route: CompiledRoute): Headers {
  rh.set("x-request-id", call.requestId);
  if (route.transforms.response) applyHeaderProgram(rh, route.transforms.response);
  const extra = call.decision?.responseHeaders;
  if (extra) for (let i = 0; i < extra.length; i++) rh.append(extra[i][0], extra[i][1]);
  return rh;
}
