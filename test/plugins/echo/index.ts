/** A plugin for the host's own tests (not a product plugin): echoes its config and can be slow on demand. */
import { defineErrors } from "../../../src/core/errors";
import { Elysia } from "elysia";
import { Type } from "@sinclair/typebox";
import { definePlugin } from "../../../src/core/plugin";
import { Duration } from "../../../src/config/units";
import { httpConventions } from "../../../src/core/http";

export const EchoSchema = Type.Object(
  {
    greeting: Type.String({ default: "hello" }),
    slow_default: Duration({ default: "0ms" }),
    fail_start: Type.Boolean({ default: false }),
    items: Type.Array(Type.Object({ url: Type.String({ pattern: "^https?://" }), weight: Type.Integer({ minimum: 1, default: 1 }) }, { additionalProperties: false }), { default: [] }),
  },
  { additionalProperties: false },
);

let generation = 0;

/** TEST-ONLY catalogue: the convention codes every plugin catalogue has. */
const EchoErrors = defineErrors({ ECHO_ERR_VALIDATION: { status: 400, message: "request failed validation" }, ECHO_ERR_PARSE: { status: 400, message: "request body could not be parsed" }, ECHO_ERR_NOT_FOUND: { status: 404, message: "no route" }, ECHO_ERR_INTERNAL: { status: 500, message: "internal error" }, ECHO_ERR_REQUEST: { status: 400, message: "bad request" } });

export const echoPlugin = definePlugin({
  id: "echo",
  description: "test-only echo plugin",
  defaultPort: 0,
  schema: EchoSchema,
  async provision(config, ctx) {
    const gen = ++generation;
    const served = ctx.metrics.counter({ name: "served_total", help: "Requests served by the echo plugin." });
    let stopped = false;
    const app = new Elysia()
      .use(httpConventions({ errors: EchoErrors, log: ctx.log }))
      .get("/echo", () => { served.inc(); return { greeting: config.greeting, generation: gen }; })
      .get("/slow", async ({ query }) => {
        const ms = Number(query.ms ?? config.slow_default);
        await Bun.sleep(ms);
        served.inc();
        return { greeting: config.greeting, generation: gen, slept: ms };
      });
    return {
      app,
      async start() { if (config.fail_start) throw new Error("configured to fail at start"); },
      async stop() { stopped = true; },
      health: () => ({ ok: !stopped, checks: { generation: gen } }),
    };
  },
});

export default echoPlugin;
