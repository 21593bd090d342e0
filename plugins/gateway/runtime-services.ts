/**
 * Services added at run time (POST /services, the seed's register_service): validated by the same
 * schema as configured services (a subset of its keys), kept in the registry store (Redis-shared in
 * cluster mode, so every gateway on that Redis routes them after its next sync) and reconciled
 * into the live service map. A runtime service never takes a configured service's name, nor its
 * path prefix or any prefix under it (longest prefix wins, so that would steal part of its traffic).
 */
import { Value } from "@sinclair/typebox/value";
import type { Logger } from "../../src/core/log";
import { GatewayErrors } from "./errors";
import { ServiceSchema, type ServiceSettings } from "./schema";
import type { RegistryStore } from "./instance-registry";
import type { AddressVerdict } from "./address-policy";

/** Keys a runtime service may set; everything else takes the schema's defaults. */
export const RUNTIME_KEYS = ["name", "path_prefix", "instances", "rate_limit", "auth_required", "scopes", "strip_prefix", "load_balancing", "timeout"] as const;

const trim = (p: string) => (p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p);
const under = (a: string, b: string) => a === b || b === "/" || a.startsWith(b + "/");

/** A POST /services body → decoded settings, or a coded 400 naming the first problem. */
export function decodeRuntimeSpec(body: unknown): ServiceSettings {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw GatewayErrors.GW_ERR_VALIDATION("the body must be a JSON object", "body");
  const extra = Object.keys(body).filter((k) => !(RUNTIME_KEYS as readonly string[]).includes(k));
  if (extra.length) throw GatewayErrors.GW_ERR_VALIDATION(`unknown key(s) ${extra.join(", ")}; a runtime service takes ${RUNTIME_KEYS.join(", ")}`, `body.${extra[0]}`);
  const value = Value.Default(ServiceSchema, Value.Clone(body));
  const first = Value.Errors(ServiceSchema, value).First();
  if (first) throw GatewayErrors.GW_ERR_VALIDATION(`${first.path || "body"}: ${first.message}`, `body${first.path.replaceAll("/", ".")}`);
  try {
    return Value.Decode(ServiceSchema, value);
  } catch (err) {
    throw GatewayErrors.GW_ERR_VALIDATION(`invalid service: ${(err as Error).message}`, "body");
  }
}

/** Why `spec` may not be added next to these services, or undefined. */
export function conflict(spec: ServiceSettings, configured: readonly ServiceSettings[], runtime: Iterable<ServiceSettings>): string | undefined {
  const p = trim(spec.path_prefix);
  for (const c of configured) {
    if (c.name === spec.name) return `"${spec.name}" is a configured service (change it in config.yaml)`;
    if (under(p, trim(c.path_prefix))) return `path prefix ${spec.path_prefix} would shadow configured service "${c.name}" (${c.path_prefix})`;
  }
  for (const r of runtime) if (r.name !== spec.name && trim(r.path_prefix) === p) return `path prefix ${spec.path_prefix} is taken by runtime service "${r.name}"`;
  return undefined;
}

export interface RuntimeDeps {
  registry: RegistryStore;
  configured: readonly ServiceSettings[];
  log: Logger;
  enabled: boolean;
  /** The runtime services currently routed (name → settings). */
  current(): ReadonlyMap<string, ServiceSettings>;
  /** Re-read the store and re-route now. */
  reconcile(): Promise<void>;
}

export function runtimeServiceOps(d: RuntimeDeps) {
  const unavailable = (err: unknown) => GatewayErrors.GW_ERR_REGISTRY_UNAVAILABLE(`could not update the service store: ${(err as Error).message}`);
  return {
    async create(body: unknown, check: (url: string) => AddressVerdict): Promise<{ name: string; created: boolean }> {
      if (!d.enabled) throw GatewayErrors.GW_ERR_METHOD_NOT_ALLOWED("runtime services are off (registration.runtime_services: false)");
      const spec = decodeRuntimeSpec(body);
      const why = conflict(spec, d.configured, d.current().values());
      if (why) throw GatewayErrors.GW_ERR_SERVICE_CONFLICT(why, "body.name");
      spec.instances.forEach((inst, i) => {
        const v = check(inst.url);
        if (!v.ok) throw GatewayErrors.GW_ERR_ADDRESS_REFUSED(v.reason, `body.instances.${i}.url`);
      });
      // Only this gateway's view is checked; a racing POST on another gateway is caught at reconcile.
      const created = !d.current().has(spec.name);
      await d.registry.putService(spec.name, JSON.stringify(body)).catch((err) => { throw unavailable(err); });
      await d.reconcile();
      return { name: spec.name, created };
    },
    async remove(name: string): Promise<void> {
      if (d.configured.some((c) => c.name === name)) throw GatewayErrors.GW_ERR_SERVICE_CONFLICT(`"${name}" is a configured service (remove it from config.yaml)`, "params.name");
      const removed = await d.registry.removeService(name).catch((err) => { throw unavailable(err); });
      if (!removed) throw GatewayErrors.GW_ERR_UNKNOWN_SERVICE(`no runtime service named "${name}"`, "params.name");
      await d.reconcile();
    },
  };
}

/** Stored specs → settings to route; specs that no longer validate or now conflict are skipped with a warning. */
export function decodeStored(stored: ReadonlyMap<string, string>, configured: readonly ServiceSettings[], log: Logger, warned: Set<string>): Map<string, ServiceSettings> {
  const out = new Map<string, ServiceSettings>();
  for (const [name, json] of [...stored].sort(([a], [b]) => a.localeCompare(b))) {
    try {
      const spec = decodeRuntimeSpec(JSON.parse(json));
      const why = spec.name !== name ? `stored under "${name}" but named "${spec.name}"` : conflict(spec, configured, out.values());
      if (why) throw new Error(why);
      out.set(name, spec);
    } catch (err) {
      const key = `${name}\n${json}`;
      if (!warned.has(key)) { warned.add(key); log.warn("runtime service not routed", { service: name, reason: (err as Error).message }); }
    }
  }
  return out;
}
