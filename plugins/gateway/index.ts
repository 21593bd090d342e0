/**
 * The gateway plugin (port 8000): routing, service registry, load balancing, health checks, retries,
 * transformations and a streaming reverse proxy, with the edge policy (auth/, ratelimit/, edge-policy/)
 * called through edge-policy/contract.ts. Wiring lives in provision.ts; this file is the definition only.
 */
import { definePlugin } from "../../src/core/plugin";
import { GatewaySchema } from "./schema";
import { provisionGateway } from "./provision";

export default definePlugin({
  id: "gateway",
  description: "API gateway: routing, load balancing, health checks, retries, transformations, streaming proxy",
  defaultPort: 8000,
  schema: GatewaySchema,
  // Hosted together, security starts first so the edge's JWKS fetch at start finds it up; with
  // --only gateway the dependency is hosted elsewhere and the gateway starts alone.
  dependsOn: ["security"],
  // The listener accepts large streamed uploads; the configured max_body_size (413) is enforced by the proxy.
  serve: { maxRequestBodySize: 8 * 1024 ** 3, idleTimeout: 120, wire: true },
  provision: (config, ctx) => provisionGateway(config, ctx),
});
