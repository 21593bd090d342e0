// The origin of bench/gateway-tls.bench.ts: bench/peers/origin.ts's 114-byte JSON over TLS that requires a
// client certificate from the given CA (what a platform listener does with host.mtls.enabled).
//   bun run bench/peers/origin-tls.ts <port> <cert.pem> <key.pem> <ca.pem>
import { readFileSync } from "node:fs";
const body = JSON.stringify({ ok: true, service: "origin", items: [1, 2, 3], message: "hello from the benchmark origin", pad: "xxxxxxxxxxxxxxx" });
const [port, cert, key, ca] = process.argv.slice(2);
const server = Bun.serve({
  port: Number(port), hostname: "127.0.0.1",
  tls: { cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8"), ca: readFileSync(ca, "utf8"), requestCert: true, rejectUnauthorized: true },
  fetch: () => new Response(body, { headers: { "content-type": "application/json" } }),
});
console.log(`origin (mTLS) listening ${server.port}`);
