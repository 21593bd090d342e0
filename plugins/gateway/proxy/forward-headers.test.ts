import { expect, test } from "bun:test";
import { headerBlock, setForwardingHeaders, stripHopByHop, type ForwardingInfo } from "./forward-headers";
import { PairHeaders } from "../../../src/lib/http1/pair-headers";

/** The block's lines as a Headers (repeated names joined), to compare with the Headers path. */
function linesOf(block: string): Record<string, string> {
  const h = new Headers();
  for (const line of block.split("\r\n")) {
    const c = line.indexOf(":");
    if (c > 0) h.append(line.slice(0, c), line.slice(c + 2));
  }
  return Object.fromEntries(h);
}

/** The reference: copy → strip hop-by-hop → set the forwarding headers (the fetch lane's Headers path). */
function reference(pairs: string[], f: ForwardingInfo): Record<string, string> {
  const h = new Headers();
  for (let i = 0; i < pairs.length; i += 2) h.append(pairs[i], pairs[i + 1]);
  stripHopByHop(h);
  h.delete("host");
  setForwardingHeaders(h, f);
  return Object.fromEntries(h);
}

test("the block's forwarding lines follow each request's own address, Host and chain, request after request", () => {
  // Requests alternate between clients, hosts and trust, so lines kept from an earlier request would show.
  const ips = ["10.0.0.1", "10.0.0.2", "2001:db8::7", "10.0.0.1"];
  const hosts: (string | null)[] = ["gw.local", "gw.local:8000", null, 'odd"host', "other.example"];
  let seed = 7;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  let compared = 0;
  for (let round = 0; round < 400; round++) {
    const ip = ips[rnd(ips.length)];
    const host = hosts[rnd(hosts.length)];
    const trustChain = rnd(2) === 1;
    const pairs: string[] = [];
    if (host !== null) pairs.push("host", host);
    pairs.push("accept", `v${rnd(9)}`);
    if (rnd(3) === 0) pairs.push("x-forwarded-for", "192.0.2.9");
    if (rnd(3) === 0) pairs.push("forwarded", "for=192.0.2.9;proto=https");
    const f: ForwardingInfo = { clientIp: ip, proto: rnd(4) === 0 ? "https" : "http", host, requestId: `r${round}`, traceparent: "00-" + "1".repeat(32) + "-" + "2".repeat(16) + "-01", trustChain };
    expect(linesOf(headerBlock(new PairHeaders(pairs), f, false))).toEqual(reference(pairs, f));
    compared++;
  }
  expect(compared).toBe(400);
});

test("a Host kept for the upstream comes before the forwarding lines, and a later request with no Host gets no x-forwarded-host", () => {
  const f = (host: string | null): ForwardingInfo => ({ clientIp: "10.0.0.3", proto: "http", host, requestId: "r", traceparent: "t", trustChain: false });
  const kept = headerBlock(new PairHeaders(["host", "a.example"]), f("a.example"), true);
  expect(kept.startsWith("host: a.example\r\nx-forwarded-for: 10.0.0.3\r\n")).toBe(true);
  expect(kept).toContain('forwarded: for=10.0.0.3;proto=http;host="a.example"\r\n');
  const none = headerBlock(new PairHeaders([]), f(null), true);
  expect(none).not.toContain("x-forwarded-host");
  expect(none).not.toContain("host=");
  expect(none).toContain("forwarded: for=10.0.0.3;proto=http\r\n");
});
