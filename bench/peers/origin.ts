// The fixed origin of bench/gateway.bench.ts: Bun.serve answering a 114-byte JSON body on every path.
//   bun run bench/peers/origin.ts <port>   (0 → prints the chosen port)
const body = JSON.stringify({ ok: true, service: "origin", items: [1, 2, 3], message: "hello from the benchmark origin", pad: "xxxxxxxxxxxxxxx" });
if (body.length !== 114) throw new Error(`origin body is ${body.length} bytes, expected 114`);
const server = Bun.serve({
  port: Number(process.argv[2] ?? 0),
  hostname: "127.0.0.1",
  fetch: () => new Response(body, { headers: { "content-type": "application/json" } }),
});
console.log(`origin listening ${server.port}`);
