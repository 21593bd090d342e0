/**
 * Reloads that drop nothing (issue 19), the short form of `bun run bench reload`: HTTP load, 20 WebSockets
 * and 5 SSE streams through the gateway, sequence-numbered both ways, while config.yaml is rewritten 15
 * times (test/support/reload-proof.ts: other routes added and removed, the route in use changed, the port
 * moved twice, three invalid files). 0 failed requests, 0 unexpected closes, 0 lost or reordered messages.
 */
import { afterAll, expect, test } from "bun:test";
import { proofPlan, proofUpstream, proveReloads } from "./support/reload-proof";

const up = proofUpstream();
afterAll(() => up.stop(true));

test("15 rewrites under HTTP load, 20 WebSockets and 5 SSE streams: nothing failed, closed, lost or reordered", async () => {
  const plan = proofPlan(15, up.port!);
  expect(plan.filter((p) => !p.valid).length).toBe(3);
  expect(plan.filter((p) => p.moved !== undefined).length).toBe(3); // the first rewrite moves it off port 0 too
  const { counts, lastGen } = await proveReloads(plan, { ws: 20, sse: 5, httpConcurrency: 8, rewriteEveryMs: 300 }, up.port!);
  console.log("reload proof:", JSON.stringify(counts));
  expect(counts.reloads).toEqual({ ok: 12, refused: 3 });
  expect(counts.failures).toEqual({});
  expect(counts.unexpectedCloses).toBe(0);
  expect(counts.lost).toBe(0);
  expect(counts.reordered).toBe(0);
  expect(counts.requests).toBeGreaterThan(500);
  expect(counts.wsMessages).toBeGreaterThan(20 * 50);
  expect(counts.sseMessages).toBeGreaterThan(5 * 100);
  expect(lastGen).toBe(`g${plan.findLastIndex((p) => p.valid)}`); // the last valid file is the one serving
}, 60_000);
