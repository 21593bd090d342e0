/** The one W3C traceparent rule (parse, format, random ids), used by the gateway's hop, the spans and the log context. */
import { expect, test } from "bun:test";
import { formatTraceparent, newTraceparent, parseTraceparent, randomHex } from "./context";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";

test("a valid header parses into trace id, parent span and the sampled flag", () => {
  expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
  expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)?.sampled).toBe(false);
  expect(parseTraceparent(` 00-${TRACE}-${SPAN}-03 `)?.sampled).toBe(true); // other flag bits kept out, whitespace trimmed
});

test("malformed or all-zero ids are refused (a new trace starts instead)", () => {
  for (const bad of [null, undefined, "", "garbage", `00-${TRACE}-${SPAN}`, `00-${TRACE.toUpperCase()}-${SPAN}-01`, `00-${"0".repeat(32)}-${SPAN}-01`, `00-${TRACE}-${"0".repeat(16)}-01`, `00-${TRACE}x-${SPAN}-01`]) {
    expect(parseTraceparent(bad as string)).toBeUndefined();
  }
});

test("format is parse's inverse; random ids are lowercase hex of the asked length and do not repeat", () => {
  const tp = formatTraceparent(TRACE, SPAN, false);
  expect(tp).toBe(`00-${TRACE}-${SPAN}-00`);
  expect(parseTraceparent(tp)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: false });
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) { const id = randomHex(i % 2 ? 16 : 32); expect(id).toMatch(i % 2 ? /^[0-9a-f]{16}$/ : /^[0-9a-f]{32}$/); seen.add(id); }
  expect(seen.size).toBe(2000);
});

test("a new traceparent is a valid sampled header, its trace id at [3, 35), none repeating across refills", () => {
  const traces = new Set<string>();
  const spans = new Set<string>();
  for (let i = 0; i < 1000; i++) { // ~16 refills of 64
    const tp = newTraceparent();
    const p = parseTraceparent(tp);
    expect(p).toBeDefined();
    expect(p!.sampled).toBe(true);
    expect(tp.slice(3, 35)).toBe(p!.traceId);
    expect(formatTraceparent(p!.traceId, p!.spanId, true)).toBe(tp);
    traces.add(p!.traceId);
    spans.add(p!.spanId);
  }
  expect(traces.size).toBe(1000);
  expect(spans.size).toBe(1000);
});
