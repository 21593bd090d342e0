/**
 * Checks of the Compose files against the platform: Redis with an append-only file, every plugin port
 * published, `--only <id>` per container in the split variant, config and env as config.yaml reads them.
 * Compose's own `${VAR:-default}` is resolved to its default first (what `docker compose config` would
 * print with nothing set); `${VAR:?message}` counts as set.
 */
import type { Platform } from "./platform";

type Service = Record<string, any>;

/** Compose interpolation at defaults. */
export function composeDefaults(value: string): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*)|(:?\?)[^}]*)?\}/g, (_m, name: string, dash, def: string, q) => (dash ? def : q ? `<${name}>` : ""));
}

function envOf(svc: Service): Record<string, string> {
  const env = svc.environment ?? {};
  const pairs: [string, string][] = Array.isArray(env)
    ? env.map((e: string) => [e.split("=")[0]!, e.slice(e.indexOf("=") + 1)])
    : Object.entries(env).map(([k, v]) => [k, String(v ?? "")]);
  return Object.fromEntries(pairs.map(([k, v]) => [k, composeDefaults(v)]));
}

/** "8000:8000", "127.0.0.1:8000:8000/tcp" or the long form → container ports published. */
function publishedTargets(svc: Service): number[] {
  return (svc.ports ?? []).map((p: any) => (typeof p === "object" ? Number(p.target) : Number(String(p).split("/")[0]!.split(":").at(-1))));
}

function redisChecks(file: string, services: Record<string, Service>, errors: string[]) {
  const redis = services.redis;
  const cmd = Array.isArray(redis?.command) ? redis.command.join(" ") : String(redis?.command ?? "");
  if (!redis) errors.push(`${file}: no redis service`);
  else if (!/--appendonly yes/.test(cmd)) errors.push(`${file}: redis must run with --appendonly yes (seed: events survive a Redis restart)`);
}

function envChecks(file: string, name: string, svc: Service, reads: Set<string>, services: Record<string, Service>, errors: string[]) {
  for (const [k, v] of Object.entries(envOf(svc))) {
    if (!reads.has(k)) errors.push(`${file}: ${name}: env ${k} is not a variable its config reads`);
    if (k === "REDIS_URL" && !services[new URL(v).hostname]) errors.push(`${file}: ${name}: REDIS_URL ${v} names no service`);
  }
}

/** compose.yaml: every plugin in one container (the image's own config.yaml). */
export function allInOneErrors(file: string, doc: any, platform: Platform): string[] {
  const errors: string[] = [];
  const services: Record<string, Service> = doc?.services ?? {};
  redisChecks(file, services, errors);
  const hosts = Object.entries(services).filter(([, s]) => s.build || String(s.image ?? "").startsWith("tradpal/"));
  if (hosts.length !== 1) return [...errors, `${file}: expected one platform service, found ${hosts.length}`];
  const [name, svc] = hosts[0]!;
  if (svc.command?.includes?.("--only")) errors.push(`${file}: ${name} must host every plugin (no --only)`);
  const published = publishedTargets(svc);
  for (const p of platform.plugins) if (!published.includes(p.port)) errors.push(`${file}: ${name} does not publish ${p.id}'s port ${p.port}`);
  envChecks(file, name, svc, platform.allVars, services, errors);
  if (!envOf(svc).REDIS_URL) errors.push(`${file}: ${name}: REDIS_URL unset (the seed's platform runs on Redis)`);
  return errors;
}

/** compose.split.yaml: one container per plugin with --only, all reading deploy/config.yaml. */
export function splitErrors(file: string, doc: any, platform: Platform, configMount: string): string[] {
  const errors: string[] = [];
  const services: Record<string, Service> = doc?.services ?? {};
  redisChecks(file, services, errors);
  const onlyOf = (s: Service) => {
    const c: string[] = Array.isArray(s.command) ? s.command : [];
    const i = c.indexOf("--only");
    return i === -1 ? undefined : c[i + 1];
  };
  for (const p of platform.plugins) {
    const entry = Object.entries(services).find(([, s]) => onlyOf(s) === p.id);
    if (!entry) {
      errors.push(`${file}: no service runs --only ${p.id}`);
      continue;
    }
    const [name, svc] = entry;
    const c: string[] = svc.command;
    if (c[c.indexOf("--config") + 1] !== configMount || !c.includes("--config")) errors.push(`${file}: ${name}: command must pass --config ${configMount}`);
    if (!(svc.volumes ?? []).some((v: string) => String(v).split(":")[1] === configMount)) errors.push(`${file}: ${name}: nothing is mounted at ${configMount}`);
    if (!publishedTargets(svc).includes(p.port)) errors.push(`${file}: ${name} does not publish port ${p.port}`);
    envChecks(file, name, svc, platform.varsOf(p.id), services, errors);
    for (const [k, v] of Object.entries(envOf(svc))) {
      const m = /^([A-Z]+)_HOST$/.exec(k);
      if (m && onlyOf(services[v] ?? {}) !== m[1]!.toLowerCase()) errors.push(`${file}: ${name}: ${k}=${v} is not the service running --only ${m[1]!.toLowerCase()}`);
    }
  }
  for (const [name, s] of Object.entries(services)) {
    const id = onlyOf(s);
    if (id && !platform.plugins.some((p) => p.id === id)) errors.push(`${file}: ${name} runs --only ${id}, not an enabled plugin`);
  }
  return errors;
}
