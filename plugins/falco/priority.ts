/**
 * Falco's priorities, lowest to highest (falco.org docs: rule priority; falcosidekick types/priority.go).
 * Alerts and config may spell them in any case, and "info" is Falco's short form of informational.
 */
export const PRIORITIES = ["debug", "informational", "notice", "warning", "error", "critical", "alert", "emergency"] as const;
export type Priority = (typeof PRIORITIES)[number];

/** The display spelling Falco itself writes in JSON output ("Critical"). */
export const PRIORITY_LABEL: Record<Priority, string> = {
  debug: "Debug", informational: "Informational", notice: "Notice", warning: "Warning",
  error: "Error", critical: "Critical", alert: "Alert", emergency: "Emergency",
};

const ALIASES: Record<string, Priority> = { info: "informational", warn: "warning", err: "error", crit: "critical", emerg: "emergency" };

/** The priority named by `s` (any case, aliases allowed), or undefined. */
export function parsePriority(s: unknown): Priority | undefined {
  if (typeof s !== "string") return undefined;
  const k = s.trim().toLowerCase();
  if ((PRIORITIES as readonly string[]).includes(k)) return k as Priority;
  return ALIASES[k];
}

/** 0 (debug) .. 7 (emergency). */
export function rank(p: Priority): number {
  return PRIORITIES.indexOf(p);
}

export function atLeast(p: Priority, min: Priority): boolean {
  return rank(p) >= rank(min);
}
