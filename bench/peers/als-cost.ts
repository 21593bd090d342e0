/**
 * The request context's own cost (src/core/request-context.ts), apart from any server: CPU ns per simulated
 * request (5 awaits) run plainly in a process that never uses AsyncLocalStorage, or inside runInRequest with a
 * fresh RequestContext each time. `bun bench/peers/als-cost.ts plain|context` prints the median of 7 runs.
 */
import { RequestContext, runInRequest } from "../../src/core/request-context";

const mode = process.argv[2] === "context" ? "context" : "plain";
const headers = new Headers({ "x-request-id": "bench" });
async function chain(k: number) { for (let i = 0; i < k; i++) await null; }
async function handle(_a: unknown, _b: unknown) { await chain(5); return 1; }
const N = 300_000;
const runs: number[] = [];
for (let r = 0; r < 7; r++) {
  const t = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    if (mode === "context") await runInRequest(new RequestContext(headers), handle, undefined, undefined);
    else await handle(undefined, undefined);
  }
  const u = process.cpuUsage(t);
  runs.push(((u.user + u.system) * 1000) / N);
}
runs.sort((a, b) => a - b);
console.log(JSON.stringify({ mode, ns: runs[3] }));
