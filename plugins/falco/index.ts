/**
 * The falco plugin: falcosidekick-compatible intake for Falco's http_output, folding of repeated alerts
 * that never hides an escalation, enrichment with the platform service, `security.alert` events,
 * outputs (webhook, Slack, Alertmanager v2) behind bounded queues, and quarantine response policies.
 */
import { join } from "node:path";
import { definePlugin } from "../../src/core/plugin";
import { createAuditLog } from "../../src/lib/audit/log";
import { FalcoSchema, type FalcoConfig } from "./schema";
import { parsePriority } from "./priority";
import { Enricher } from "./enrich";
import { FalcoMetrics } from "./metrics";
import { OutputLane } from "./outputs/queue";
import { Responder, type QuarantineRecord } from "./response";
import { Ring } from "./ring";
import type { Alert } from "./alert";
import type { Group } from "./dedup";
import { Pipeline } from "./pipeline";
import { createIntake } from "./intake";
import { createWireIntake } from "./intake-wire";
import { createFetch, falcoRoutes } from "./routes";
import { resolveAdminToken } from "./admin";
import { tracerFor } from "../../src/lib/trace/trace";

/** Config checks TypeBox cannot express. */
function check(config: FalcoConfig): void {
  const problems: string[] = [];
  const names = new Set<string>();
  config.outputs.forEach((o, i) => {
    if (names.has(o.name)) problems.push(`plugins.falco.outputs[${i}].name: "${o.name}" is used twice`);
    names.add(o.name);
  });
  if (config.dedup.group_wait >= config.dedup.window && config.dedup.window > 0) problems.push("plugins.falco.dedup.group_wait must be shorter than dedup.window");
  if (config.intake.max_body_size > 16 * 1024 * 1024) problems.push("plugins.falco.intake.max_body_size: at most 16mb (the port's body limit)");
  if (problems.length) throw new Error(problems.join("; "));
}

export default definePlugin({
  id: "falco",
  description: "Falco alert intake (falcosidekick-compatible), folding, outputs and quarantine responses",
  defaultPort: 8013,
  schema: FalcoSchema,
  // wire: the host's raw HTTP/1.1 front takes whole-body intake requests (intake-wire.ts); the rest is Bun.serve's.
  serve: { maxRequestBodySize: 16 * 1024 * 1024, wire: true },
  async provision(config, ctx) {
    check(config);
    const admin = resolveAdminToken(config.respond.admin_token, ctx.host.data_dir);
    const tracer = tracerFor(ctx.host, ctx.id); // undefined when tracing is off: no span work at all (spans.ts)
    if (admin.file) ctx.log.info("falco admin token generated or reused", { file: admin.file });
    // One audit log per process across reloads: two instances appending to one chain would fork it.
    const audit = ctx.shared.getOrCreate("falco:audit", () => createAuditLog(join(ctx.host.data_dir, "falco", "audit.log"), true));
    const lanes: OutputLane[] = [];
    const responder = new Responder(config.respond.policies, {
      // Platform mTLS: the security plugin's URL is a platform URL (https + the host's certificate).
      bus: ctx.bus, log: ctx.log, audit, dataDir: ctx.host.data_dir, securityUrl: ctx.tls ? ctx.tls.upgrade(config.respond.security_url) : config.respond.security_url, tls: ctx.tls,
      securityToken: config.respond.security_token, timeoutMs: config.respond.timeout, signal: ctx.signal,
      onResult: (action, mode, result) => metrics.response(action, mode, result), tracer,
    }, ctx.shared.getOrCreate("falco:quarantine", () => new Map<string, QuarantineRecord>()));
    let pipeline: Pipeline | undefined;
    const metrics = new FalcoMetrics(ctx.metrics, config.history.max_rule_labels, {
      openGroups: () => pipeline?.dedup.open.size ?? 0,
      quarantined: () => responder.records.size,
      lanes: () => lanes.map((l) => ({ name: l.s.name, stats: l.stats() })),
    });
    for (const o of config.outputs) {
      lanes.push(new OutputLane({
        name: o.name, type: o.type, url: o.url, minimumPriority: parsePriority(o.minimum_priority ?? "debug")!, headers: o.headers,
        timeoutMs: o.timeout, maxQueue: o.max_queue, batch: o.batch, retryBaseMs: o.retry_base, retryMaxMs: o.retry_max, expiresAfterMs: o.expires_after,
      }, ctx.log, ctx.signal, (name, result, n) => metrics.delivery(name, result, n), tracer));
    }
    const enricher = new Enricher(config.services, config.trust_domain);
    // History survives a reload that keeps the ring sizes (keyed by them: a resize starts afresh).
    const history = {
      raw: ctx.shared.getOrCreate(`falco:raw:${config.history.max_raw}`, () => new Ring<Alert>(config.history.max_raw)),
      groups: ctx.shared.getOrCreate(`falco:groups:${config.history.max_folded}`, () => new Ring<Group>(config.history.max_folded)),
    };
    pipeline = new Pipeline(config, { bus: ctx.bus, enricher, responder, metrics, lanes, history, tracer });
    const intake = createIntake(config, pipeline, metrics, ctx.log, tracer);
    const app = falcoRoutes({ pipeline, responder, lanes, intake, adminToken: admin.token, log: ctx.log });
    const fetch = createFetch(app, intake);
    const wire = createWireIntake(intake);
    let timer: ReturnType<typeof setInterval> | undefined;
    let stopped = false;
    const p = pipeline;
    const tickMs = Math.max(20, Math.min(250, Math.floor(config.dedup.group_wait / 2) || 100));

    return {
      app,
      fetch,
      wire,
      async start() {
        timer = setInterval(() => p.dedup.tick(Date.now()), tickMs);
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        if (timer) clearInterval(timer);
        p.dedup.drain(); // announce what is pending; lanes of a stopping instance send no more
        await Promise.race([responder.settle(), Bun.sleep(1000)]);
        audit.flush();
        metrics.sync();
      },
      health() {
        const down = lanes.filter((l) => !l.stats().up).map((l) => l.s.name);
        return { ok: true, checks: { received: p.raw.total, open_groups: p.dedup.open.size, outputs_down: down, quarantined: responder.records.size } };
      },
    };
  },
});
