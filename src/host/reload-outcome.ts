/**
 * How a reload ended, and what a failed one leaves behind: the record GET /-/config shows
 * (config-endpoint.ts), the reload metrics, and one error line. The running config keeps serving.
 */
import type { ConfigError } from "../config/load";
import type { Logger } from "../core/log";
import type { FailureRecord } from "./config-endpoint";
import type { HostMetrics } from "./host-metrics";

export type ReloadOutcome =
  | { ok: true; changed: string[] }
  | { ok: false; stage: "config"; errors: ConfigError[] }
  | { ok: false; stage: "apply"; plugin: string; error: string };

export type ReloadFailure = ReloadOutcome & { ok: false };

/** The failure as GET /-/config reports it. */
export function failureRecord(outcome: ReloadFailure): FailureRecord {
  return outcome.stage === "config"
    ? { at: Date.now(), stage: "config", errors: outcome.errors.map((e) => ({ path: e.path, line: e.line, message: e.message })) }
    : { at: Date.now(), stage: "apply", errors: [{ path: `plugins.${outcome.plugin}`, message: outcome.error }] };
}

/** Count the failed reload and log why (the file's errors with their places, or the plugin that failed to build). */
export function reportReloadFailure(outcome: ReloadFailure, file: string, log: Logger, metrics: HostMetrics): void {
  metrics.reloads.inc({ result: "failure" });
  metrics.lastReloadOk.set(0);
  if (outcome.stage === "config") {
    log.error("config reload refused: the running config keeps serving", {
      file,
      errors: outcome.errors.map((e) => ({ path: e.path, line: e.line, column: e.column, message: e.message })),
    });
  } else {
    log.error("config reload failed while building a new instance: the running config keeps serving", { plugin: outcome.plugin, error: outcome.error });
  }
}
