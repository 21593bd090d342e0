/**
 * The endpoints the host serves on every plugin port, whatever the plugin: /health (the plugin's report
 * with the host's bus and TLS state), /metrics, /openapi.json, /docs and /-/config. Bound to a slot, so
 * they always speak for the generation currently serving.
 */
import { HostErrors } from "../core/errors";
import { renderMetrics, METRICS_CONTENT_TYPE } from "../core/metrics";
import type { Registry } from "prom-client";
import type { Logger } from "../core/log";
import type { Generation, Slot } from "./slot";
import { tlsHealth, type PlatformTls } from "./tls";
import { openApiDocument } from "./openapi";
import { docsPage } from "./docs-page";

export const HOST_VERSION = "0.1.0";

export interface SlotDeps {
  log: Logger;
  tls?: PlatformTls;
  busHealth(): Record<string, unknown>;
  metricsEnabled(): boolean;
  /** The host's registry and the plugin's. */
  registries(id: string): Registry[];
  config(req: Request): Promise<Response>;
}

export function makeSlot(id: string, gen: Generation, d: SlotDeps): Slot {
  const slot: Slot = {
    id,
    gen,
    closing: false,
    async health() {
      const g = slot.gen;
      let report: { ok: boolean; reason?: string; checks?: Record<string, unknown> };
      try {
        report = g.instance.health ? await g.instance.health() : { ok: true };
      } catch (err) {
        report = { ok: false, reason: `health check threw: ${(err as Error).message}` };
      }
      const ok = report.ok && !slot.closing;
      const body = {
        status: ok ? "ok" : "unavailable",
        plugin: id,
        version: HOST_VERSION,
        uptime_s: Math.round(process.uptime()),
        ...(report.reason || slot.closing ? { reason: slot.closing ? "shutting down" : report.reason } : {}),
        ...(report.checks ? { checks: report.checks } : {}),
        bus: d.busHealth(),
        ...(d.tls ? { tls: tlsHealth(d.tls) } : {}),
      };
      return Response.json(body, { status: ok ? 200 : 503 });
    },
    async metrics() {
      if (!d.metricsEnabled()) return HostErrors.HOST_ERR_NOT_FOUND("metrics are disabled (host.metrics_enabled: false)").toResponse();
      return new Response(await renderMetrics(d.registries(id)), { headers: { "content-type": METRICS_CONTENT_TYPE } });
    },
    async openapi() {
      const g = slot.gen;
      try {
        return Response.json(openApiDocument(id, g.block.definition.description, HOST_VERSION, g.instance));
      } catch (err) {
        d.log.error("openapi document failed", { plugin: id, err });
        return HostErrors.HOST_ERR_INTERNAL("the OpenAPI document could not be built").toResponse();
      }
    },
    async docs() { return docsPage(); },
    config: d.config,
  };
  return slot;
}
