/**
 * Services whose instances are the platform's own plugins (the shipped config routes /api/events to the
 * events plugin) under platform mTLS (ctx.tls): every platform listener then requires the platform's
 * client certificate, so such an instance written `http://127.0.0.1:8011` can only fail. It is upgraded
 * to https and the service gets `tls: { mode: mutual }` with the platform's files (the edge's upstream
 * TLS defaults to host.pem/host.key/ca.pem), with no extra config. An explicit tls block is kept.
 *
 * /health: a platform service none of whose instances is reachable because of TLS (a refused or
 * unverifiable handshake) fails the gateway's readiness, naming the reason; a platform service that is
 * merely down does not (in a split deployment that is the other process's readiness, not ours).
 */
import type { PlatformTlsClient } from "../../src/core/plugin";
import type { Logger } from "../../src/core/log";
import type { ServiceSettings } from "./schema";
import type { ServiceRuntime } from "./services";
import { isAvailable } from "./upstream-state";
import type { CompiledRoute } from "./proxy/compiled-route";
import type { Refusal } from "./proxy/pipeline";

/** The service as the gateway should run it: platform instances upgraded, mutual TLS when none was configured. */
export function platformService(s: ServiceSettings, tls: PlatformTlsClient | undefined, log: Logger): ServiceSettings {
  if (!tls || !s.instances.some((i) => tls.isPlatform(i.url))) return s;
  const instances = s.instances.map((i) => ({ ...i, url: tls.upgrade(i.url) }));
  const upgraded = s.instances.filter((i) => i.url !== tls.upgrade(i.url)).map((i) => i.url);
  const current = (s as unknown as { tls?: { mode: string } }).tls;
  const mutual = !current || current.mode === "none";
  if (upgraded.length > 0 || mutual) {
    log.info("platform mTLS: service instances are platform listeners; calling them with https and the platform certificate", { service: s.name, upgraded, tls: mutual ? "mutual (platform files)" : current!.mode });
  }
  return { ...s, instances, ...(mutual ? { tls: { mode: "mutual", ca_file: "", cert_file: "", key_file: "" } } : {}) } as ServiceSettings;
}

/**
 * Error strings of a failed TLS handshake as fetch()/Bun.connect report them: verification failures by
 * their OpenSSL/BoringSSL codes, and a reset or closed socket during a handshake with a platform
 * listener (how a refused client certificate shows on the client side).
 */
const TLS_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|HANDSHAKE|SSL|TLS|certificate|ECONNRESET|closed unexpectedly/i;

export function isTlsError(error: string | undefined): boolean {
  return error !== undefined && TLS_ERROR.test(error);
}

/** Why the gateway is not ready, or undefined: platform services unreachable for TLS reasons. */
export function platformTlsFailure(services: Iterable<ServiceRuntime>, tls: PlatformTlsClient | undefined, now: number): string | undefined {
  if (!tls) return undefined;
  const reasons: string[] = [];
  for (const svc of services) {
    const platform = svc.members.filter((m) => tls.isPlatform(m.url));
    if (platform.length === 0 || platform.some((m) => isAvailable(m.state, now) && m.state.lastCheckError === undefined)) continue;
    const tlsFailed = platform.filter((m) => isTlsError(m.state.lastCheckError));
    if (tlsFailed.length === platform.length) reasons.push(`platform service ${svc.name} unreachable over mTLS: ${tlsFailed.map((m) => `${m.url}: ${m.state.lastCheckError}`).join("; ")}`);
  }
  return reasons.length > 0 ? reasons.join(" | ") : undefined;
}

/**
 * `require_spiffe` of a route: the caller's SPIFFE ID (from its client certificate, read by the host's
 * TLS front) must be listed. Without platform mTLS there is no identity, so such a route refuses all.
 */
export function spiffeRefusal(route: CompiledRoute, peerId: string | undefined): Refusal | undefined {
  const allowed = route.svc.settings.require_spiffe;
  if (peerId !== undefined && peerId !== "" && allowed.includes(peerId)) return undefined;
  const who = peerId === undefined ? "no client certificate was presented (host.mtls.enabled is off, or no TLS)" : peerId === "" ? "the client certificate carries no SPIFFE ID" : `the client certificate is ${peerId}`;
  return { code: "GW_ERR_PEER_FORBIDDEN", message: `service "${route.svc.name}" accepts only ${allowed.join(", ")}; ${who}`, route };
}
