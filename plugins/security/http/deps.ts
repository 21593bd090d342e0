/** What every route module of the plugin is handed (built once per provision). */
import { peerIdentity } from "../../../src/core/peer-identity";
import type { Logger } from "../../../src/core/log";
import type { PluginMetrics } from "../../../src/core/metrics";
import type { Bus } from "../../../src/core/bus";
import type { SecurityConfig } from "../schema";
import type { SecurityState } from "../state";
import type { TokenService } from "../tokens/service";
import type { RevocationPublisher } from "../tokens/revocation-publisher";
import type { Authorizer, Principal } from "../authz";
import type { SecretStore } from "../secrets/store";
import type { CredentialSettings } from "../credentials/credential-store";
import type { AuditFields } from "../../../src/lib/audit/chain";
import { requestIdOf } from "../../../src/core/http";

export interface Deps {
  cfg: SecurityConfig;
  state: SecurityState;
  tokens?: TokenService;
  /** Announces revocations (bus + Redis channel). */
  revocations?: RevocationPublisher;
  authz: Authorizer;
  store: SecretStore;
  log: Logger;
  bus: Bus;
  credentialSettings: CredentialSettings;
  ops: ReturnType<PluginMetrics["counter"]>;
}

/** The request id already set by httpConventions (or one from the request). */
export function rid(set: { headers: Record<string, unknown> }, request: Request): string {
  return (set.headers["x-request-id"] as string | undefined) ?? requestIdOf(request);
}

type Child = { inc(n?: number): void };
/** A labelled child and the increments it has not been given yet. */
type Tally = { child: Child; n: number };
/** operations_total children per counter, by op then outcome (no key built per call): no label hashing per audited call (~2.5 % of a validation's CPU, profiled). */
const opChildren = new WeakMap<object, Map<string, Map<string, Tally>>>();
let opTallies = 0;
/** Tallies with increments pending: handed to prom-client once per event-loop turn, not per call (~0.35 µs each). */
let dirty: Tally[] = [];
function applyTallies(): void {
  const list = dirty;
  dirty = [];
  for (const t of list) { t.child.inc(t.n); t.n = 0; }
}

/** operations_total{op, outcome} += 1 through a cached labelled child (bounded: ops and outcomes are a closed set), applied at the end of the turn. */
export function countOp(ops: Deps["ops"], op: string, outcome: string): void {
  let byOp = opChildren.get(ops);
  if (!byOp) opChildren.set(ops, (byOp = new Map()));
  let m = byOp.get(op);
  if (!m) byOp.set(op, (m = new Map()));
  let t = m.get(outcome);
  if (!t) {
    t = { child: ops.labels({ op, outcome }), n: 0 };
    if (opTallies < 256) { m.set(outcome, t); opTallies++; }
  }
  if (t.n++ === 0) {
    if (dirty.length === 0) setImmediate(applyTallies);
    dirty.push(t);
  }
}

/**
 * Append a line. The fields are copied into one object shape, in AuditFields' order (every caller's order,
 * so lines read as before; absent fields are left out by JSON as before): a spread made a differently
 * shaped object per caller, and serialising those was most of a line's cost after its hash (profiled).
 */
export function audit(d: Deps, p: Principal | undefined, f: Omit<AuditFields, "who">): void {
  d.state.audit.append({ who: p?.id ?? "anonymous", action: f.action, target: f.target, outcome: f.outcome, request_id: f.request_id, value_hmac: f.value_hmac, versions: f.versions, reason: f.reason });
  countOp(d.ops, f.action, f.outcome);
}
/** Per principal id, per path: the JSON of a read's line up to its request id (bounded; the texts depend on nothing else). */
const readLineStarts = new Map<string, Map<string, string>>();
/** Request ids JSON.stringify writes as they are (acceptRequestId's alphabet, UUIDs). */
const PLAIN_ID = /^[A-Za-z0-9._:\-]*$/;

/**
 * audit(d, p, { action: "secret.read", target: path, outcome: "ok", request_id, reason: "version N" }), the
 * same line (the fields' JSON, JSON.stringify's text) made from parts kept per principal and path: the
 * object and its serialisation were a fifth of an audited read's line (profiled).
 */
export function auditReadOk(d: Deps, p: Principal, path: string, requestId: string, version: number): void {
  let byPath = readLineStarts.get(p.id);
  if (byPath === undefined) {
    if (readLineStarts.size >= 256) readLineStarts.clear();
    readLineStarts.set(p.id, (byPath = new Map()));
  }
  let start = byPath.get(path);
  if (start === undefined) {
    start = JSON.stringify({ who: p.id, action: "secret.read", target: path, outcome: "ok" }).slice(0, -1) + ',"request_id":';
    if (byPath.size >= 1024) byPath.clear();
    byPath.set(path, start);
  }
  const id = PLAIN_ID.test(requestId) ? '"' + requestId + '"' : JSON.stringify(requestId);
  d.state.audit.appendJson(start + id + ',"reason":"version ' + version + '"}');
  countOp(d.ops, "secret.read", "ok");
}

/** Fails to compile when AuditFields gains a field audit() does not copy. */
const auditCopiesEveryField: Record<Exclude<keyof AuditFields, "who" | "action" | "target" | "outcome" | "request_id" | "value_hmac" | "versions" | "reason">, never> = {};
void auditCopiesEveryField;

/** What a caller presents, as both lanes (fetch and raw wire) see it: its Authorization field and its TLS peer's SPIFFE ID. */
export interface Credentials {
  authorization: string | null;
  /** Platform mTLS: the client certificate's SPIFFE ID; undefined without TLS. */
  peerId: string | undefined;
}

/**
 * The caller's principal. With `op`, a refused caller is audited too (who: anonymous, outcome: denied):
 * probing for secrets or credentials with bad tokens leaves a trace.
 */
export function authenticate(d: Deps, who: Request | Credentials, op?: { action: string; target?: string; requestId?: string }, vaultToken?: string | null): Principal {
  try {
    return who instanceof Request
      ? d.authz.authenticate(who.headers.get("authorization"), vaultToken, peerIdentity(who))
      : d.authz.authenticate(who.authorization, vaultToken, who.peerId);
  } catch (err) {
    if (op) audit(d, undefined, { action: op.action, target: op.target, outcome: "denied", request_id: op.requestId, reason: (err as { code?: string }).code ?? "unauthenticated" });
    throw err;
  }
}
