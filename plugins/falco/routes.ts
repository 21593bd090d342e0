/**
 * The falco plugin's HTTP surface. Intake (POST /, /falco/alerts, /test) runs in intake.ts, ahead of
 * Elysia (createFetch); the routes here document it and serve everything else. GET /health and
 * GET /metrics are the host's.
 */
import { Elysia, t } from "elysia";
import type { AnyElysia } from "elysia";
import { httpConventions } from "../../src/core/http";
import type { Logger } from "../../src/core/log";
import { bearerOf, sameSecret } from "./admin";
import { FalcoErrors } from "./errors";
import type { createIntake } from "./intake";
import type { OutputLane } from "./outputs/queue";
import type { Pipeline } from "./pipeline";
import { matches, parseQuery } from "./query";
import type { Responder } from "./response";
import { groupView, rawView } from "./views";

export interface RouteDeps {
  pipeline: Pipeline;
  responder: Responder;
  lanes: OutputLane[];
  intake: ReturnType<typeof createIntake>;
  adminToken: string;
  log: Logger;
}

const SERVICE_RE = /^[A-Za-z0-9._-]{1,128}$/;
const MAX_LIMIT = 1000;

export function falcoRoutes(d: RouteDeps) {
  const { pipeline, responder } = d;
  const intakeDoc = { parse: "none" as const, detail: { summary: "Falco alert intake (falcosidekick-compatible): one alert or an array" } };
  return new Elysia()
    .use(httpConventions({ errors: FalcoErrors, log: d.log }))
    .post("/", ({ request }) => d.intake.alerts(request), intakeDoc)
    .post("/falco/alerts", ({ request }) => d.intake.alerts(request), intakeDoc)
    .post("/test", ({ request }) => d.intake.test(request), { detail: { summary: "Send falcosidekick's test alert to every output" } })
    .get("/ping", () => new Response("pong\n", { headers: { "content-type": "text/plain; charset=utf-8" } }))
    .get("/healthz", () => ({ status: "ok" }))
    .get("/falco/alerts", ({ request }) => {
      const q = parseQuery(new URL(request.url).searchParams, MAX_LIMIT);
      const now = Date.now();
      const out: unknown[] = [];
      let matched = 0;
      if (q.folded) {
        for (const g of pipeline.groups.newest()) {
          if (!matches(q, { rule: g.rule, priority: g.priority, service: g.sample.service, time: g.last })) continue;
          matched++;
          if (out.length < q.limit) out.push(groupView(g, now));
        }
      } else {
        for (const a of pipeline.raw.newest()) {
          if (!matches(q, a)) continue;
          matched++;
          if (out.length < q.limit) out.push(rawView(a));
        }
      }
      return { folded: q.folded, alerts: out, count: out.length, matched, kept: q.folded ? pipeline.groups.size : pipeline.raw.size, total: q.folded ? pipeline.groups.total : pipeline.raw.total };
    })
    .get("/falco/stats", () => ({
      received: pipeline.raw.total,
      folded: pipeline.dedup.folded,
      groups: { total: pipeline.groups.total, open: pipeline.dedup.open.size },
      notifications: pipeline.notices,
      by_priority: pipeline.byPriority,
      by_rule: Object.fromEntries([...pipeline.byRule.entries()].sort((a, b) => b[1] - a[1]).slice(0, 50)),
      outputs: Object.fromEntries(d.lanes.map((l) => [l.s.name, { type: l.s.type, minimum_priority: l.s.minimumPriority, ...l.stats() }])),
      quarantined: [...responder.records.values()].map((r) => ({ service: r.service, mode: r.mode, since: r.since })),
    }))
    .get("/falco/quarantine", () => ({ services: [...responder.records.values()] }))
    .post("/falco/quarantine/:service/lift", ({ params, request }) => {
      if (!sameSecret(bearerOf(request), d.adminToken)) throw FalcoErrors.FALCO_ERR_ADMIN_REQUIRED(undefined, "/headers/authorization", undefined, { "www-authenticate": 'Bearer realm="falco"' });
      if (!SERVICE_RE.test(params.service)) throw FalcoErrors.FALCO_ERR_BAD_SERVICE(undefined, "/params/service");
      const rec = responder.lift(params.service, "operator");
      if (!rec) throw FalcoErrors.FALCO_ERR_NOT_QUARANTINED(`${params.service} is not quarantined`, "/params/service");
      return { service: rec.service, lifted: true, was: rec, note: rec.mode === "enforce" ? "revoked certificates stay revoked: the service needs new credentials (security: POST /credentials/{service})" : undefined };
    }, { params: t.Object({ service: t.String() }), parse: "none" });
}

/** Intake first (string compare on method and path), everything else through Elysia. */
export function createFetch(app: AnyElysia, intake: ReturnType<typeof createIntake>) {
  return (req: Request): Response | Promise<Response> => {
    if (req.method === "POST") {
      const url = req.url;
      const start = url.indexOf("/", url.indexOf("//") + 2);
      const q = url.indexOf("?", start);
      const path = q < 0 ? url.slice(start) : url.slice(start, q);
      if (path === "/" || path === "/falco/alerts") return intake.alerts(req);
      if (path === "/test") return intake.test(req);
    }
    return app.handle(req);
  };
}
