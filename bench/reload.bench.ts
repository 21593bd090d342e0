/**
 * `bun run bench reload` (issue 19): the reload proof at full size — HTTP load, 100 WebSockets and 20 SSE
 * streams through the gateway, every message sequence-numbered, while config.yaml is rewritten 50 times
 * (other routes, the route in use, port moves, invalid files; test/support/reload-proof.ts). Writes the
 * "reload" section of bench/RESULTS.md: failed requests, unexpected closes, lost and reordered messages.
 */
import { proofPlan, proofUpstream, proveReloads } from "../test/support/reload-proof";
import { table, writeSection } from "./lib/results";

const REWRITES = Number(process.env.RELOAD_REWRITES ?? 50);
const EVERY_MS = Number(process.env.RELOAD_EVERY_MS ?? 400);
const up = proofUpstream();
try {
  const plan = proofPlan(REWRITES, up.port!);
  const t0 = performance.now();
  const { counts, lastGen } = await proveReloads(plan, { ws: 100, sse: 20, httpConcurrency: 16, rewriteEveryMs: EVERY_MS }, up.port!);
  const seconds = (performance.now() - t0) / 1000;
  const rows = [
    ["rewrites (applied / refused as invalid)", `${counts.reloads.ok} / ${counts.reloads.refused}`],
    ["port moves", plan.filter((p) => p.moved !== undefined).length],
    ["HTTP requests (16 closed-loop clients)", counts.requests],
    ["failed HTTP requests", `${counts.failedRequests}${counts.failedRequests ? ` ${JSON.stringify(counts.failures)}` : ""}`],
    ["WebSocket messages echoed (100 sockets)", counts.wsMessages],
    ["SSE messages (20 streams)", counts.sseMessages],
    ["lost messages", counts.lost],
    ["reordered messages", counts.reordered],
    ["unexpected closes", counts.unexpectedCloses],
    ["config serving at the end", lastGen ?? "?"],
  ];
  const md = table(["", "value"], rows);
  console.log(md);
  writeSection("reload", `## Reloads under load (the proof)

Command: \`bun run bench reload\` (bench/reload.bench.ts, driver test/support/reload-proof.ts). One gateway in the bench
process; a Bun upstream echoing WebSocket sequence numbers and streaming SSE ids every 20 ms. ${REWRITES} rewrites of the
gateway's config, one every ${EVERY_MS} ms, over ${seconds.toFixed(0)} s: other routes added and removed, the route in use
changed (timeout, a response header), the port moved every 6th time (clients follow within port_linger), every 5th
file invalid (refused; the running config keeps serving). drain_timeout and upgrade_grace 10 m: streams on a retired
port or a replaced instance keep running; reloads do not wait for them.

${md}
`);
  if (counts.failedRequests || counts.lost || counts.reordered || counts.unexpectedCloses) process.exitCode = 1;
} finally {
  up.stop(true);
}
