/**
 * Which finished calls count as failures: a status table precomputed from config patterns
 * ("5xx", "429", "408") and a set of transport errors (connect, timeout, reset, other).
 * Everything else is a success (4xx is the caller's fault, not the upstream's, by default).
 * A "client" outcome (the gateway's caller went away or its body broke off) counts neither way,
 * whatever the policy: it says nothing about the upstream; nor does "unsent" (no call was made).
 */
import { FAILURE, IGNORED, SUCCESS, type Outcome } from "./state-machine";
import type { UpstreamOutcome, UpstreamOutcomeError } from "../../src/contracts/bus-topics";

export const TRANSPORT_ERRORS = ["connect", "timeout", "reset", "other"] as const;
export type TransportError = (typeof TRANSPORT_ERRORS)[number];

export interface FailurePolicy {
  /** Status patterns: "5xx", "4xx", "503", "429". */
  statuses: readonly string[];
  errors: readonly TransportError[];
  /** Status patterns that count neither way (e.g. "499" client closed). */
  ignored: readonly string[];
}

export const DEFAULT_FAILURE_POLICY: FailurePolicy = { statuses: ["5xx"], errors: ["connect", "timeout", "reset", "other"], ignored: [] };

const PATTERN_RE = /^([1-5])(xx|\d\d)$/i;

export function expandStatusPattern(pattern: string): number[] {
  const m = PATTERN_RE.exec(pattern.trim());
  if (!m) throw new RangeError(`not a status pattern: ${JSON.stringify(pattern)} (expected e.g. "5xx" or "503")`);
  if (m[2].toLowerCase() === "xx") {
    const base = Number(m[1]) * 100;
    return Array.from({ length: 100 }, (_, i) => base + i);
  }
  return [Number(pattern.trim())];
}

export interface Classifier {
  (outcome: UpstreamOutcome): Outcome;
  /** The same verdict from the fields (a settled permit: no outcome object is made). */
  parts(status: number, error: UpstreamOutcomeError | undefined): Outcome;
}

export function createClassifier(policy: FailurePolicy): Classifier {
  const table = new Uint8Array(600); // status → outcome; unknown statuses default to success
  for (const p of policy.statuses) for (const s of expandStatusPattern(p)) table[s] = FAILURE;
  for (const p of policy.ignored) for (const s of expandStatusPattern(p)) table[s] = IGNORED;
  const errConnect = policy.errors.includes("connect") ? FAILURE : IGNORED;
  const errTimeout = policy.errors.includes("timeout") ? FAILURE : IGNORED;
  const errReset = policy.errors.includes("reset") ? FAILURE : IGNORED;
  const errOther = policy.errors.includes("other") ? FAILURE : IGNORED;
  const parts = (status: number, error: UpstreamOutcomeError | undefined): Outcome => {
    if (status > 0 && status < 600) return table[status] as Outcome;
    switch (error) {
      case "client": case "unsent": return IGNORED;
      case "connect": return errConnect as Outcome;
      case "timeout": return errTimeout as Outcome;
      case "reset": return errReset as Outcome;
      default: return (status <= 0 || status >= 600 || error ? errOther : SUCCESS) as Outcome;
    }
  };
  const classify = ((o: UpstreamOutcome) => parts(o.status, o.error)) as Classifier;
  classify.parts = parts;
  return classify;
}
