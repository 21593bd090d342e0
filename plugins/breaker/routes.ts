/**
 * The breaker plugin's HTTP surface (the seed's endpoints plus operator actions and the live page).
 * GET /health and GET /metrics are served by the host.
 */
import { Elysia } from "elysia";
import { BreakerErrors } from "./errors";
import { httpConventions } from "../../src/core/http";
import type { Logger } from "../../src/core/log";
import type { AlertTracker } from "./alerts";
import type { BreakerRegistry } from "./breakers";
import type { EventStream } from "./event-stream";
import { isAdmin } from "./admin-token";
import { alertView, breakerDetail, breakerSummary, dashboard } from "./views";
import { DASHBOARD_HTML } from "./dashboard-page";


const NAME_RE = /^[A-Za-z0-9._:-]{1,128}$/;

export interface RouteDeps {
  registry: BreakerRegistry;
  alerts: AlertTracker;
  stream: EventStream;
  log: Logger;
  adminToken: string;
  protectReset: boolean;
  mode: "embedded" | "cluster";
  /** Re-evaluate alerts now (after an operator action) so the answer and the page agree at once. */
  refresh: () => void;
}

export function breakerRoutes(d: RouteDeps) {
  const { registry, alerts, stream } = d;

  const entryOf = (name: string) => {
    if (!NAME_RE.test(name)) throw BreakerErrors.BR_ERR_BAD_NAME(undefined, "/params/name");
    const entry = registry.entries.get(name);
    if (!entry) throw BreakerErrors.BR_ERR_UNKNOWN_BREAKER(`no breaker named "${name}"`, "/params/name");
    return entry;
  };
  const requireAdmin = (req: Request) => {
    if (!isAdmin(req, d.adminToken)) throw BreakerErrors.BR_ERR_UNAUTHORIZED(undefined, undefined, undefined, { "www-authenticate": 'Bearer realm="breaker"' });
  };
  /** The optional body `{ "reason": "..." }`, parsed by hand: Elysia drops malformed optional bodies silently. */
  const reasonOf = async (req: Request): Promise<string | undefined> => {
    const text = await req.text();
    if (text.trim() === "") return undefined;
    let body: unknown;
    try { body = JSON.parse(text); } catch { throw BreakerErrors.BR_ERR_PARSE(undefined, "/body"); }
    if (body === null || typeof body !== "object" || Array.isArray(body)) throw BreakerErrors.BR_ERR_VALIDATION("body must be an object like {\"reason\": \"...\"}", "/body");
    const extra = Object.keys(body).filter((k) => k !== "reason");
    if (extra.length) throw BreakerErrors.BR_ERR_VALIDATION(`unknown property ${extra[0]}`, `/body/${extra[0]}`);
    const reason = (body as { reason?: unknown }).reason;
    if (reason === undefined) return undefined;
    if (typeof reason !== "string" || reason.length < 1 || reason.length > 200) throw BreakerErrors.BR_ERR_VALIDATION("reason must be a string of 1–200 characters", "/body/reason");
    return reason;
  };
  const act = (action: "reset" | "force_open" | "force_close" | "disable", needsAdmin: () => boolean) =>
    async ({ params, request }: { params: { name: string }; request: Request }) => {
      const entry = entryOf(params.name);
      if (needsAdmin()) requireAdmin(request);
      const reason = await reasonOf(request);
      const before = entry.stateName;
      registry.operate(entry.name, action, reason);
      d.log.info("breaker operator action", { breaker: entry.name, action, from: before, to: entry.stateName });
      d.refresh();
      return { name: entry.name, action, previous_state: before, state: entry.stateName };
    };
  const always = () => true;
  const resetNeedsAdmin = () => d.protectReset;

  return new Elysia()
    .use(httpConventions({ errors: BreakerErrors, log: d.log }))
    .get("/circuit-breakers", () => {
      const now = registry.now();
      const breakers = [...registry.entries.values()].sort((a, b) => a.name.localeCompare(b.name)).map((e) => breakerSummary(e, now));
      return { breakers, count: breakers.length };
    })
    .get("/circuit-breakers/:name", ({ params }) => breakerDetail(entryOf(params.name), registry.now()))
    .post("/circuit-breakers/:name/reset", act("reset", resetNeedsAdmin), { parse: "none" })
    .post("/circuit-breakers/:name/force-open", act("force_open", always), { parse: "none" })
    .post("/circuit-breakers/:name/force-close", act("force_close", always), { parse: "none" })
    .post("/circuit-breakers/:name/disable", act("disable", always), { parse: "none" })
    .get("/alerts", () => {
      const list = alerts.list().map(alertView);
      return { alerts: list, count: list.length };
    })
    .get("/dashboard", ({ request }) => {
      const accept = request.headers.get("accept") ?? "";
      if (accept.includes("text/html")) {
        return new Response(DASHBOARD_HTML, { headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "content-security-policy": "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'" } });
      }
      return dashboard(registry, alerts, d.mode);
    })
    .get("/dashboard/stream", ({ request }) => stream.open({ event: "snapshot", data: dashboard(registry, alerts, d.mode) }, request.signal));
}
