/**
 * TEST-ONLY stand-in for the gateway's breaker contract (not a product plugin): announces its services on
 * "gateway.services", asks "breaker.permit" before each call (503 + Retry-After when refused, no upstream
 * traffic), calls the upstream with a timeout and settles the permit with every call's outcome.
 * GET /call/<service>/<path...> → <upstream of service>/<path...>
 */
import { Elysia } from "elysia";
import { Type } from "@sinclair/typebox";
import { definePlugin } from "../../src/core/plugin";
import { Duration } from "../../src/config/units";

export const CallerSchema = Type.Object(
  {
    services: Type.Array(Type.Object({ name: Type.String(), url: Type.String({ pattern: "^https?://" }) }, { additionalProperties: false }), { default: [] }),
    timeout: Duration({ default: "2s" }),
  },
  { additionalProperties: false },
);

export const callerPlugin = definePlugin({
  id: "caller",
  description: "test-only gateway stand-in for the breaker contract",
  defaultPort: 0,
  schema: CallerSchema,
  async provision(config, ctx) {
    const upstreams = new Map(config.services.map((s) => [s.name, s.url.replace(/\/$/, "")]));
    const timeoutMs = config.timeout as unknown as number;
    const app = new Elysia().all("/call/*", async ({ request, params }) => {
      const rest = (params as Record<string, string>)["*"] ?? "";
      const slash = rest.indexOf("/");
      const service = slash === -1 ? rest : rest.slice(0, slash);
      const path = slash === -1 ? "/" : rest.slice(slash);
      const base = upstreams.get(service);
      if (!base) return new Response(JSON.stringify({ error: { code: "CALLER_ERR_NO_SERVICE", message: service } }), { status: 404 });
      const permit = ctx.bus.service("breaker.permit")?.(service);
      if (permit && !permit.allowed) {
        return new Response(JSON.stringify({ error: { code: "GW_ERR_CIRCUIT_OPEN", message: `circuit for ${service} is ${permit.state}` } }), {
          status: 503,
          headers: { "content-type": "application/json", "retry-after": String(Math.max(1, Math.ceil(permit.retryAfterMs / 1000))) },
        });
      }
      const started = performance.now();
      try {
        const res = await fetch(base + path, { method: request.method, signal: AbortSignal.timeout(timeoutMs) });
        const body = await res.arrayBuffer();
        permit?.settle(res.status, performance.now() - started);
        return new Response(body, { status: res.status, headers: { "content-type": res.headers.get("content-type") ?? "application/octet-stream" } });
      } catch (err) {
        const name = (err as Error)?.name;
        const error = name === "TimeoutError" || name === "AbortError" ? "timeout" : /connect|ECONNREFUSED|Unable to connect/i.test(String(err)) ? "connect" : "other";
        permit?.settle(0, performance.now() - started, error);
        return new Response(JSON.stringify({ error: { code: "GW_ERR_UPSTREAM", message: error } }), { status: 502, headers: { "content-type": "application/json" } });
      }
    });
    return {
      app,
      async start() { ctx.bus.emit("gateway.services", { services: config.services.map((s) => ({ name: s.name, instances: [s.url] })) }); },
      async stop() {},
    };
  },
});

export default callerPlugin;
