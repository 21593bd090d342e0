// fastify + @fastify/http-proxy: the reverse proxy a Node user would pick. Run by bench/gateway.bench.ts:
//   node bench/peers/fastify-proxy.mjs <port> <originPort>
import Fastify from "fastify";
import proxy from "@fastify/http-proxy";

const [port, originPort] = process.argv.slice(2).map(Number);
const app = Fastify({ logger: false });
await app.register(proxy, { upstream: `http://127.0.0.1:${originPort}`, prefix: "/api", rewritePrefix: "/api", http: {} });
await app.listen({ port, host: "127.0.0.1" });
