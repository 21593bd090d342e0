/**
 * An upstream for bench/chaos.bench.ts that can be told to turn slow.
 *   bun run bench/peers/chaos-origin.ts <port>
 * GET /health answers at once, always: the bench models an instance whose application is stuck (a slow
 * database, a GC storm) while its cheap health probe still passes, which only passive outlier detection
 * and per-try timeouts can catch. POST /control {"delayMs": n} sets the delay of every other path
 * (0 restores it); /control itself is never delayed, so the bench can always reach it.
 */
export {}; // a module: top-level await, and names that do not collide with the other peer scripts
const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) throw new Error("usage: chaos-origin.ts <port>");
let delayMs = 0;
const body = JSON.stringify({ ok: true, port });
Bun.serve({
  port,
  hostname: "127.0.0.1",
  async fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/health") return new Response("ok");
    if (path === "/control" && req.method === "POST") {
      const b = (await req.json()) as { delayMs?: number };
      delayMs = Math.max(0, Number(b.delayMs ?? 0));
      return Response.json({ delayMs });
    }
    if (delayMs > 0) await Bun.sleep(delayMs);
    return new Response(body, { headers: { "content-type": "application/json" } });
  },
});
console.log(`chaos-origin ${port}`);
