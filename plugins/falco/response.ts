/**
 * Response policies (beyond falcosidekick; the role Falco Talon plays): an alert whose rule name or a tag
 * is in a policy's `on`, at or above its min_priority, from a container mapped to a platform service,
 * quarantines that service. Evaluated on every raw alert, never delayed by folding.
 *
 * Quarantine in enforce mode, every step through the bus or another plugin's HTTP API (never an import):
 *   1. `service.quarantine` on the bus: the gateway answers the service's routes 503 and refuses its tokens;
 *   2. the security plugin's POST /credentials/<service>/revoke: its certificate goes into the CRL;
 *   3. a `security.service_quarantined` platform event; 4. a line in the falco audit log.
 * Dry run does none of 1–2: it logs, audits and emits the event with mode "dry_run" (what it would do).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Bus } from "../../src/core/bus";
import type { Logger } from "../../src/core/log";
import type { PlatformTlsClient } from "../../src/core/plugin";
import type { AuditLog } from "../../src/lib/audit/log";
import type { Alert } from "./alert";
import { atLeast, parsePriority, type Priority } from "./priority";
import type { PolicyConfig } from "./schema";
import { closeSpan, openSpan } from "./spans";
import { SPAN_KIND, type TraceContext, type Tracer } from "../../src/lib/trace/trace";

export interface Step { step: string; result: "done" | "skipped" | "failed" | "planned"; detail?: string }

export interface QuarantineRecord {
  service: string;
  mode: "dry_run" | "enforce";
  since: string;
  rule: string;
  alert: string;
  priority: Priority;
  spiffe_id?: string;
  steps: Step[];
}

export interface ResponderDeps {
  bus: Bus;
  log: Logger;
  audit: AuditLog;
  dataDir: string;
  securityUrl: string;
  /** Platform mTLS (ctx.tls): how to call the security plugin's listener. */
  tls?: PlatformTlsClient;
  securityToken: string;
  timeoutMs: number;
  signal: AbortSignal;
  onResult: (action: string, mode: string, result: string) => void;
  /** Spans (spans.ts): falco.response under the alert's intake span, its revoke call as a client span. */
  tracer?: Tracer;
}

interface Compiled { on: Set<string>; min: Priority; mode: "dry_run" | "enforce" }

export class Responder {
  private readonly policies: Compiled[];
  /** Steps in flight (HTTP calls), awaited at stop and by tests. */
  readonly pending = new Set<Promise<void>>();

  /** `records` outlives a reload (the host's shared pool): a quarantine must not be forgotten by a config edit. */
  constructor(policies: readonly PolicyConfig[], private readonly d: ResponderDeps, readonly records = new Map<string, QuarantineRecord>()) {
    this.policies = policies.map((p) => ({ on: new Set(p.on), min: parsePriority(p.min_priority)!, mode: p.mode }));
  }

  get enabled(): boolean { return this.policies.length > 0; }

  /** Called for every raw alert. Synchronous up to the bus emit; the HTTP step runs behind. */
  consider(a: Alert): void {
    for (const p of this.policies) {
      if (!atLeast(a.priority, p.min)) continue;
      if (!p.on.has(a.rule) && !a.tags.some((t) => p.on.has(t))) continue;
      if (!a.service) {
        this.d.onResult("quarantine", p.mode, "no_service");
        this.d.log.warn("falco response: no platform service mapped for this container; nothing to quarantine", { rule: a.rule, container: a.fields["container.name"] ?? a.fields["container.id"] });
        continue;
      }
      const had = this.records.get(a.service);
      if (had && (had.mode === "enforce" || p.mode === "dry_run")) { this.d.onResult("quarantine", p.mode, "already"); continue; }
      this.quarantine(a, p.mode);
    }
  }

  private quarantine(a: Alert, mode: "dry_run" | "enforce"): void {
    const span = openSpan(this.d.tracer, a.trace);
    const service = a.service!;
    const reason = `Falco rule "${a.rule}" (${a.priority})`;
    const rec: QuarantineRecord = { service, mode, since: new Date().toISOString(), rule: a.rule, alert: a.uuid, priority: a.priority, spiffe_id: a.spiffe_id, steps: [] };
    this.records.set(service, rec);
    const by = `falco:${a.rule}`.slice(0, 200);
    if (mode === "enforce") {
      this.d.bus.emit("service.quarantine", { service, action: "quarantine", reason, spiffeId: a.spiffe_id, rule: a.rule, alert: a.uuid, at: Date.now(), by });
      rec.steps.push({ step: "gateway: service.quarantine on the bus (routes 503, tokens refused)", result: "done" });
    } else {
      rec.steps.push({ step: "gateway: service.quarantine on the bus (routes 503, tokens refused)", result: "planned" });
      rec.steps.push({ step: `security: revoke the certificates of ${service} (CRL)`, result: "planned" });
    }
    this.d.bus.emit("platform.event", { type: "security.service_quarantined", source: "falco", payload: { service, mode, rule: a.rule, reason, priority: a.priority, alert: a.uuid, spiffe_id: a.spiffe_id } });
    this.d.audit.append({ who: by, action: mode === "enforce" ? "service.quarantine" : "service.quarantine.dry_run", target: service, outcome: "ok", reason });
    const log = mode === "enforce" ? this.d.log.warn : this.d.log.info;
    log.call(this.d.log, mode === "enforce" ? "service quarantined" : "dry run: would quarantine service", { service, rule: a.rule, priority: a.priority, alert: a.uuid });
    this.d.onResult("quarantine", mode, "done");
    if (mode === "enforce") this.track(this.revokeCertificate(rec, span?.child));
    if (span !== undefined) closeSpan(this.d.tracer!, span, "falco.response", SPAN_KIND.internal, { "tradpal.falco.action": "quarantine", "tradpal.falco.mode": mode, "tradpal.service": service, "tradpal.falco.rule": a.rule, "tradpal.falco.priority": a.priority });
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private securityToken(): string {
    if (this.d.securityToken) return this.d.securityToken;
    const file = join(this.d.dataDir, "security", "admin-token");
    return existsSync(file) ? readFileSync(file, "utf8").trim() : "";
  }

  private async revokeCertificate(rec: QuarantineRecord, trace: TraceContext | undefined): Promise<void> {
    const step = `security: revoke the certificates of ${rec.service} (CRL)`;
    if (!this.d.securityUrl) { rec.steps.push({ step, result: "skipped", detail: "respond.security_url is empty" }); return; }
    const span = openSpan(this.d.tracer, trace);
    let status = 0, error: string | undefined;
    try {
      const url = `${this.d.securityUrl.replace(/\/+$/, "")}/credentials/${encodeURIComponent(rec.service)}/revoke`;
      const tls = this.d.tls?.fetchTls(url);
      const res = await fetch(url, {
        ...(tls ? { tls } : {}),
        method: "POST", body: "{}",
        headers: { authorization: `Bearer ${this.securityToken()}`, "content-type": "application/json", "user-agent": "tradpal-falco", ...(span ? { traceparent: span.traceparent } : {}) },
        signal: AbortSignal.any([this.d.signal, AbortSignal.timeout(this.d.timeoutMs)]),
      });
      status = res.status;
      const body = await res.text();
      if (res.ok) rec.steps.push({ step, result: "done", detail: body.slice(0, 300) });
      else if (res.status === 404) rec.steps.push({ step, result: "skipped", detail: "no live certificate to revoke" });
      else throw new Error(`HTTP ${res.status}: ${body.slice(0, 200)}`);
    } catch (err) {
      error = String((err as Error)?.message ?? err);
      rec.steps.push({ step, result: "failed", detail: error });
      this.d.onResult("revoke_certificate", "enforce", "failed");
      this.d.log.error("falco quarantine: certificate revocation failed", { service: rec.service, err: String(err) });
      this.d.audit.append({ who: "falco", action: "credentials.revoke", target: rec.service, outcome: "error", reason: String(err).slice(0, 200) });
    } finally {
      if (span !== undefined) closeSpan(this.d.tracer!, span, "falco.response.revoke", SPAN_KIND.client, { "tradpal.service": rec.service, "http.response.status_code": status || undefined }, error);
    }
  }

  /** Operator action: release a service. Its revoked certificate stays revoked (it must get a new one). */
  lift(service: string, by: string): QuarantineRecord | undefined {
    const rec = this.records.get(service);
    if (!rec) return undefined;
    this.records.delete(service);
    if (rec.mode === "enforce") this.d.bus.emit("service.quarantine", { service, action: "lift", reason: "lifted by an operator", spiffeId: rec.spiffe_id, at: Date.now(), by });
    this.d.bus.emit("platform.event", { type: "security.service_quarantine_lifted", source: "falco", payload: { service, by, mode: rec.mode } });
    this.d.audit.append({ who: by, action: "service.quarantine.lift", target: service, outcome: "ok", reason: `quarantined since ${rec.since} by ${rec.rule}` });
    this.d.log.warn("service quarantine lifted", { service, by });
    this.d.onResult("lift", rec.mode, "done");
    return rec;
  }

  async settle(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }
}
