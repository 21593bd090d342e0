/**
 * Checks of deploy/kubernetes/: every object against the Kubernetes API's own schema, then against the
 * platform (config.yaml): one Deployment per enabled plugin running `--only <id>` on its port, probes on
 * /health at that port, Services that select those pods and reach that port, env the plugin's config
 * actually reads, Secrets that hold only placeholders. Each check returns readable errors; [] is a pass.
 */
import type { Platform } from "./platform";
import { HOST_VARS } from "../split-config";

export interface K8sDoc {
  file: string;
  doc: Record<string, any>;
}

export const CONFIG_MOUNT = "/etc/tradpal/config.yaml";

/** Every YAML document of a manifest file (empty documents dropped). */
export function parseManifests(file: string, text: string): K8sDoc[] {
  const parsed = Bun.YAML.parse(text);
  const docs = Array.isArray(parsed) ? parsed : [parsed]; // several documents → an array (a manifest root is never one)
  return docs.filter((d): d is Record<string, any> => d != null && typeof d === "object").map((doc) => ({ file, doc }));
}

/**
 * Schema validation with kubernetes-models: ajv validators compiled from the OpenAPI definitions the
 * Kubernetes API publishes (io.k8s.api.<group>.<version>.<Kind>). Like the API server's non-strict
 * mode, a misspelled optional field is not a schema error; the agreement checks below catch the ones
 * that matter (a missing probe, port, args...).
 */
export async function schemaErrors(d: K8sDoc): Promise<string[]> {
  const where = `${d.file}: ${d.doc.kind ?? "?"}/${d.doc.metadata?.name ?? "?"}`;
  const apiVersion = String(d.doc.apiVersion ?? "");
  const kind = String(d.doc.kind ?? "");
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["core", apiVersion];
  const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
  const name = `IoK8sApi${cap(group!.split(".")[0]!)}${cap(version!)}${kind}`;
  let validate: ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string; keyword: string; params: unknown }[] | null };
  try {
    ({ validate } = await import(`kubernetes-models/_schemas/${name}`));
  } catch {
    return [`${where}: no Kubernetes schema for ${apiVersion} ${kind}`];
  }
  if (validate(d.doc)) return [];
  return (validate.errors ?? []).map((e) => `${where}: ${e.instancePath || "(object)"} ${e.keyword} ${JSON.stringify(e.params)}`);
}

const find = (docs: K8sDoc[], kind: string, name: string) => docs.find((d) => d.doc.kind === kind && d.doc.metadata?.name === name)?.doc;

/** A container port given by number or by name → its number. */
function portOf(container: any, port: unknown): number | undefined {
  if (typeof port === "number") return port;
  return container.ports?.find((p: any) => p.name === port)?.containerPort;
}

/** Kubernetes quantity → a number (cpu in cores, memory in bytes), for requests ≤ limits. */
export function quantity(q: unknown): number {
  const m = /^([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(q));
  if (!m) return NaN;
  const unit: Record<string, number> = { m: 1e-3, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return Number(m[1]) * (m[2] ? unit[m[2]]! : 1);
}

const matches = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);

export interface K8sExpectations {
  platform: Platform;
  /** The config text the ConfigMap must carry (deploy/config.yaml). */
  configText: string;
  configMapName: string;
}

export function agreementErrors(docs: K8sDoc[], x: K8sExpectations): string[] {
  const errors: string[] = [];
  const secret = docs.find((d) => d.doc.kind === "Secret")?.doc;
  const secretKeys = new Set(Object.keys({ ...secret?.data, ...secret?.stringData }));

  // Secrets: placeholders only, never a value that could be real.
  for (const d of docs.filter((d) => d.doc.kind === "Secret")) {
    for (const [k, v] of Object.entries({ ...d.doc.data, ...d.doc.stringData })) {
      if (v !== "" && v != null) errors.push(`${d.file}: Secret ${d.doc.metadata?.name} key ${k} has a value; commit placeholders ("") only`);
      if (!x.platform.allVars.has(k)) errors.push(`${d.file}: Secret key ${k} is not a variable config.yaml reads`);
    }
  }

  const cm = find(docs, "ConfigMap", x.configMapName);
  if (!cm) errors.push(`no ConfigMap ${x.configMapName}`);
  else if (cm.data?.["config.yaml"] !== x.configText) errors.push(`ConfigMap ${x.configMapName}: config.yaml differs from deploy/config.yaml (run: bun run deploy/split-config.ts)`);

  const services = docs.filter((d) => d.doc.kind === "Service").map((d) => d.doc);
  const deployments = docs.filter((d) => d.doc.kind === "Deployment").map((d) => d.doc);
  const pluginIds = new Set(x.platform.plugins.map((p) => p.id));

  for (const dep of deployments) {
    const only = dep.spec?.template?.spec?.containers?.[0]?.args;
    const i = Array.isArray(only) ? only.indexOf("--only") : -1;
    if (i !== -1 && !pluginIds.has(only[i + 1])) errors.push(`Deployment ${dep.metadata?.name}: --only ${only[i + 1]} is not an enabled plugin of config.yaml`);
  }

  for (const p of x.platform.plugins) {
    const name = `tradpal-${p.id}`;
    const at = `Deployment ${name}`;
    const dep = find(docs, "Deployment", name);
    if (!dep) {
      errors.push(`${at}: missing (plugin ${p.id} is enabled in config.yaml)`);
      continue;
    }
    const pod = dep.spec?.template;
    const containers: any[] = pod?.spec?.containers ?? [];
    if (containers.length !== 1) errors.push(`${at}: expected one container, found ${containers.length}`);
    const c = containers[0] ?? {};
    const args: string[] = c.args ?? [];
    const onlyAt = args.indexOf("--only");
    if (onlyAt === -1 || args[onlyAt + 1] !== p.id) errors.push(`${at}: args must contain --only ${p.id}, got ${JSON.stringify(args)}`);
    const configAt = args.indexOf("--config");
    if (configAt === -1 || args[configAt + 1] !== CONFIG_MOUNT) errors.push(`${at}: args must contain --config ${CONFIG_MOUNT}`);
    if (c.command) errors.push(`${at}: command overrides the image's entrypoint (bun run src/main.ts); use args`);

    // The ConfigMap is what --config reads.
    const mount = (c.volumeMounts ?? []).find((m: any) => `${m.mountPath}/config.yaml` === CONFIG_MOUNT);
    const vol = mount && (pod.spec.volumes ?? []).find((v: any) => v.name === mount.name);
    if (vol?.configMap?.name !== x.configMapName) errors.push(`${at}: ${CONFIG_MOUNT} is not the ConfigMap ${x.configMapName}`);

    // Port: the config's default, unless the env overrides the port variable (then that value).
    const env: any[] = c.env ?? [];
    const portEnv = p.portVar ? env.find((e) => e.name === p.portVar)?.value : undefined;
    const port = portEnv !== undefined ? Number(portEnv) : p.port;
    const declared = (c.ports ?? []).map((cp: any) => cp.containerPort);
    if (!declared.includes(port)) errors.push(`${at}: containerPort ${declared.join(",") || "none"}, but config.yaml puts ${p.id} on ${port}`);

    for (const kind of ["readinessProbe", "livenessProbe"] as const) {
      const probe = c[kind];
      if (!probe?.httpGet) errors.push(`${at}: ${kind} must be an httpGet on /health`);
      else {
        if (probe.httpGet.path !== "/health") errors.push(`${at}: ${kind} path ${probe.httpGet.path}, expected /health`);
        if (portOf(c, probe.httpGet.port) !== port) errors.push(`${at}: ${kind} port ${probe.httpGet.port} is not ${p.id}'s port ${port}`);
      }
    }

    for (const r of ["cpu", "memory"]) {
      const req = c.resources?.requests?.[r];
      const lim = c.resources?.limits?.[r];
      if (req === undefined || lim === undefined) errors.push(`${at}: resources.requests and .limits need ${r}`);
      else if (!(quantity(req) <= quantity(lim))) errors.push(`${at}: ${r} request ${req} exceeds limit ${lim}`);
    }

    const sc = { ...pod?.spec?.securityContext, ...c.securityContext };
    if (sc.runAsNonRoot !== true || !sc.runAsUser) errors.push(`${at}: must run as a non-root user (runAsNonRoot, runAsUser)`);

    // Env: only variables this plugin's config reads; secrets from keys that exist; *_HOST → a Service of that plugin.
    const reads = x.platform.varsOf(p.id);
    for (const e of env) {
      if (!reads.has(e.name)) errors.push(`${at}: env ${e.name} is not read by host: or plugins.${p.id}: in config.yaml`);
      const ref = e.valueFrom?.secretKeyRef;
      if (ref && (ref.name !== secret?.metadata?.name || !secretKeys.has(ref.key))) errors.push(`${at}: env ${e.name} refers to missing secret key ${ref.name}/${ref.key}`);
      const hostOf = Object.values(HOST_VARS).find((h) => h.hostVar === e.name);
      if (hostOf && e.value) {
        // SECURITY_HOST must name a Service that selects the security pods and serves security's port.
        const svc = services.find((s) => s.metadata?.name === e.value);
        const target = x.platform.plugins.find((q) => q.id === hostOf.plugin);
        const pods = find(docs, "Deployment", `tradpal-${hostOf.plugin}`)?.spec?.template?.metadata?.labels;
        if (!svc || !target || !matches(svc.spec?.selector, pods)) errors.push(`${at}: ${e.name}=${e.value} is not the Service of the ${hostOf.plugin} pods`);
        else if (!svc.spec.ports?.some((sp: any) => sp.port === target.port)) errors.push(`${at}: ${e.name}=${e.value}: Service has no port ${target.port} (${target.id})`);
      }
      if (e.name === "REDIS_URL" && e.value) {
        const u = new URL(e.value);
        const svc = services.find((s) => s.metadata?.name === u.hostname);
        if (!svc?.spec?.ports?.some((sp: any) => sp.port === Number(u.port || 6379))) errors.push(`${at}: REDIS_URL ${e.value} names no Service port`);
      }
    }

    const svc = find(docs, "Service", name);
    if (!svc) errors.push(`Service ${name}: missing`);
    else {
      if (!matches(svc.spec?.selector, pod?.metadata?.labels)) errors.push(`Service ${name}: selector does not select ${name}'s pods`);
      const sp = (svc.spec?.ports ?? []).find((q: any) => q.port === port);
      if (!sp) errors.push(`Service ${name}: no port ${port}`);
      else if (portOf(c, sp.targetPort ?? sp.port) !== port) errors.push(`Service ${name}: targetPort ${sp.targetPort} does not reach ${port}`);
    }
    if (!matches(dep.spec?.selector?.matchLabels, pod?.metadata?.labels)) errors.push(`${at}: selector does not match its pod labels`);
  }

  // The gateway is the front door: a PDB keeps one up through node drains, and must not block them.
  const gw = find(docs, "Deployment", "tradpal-gateway");
  const pdb = docs.find((d) => d.doc.kind === "PodDisruptionBudget" && matches(d.doc.spec?.selector?.matchLabels, gw?.spec?.template?.metadata?.labels))?.doc;
  if (!pdb) errors.push("PodDisruptionBudget: none selects the gateway's pods");
  else if (typeof pdb.spec?.minAvailable === "number" && pdb.spec.minAvailable >= (gw?.spec?.replicas ?? 1)) errors.push(`PodDisruptionBudget ${pdb.metadata?.name}: minAvailable ${pdb.spec.minAvailable} >= replicas ${gw?.spec?.replicas}: no node could ever be drained`);
  return errors;
}
