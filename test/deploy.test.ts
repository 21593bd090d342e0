/**
 * deploy/ and the Dockerfile, checked without a Docker engine or a cluster (neither runs here).
 *
 * Kubernetes: every object against the API's schemas (kubernetes-models), then against config.yaml
 * (names, ports, --only, probes, env, Secret placeholders). Compose: both files against config.yaml.
 * Dockerfile: its rules, then its build replayed in a temp dir (deploy/check/dockerfile.ts says what
 * is real and what is simulated) and the result run as the image's user: write DATA_DIR, `--check` the
 * ConfigMap's config for every Deployment, start the entrypoint and pass the image's HEALTHCHECK.
 * Each group also feeds a broken input to its checker, so a checker that passes everything fails here.
 */
import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readPlatform, type Platform } from "../deploy/check/platform";
import { parseManifests, schemaErrors, agreementErrors, CONFIG_MOUNT, type K8sDoc } from "../deploy/check/kubernetes";
import { allInOneErrors, splitErrors } from "../deploy/check/compose";
import { dockerfileErrors, dockerIgnore, replayBuild, type BuiltImage } from "../deploy/check/dockerfile";
import { expectedFiles, CONFIGMAP_NAME } from "../deploy/split-config";
import { freePort } from "./support/harness";

const ROOT = join(import.meta.dir, "..");
const K8S = join(ROOT, "deploy/kubernetes");
const read = (rel: string) => readFileSync(join(ROOT, rel), "utf8");

const shipped: Platform = readPlatform(read("config.yaml"));
const split: Platform = readPlatform(read("deploy/config.yaml"));
const manifestFiles = readdirSync(K8S).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml").sort();
const loadManifests = (): K8sDoc[] => manifestFiles.flatMap((f) => parseManifests(`deploy/kubernetes/${f}`, readFileSync(join(K8S, f), "utf8")));
const k8sExpect = { platform: split, configText: read("deploy/config.yaml"), configMapName: CONFIGMAP_NAME };

describe("deploy/config.yaml and the ConfigMap", () => {
  test("are what deploy/split-config.ts derives from the current config.yaml (stale → regenerate)", () => {
    for (const [rel, text] of Object.entries(expectedFiles())) expect({ rel, text: read(rel) }).toEqual({ rel, text });
  });

  test("keep config.yaml's plugins and ports; only plugin-to-plugin hosts became variables", () => {
    expect(split.plugins).toEqual(shipped.plugins);
    expect([...split.allVars].filter((v) => !shipped.allVars.has(v)).sort()).toEqual(["EVENTS_HOST", "SECURITY_HOST"]);
  });
});

describe("Kubernetes manifests", () => {
  const docs = loadManifests();

  test("kustomization.yaml lists every manifest file", () => {
    const k = Bun.YAML.parse(readFileSync(join(K8S, "kustomization.yaml"), "utf8")) as { resources: string[] };
    expect([...k.resources].sort()).toEqual(manifestFiles);
  });

  test("every object validates against the Kubernetes API schema", async () => {
    expect(docs.length).toBeGreaterThan(10);
    const errors = (await Promise.all(docs.map(schemaErrors))).flat();
    expect(errors).toEqual([]);
  });

  test("names, ports, --only, probes, env, Secret and PDB agree with config.yaml", () => {
    expect(agreementErrors(docs, k8sExpect)).toEqual([]);
    const kinds = docs.map((d) => d.doc.kind);
    for (const kind of ["ConfigMap", "Secret", "Service", "Deployment", "PodDisruptionBudget"]) expect(kinds).toContain(kind);
  });

  test("schema check rejects a wrong type and an unknown kind", async () => {
    const dep = structuredClone(docs.find((d) => d.doc.kind === "Deployment")!);
    dep.doc.spec.template.spec.containers[0].ports[0].containerPort = "8000";
    expect((await schemaErrors(dep)).join("\n")).toContain("/spec/template/spec/containers/0/ports/0/containerPort type");
    const pdb = structuredClone(docs.find((d) => d.doc.kind === "PodDisruptionBudget")!);
    pdb.doc.apiVersion = "policy/v1beta9";
    expect((await schemaErrors(pdb)).join("\n")).toContain("no Kubernetes schema");
  });

  test("agreement check rejects a wrong port, probe, --only, env, Secret value and stale ConfigMap", () => {
    const mutate = (fn: (docs: K8sDoc[]) => void) => {
      const copy = structuredClone(docs);
      fn(copy);
      return agreementErrors(copy, k8sExpect).join("\n");
    };
    const gw = (ds: K8sDoc[]) => ds.find((d) => d.doc.kind === "Deployment" && d.doc.metadata.name === "tradpal-gateway")!.doc.spec.template.spec.containers[0];
    expect(mutate((ds) => { gw(ds).ports[0].containerPort = 8080; })).toContain("containerPort 8080, but config.yaml puts gateway on 8000");
    expect(mutate((ds) => { gw(ds).livenessProbe.httpGet.path = "/healthz"; })).toContain("livenessProbe path /healthz");
    expect(mutate((ds) => { delete gw(ds).readinessProbe; })).toContain("readinessProbe must be an httpGet");
    expect(mutate((ds) => { gw(ds).args = ["--only", "events", "--config", CONFIG_MOUNT]; })).toContain("args must contain --only gateway");
    expect(mutate((ds) => { gw(ds).env.push({ name: "EVENT_STREAM_NAME", value: "x" }); })).toContain("env EVENT_STREAM_NAME is not read by host: or plugins.gateway:");
    expect(mutate((ds) => { gw(ds).env.find((e: any) => e.name === "SECURITY_HOST").value = "tradpal-breaker"; })).toContain("SECURITY_HOST=tradpal-breaker is not the Service of the security pods");
    expect(mutate((ds) => { gw(ds).resources.requests.memory = "2Gi"; })).toContain("memory request 2Gi exceeds limit");
    expect(mutate((ds) => { ds.find((d) => d.doc.kind === "Secret")!.doc.stringData.SECRETS_KEK = "c2VjcmV0"; })).toContain("key SECRETS_KEK has a value");
    expect(mutate((ds) => { ds.find((d) => d.doc.kind === "ConfigMap")!.doc.data["config.yaml"] += "# edited\n"; })).toContain("differs from deploy/config.yaml");
    expect(mutate((ds) => { ds.find((d) => d.doc.kind === "PodDisruptionBudget")!.doc.spec.minAvailable = 2; })).toContain("no node could ever be drained");
    expect(mutate((ds) => { ds.splice(ds.findIndex((d) => d.doc.kind === "Deployment" && d.doc.metadata.name === "tradpal-falco"), 1); })).toContain("Deployment tradpal-falco: missing");
  });
});

describe("Compose files", () => {
  const all = Bun.YAML.parse(read("deploy/compose.yaml")) as any;
  const splitDoc = Bun.YAML.parse(read("deploy/compose.split.yaml")) as any;

  test("compose.yaml: the platform and Redis (appendonly), every port published, env config.yaml reads", () => {
    expect(allInOneErrors("compose.yaml", all, shipped)).toEqual([]);
  });

  test("compose.split.yaml: one container per plugin with --only, the split config mounted, hosts that exist", () => {
    expect(splitErrors("compose.split.yaml", splitDoc, split, CONFIG_MOUNT)).toEqual([]);
    const mounts = Object.values<any>(splitDoc.services).flatMap((s) => s.volumes ?? []).filter((v: string) => v.endsWith(`:${CONFIG_MOUNT}:ro`));
    expect(new Set(mounts)).toEqual(new Set([`./config.yaml:${CONFIG_MOUNT}:ro`])); // ./ is deploy/, i.e. deploy/config.yaml
  });

  test("the checks reject a missing appendonly, an unpublished port and a host naming the wrong plugin", () => {
    const a = structuredClone(all);
    a.services.redis.command = ["redis-server"];
    a.services.infrastructure.ports = a.services.infrastructure.ports.filter((p: string) => !p.startsWith("8013"));
    const errs = allInOneErrors("compose.yaml", a, shipped).join("\n");
    expect(errs).toContain("--appendonly yes");
    expect(errs).toContain("does not publish falco's port 8013");
    const s = structuredClone(splitDoc);
    s.services.gateway.environment.SECURITY_HOST = "events";
    expect(splitErrors("compose.split.yaml", s, split, CONFIG_MOUNT).join("\n")).toContain("SECURITY_HOST=events is not the service running --only security");
  });
});

describe("Dockerfile rules", () => {
  const ports = shipped.plugins.map((p) => p.port);

  test("official oven/bun base, multi-stage, production install, non-root, EXPOSE = config.yaml's ports, HEALTHCHECK, entrypoint", () => {
    expect(dockerfileErrors(read("Dockerfile"), ports)).toEqual([]);
  });

  test("the rules reject root, a missing port, a plain install and a shell-form entrypoint", () => {
    const bad = read("Dockerfile")
      .replace("USER bun", "USER root")
      .replace(" 8013", "")
      .replace("--frozen-lockfile --production", "")
      .replace('ENTRYPOINT ["bun", "run", "src/main.ts"]', "ENTRYPOINT bun run src/main.ts");
    const errs = dockerfileErrors(bad, ports).join("\n");
    for (const s of ["runs as root", "EXPOSE lacks 8013", "--frozen-lockfile --production", "ENTRYPOINT must be"]) expect(errs).toContain(s);
  });

  test(".dockerignore: last match wins and ! re-includes", () => {
    const ignored = dockerIgnore(read(".dockerignore"));
    expect(ignored("deploy/healthcheck.ts")).toBe(false);
    expect(ignored("deploy/compose.yaml")).toBe(true);
    expect(ignored("node_modules/elysia/package.json")).toBe(true);
    expect(ignored("plugins/gateway/index.ts")).toBe(false);
  });
});

/**
 * The build replayed and its result run as the image's user. Simulated: the uid switch uses setpriv
 * (root here and in CI; otherwise the current user stands in and the ownership tests are skipped), and
 * the image's bun is this machine's bun copied into the temp tree (the real image brings its own).
 */
describe("Dockerfile replayed in a temp dir, run as its user", () => {
  const isRoot = process.getuid?.() === 0;
  let tmp = "";
  let image: BuiltImage;
  let replayErrors: string[] = [];
  let bunDir = "";

  const asUser = (argv: string[]) => (isRoot ? ["setpriv", `--reuid=${image.user.uid}`, `--regid=${image.user.gid}`, "--clear-groups", ...argv] : argv);
  const userEnv = (extra: Record<string, string> = {}) => ({ PATH: `${bunDir}:/usr/bin:/bin`, HOME: join(tmp, "home"), ...image.env, ...extra });
  const run = (argv: string[], extra: Record<string, string> = {}) => {
    const p = Bun.spawnSync(asUser(argv), { cwd: image.workdir, env: userEnv(extra), stdout: "pipe", stderr: "pipe" });
    return { code: p.exitCode, out: p.stdout.toString() + p.stderr.toString() };
  };

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "tradpal-image-"));
    chmodSync(tmp, 0o755); // the image user must be able to walk into it
    const r = await replayBuild(read("Dockerfile"), ROOT, join(tmp, "build"));
    replayErrors = r.errors;
    image = r.image!;
    bunDir = join(tmp, "bin");
    mkdirSync(bunDir, { mode: 0o755 });
    copyFileSync(process.execPath, join(bunDir, "bun"));
    chmodSync(join(bunDir, "bun"), 0o755);
    mkdirSync(join(tmp, "home"), { mode: 0o755 });
    if (isRoot) chownSync(join(tmp, "home"), image.user.uid, image.user.gid);
  }, 180_000);
  afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

  test("every COPY source exists and is in the build context; every RUN succeeds (incl. the real production install)", () => {
    expect(replayErrors).toEqual([]);
    const nm = join(image.workdir, "node_modules");
    expect(statSync(join(nm, "elysia")).isDirectory()).toBe(true);
    // devDependencies stay out (typescript would not do here: @elysiajs/openapi has it as a peer dependency)
    for (const dev of ["kubernetes-models", "playwright-core", "fastify"]) expect(() => statSync(join(nm, dev))).toThrow();
    for (const f of [image.entrypoint[2]!, image.healthcheck[1]!, "config.yaml"]) expect(statSync(join(image.workdir, f)).isFile()).toBe(true);
  });

  test("a COPY of a path that is missing or ignored fails the replay", async () => {
    const bad = read("Dockerfile").replace("COPY falco ./falco", "COPY falco ./falco\nCOPY nosuch ./nosuch\nCOPY test ./test");
    const r = await replayBuild(bad.replace(/^RUN bun install.*$/m, "RUN true"), ROOT, join(tmp, "bad"));
    expect(r.errors.join("\n")).toContain("COPY nosuch: not in the repository");
    expect(r.errors.join("\n")).toContain("COPY test: excluded by .dockerignore");
  }, 60_000);

  test.skipIf(!isRoot)("the image user owns and can write DATA_DIR, and could not write a root-owned dir", () => {
    expect(image.user.name).toBe("bun");
    expect(statSync(image.env.DATA_DIR!).uid).toBe(image.user.uid);
    expect(run(["sh", "-c", 'echo ok > "$DATA_DIR/.probe"']).code).toBe(0);
    const rootOwned = join(tmp, "root-owned");
    mkdirSync(rootOwned, { mode: 0o755 });
    expect(run(["sh", "-c", `echo no > ${rootOwned}/.probe`]).code).not.toBe(0);
    expect(run(["sh", "-c", `echo no > ${image.workdir}/src/.probe`]).code).not.toBe(0); // the code is read-only to it
  });

  test("`bun run src/main.ts --check --config <ConfigMap's config.yaml>` passes for every Deployment, with its env", () => {
    const docs = loadManifests();
    const cmText = docs.find((d) => d.doc.kind === "ConfigMap")!.doc.data["config.yaml"];
    const secret = docs.find((d) => d.doc.kind === "Secret")!.doc.stringData as Record<string, string>;
    const cmFile = join(tmp, "etc-tradpal", "config.yaml");
    mkdirSync(join(tmp, "etc-tradpal"), { recursive: true, mode: 0o755 });
    writeFileSync(cmFile, cmText, { mode: 0o644 });
    const deployments = docs.filter((d) => d.doc.kind === "Deployment" && d.doc.metadata.name !== "tradpal-redis");
    expect(deployments.length).toBe(split.plugins.length);
    for (const d of deployments) {
      const c = d.doc.spec.template.spec.containers[0];
      const env: Record<string, string> = Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? secret[e.valueFrom.secretKeyRef.key] ?? ""]));
      const args = (c.args as string[]).map((a) => (a === CONFIG_MOUNT ? cmFile : a));
      const r = run([...image.entrypoint, ...args, "--check"], env);
      const id = args[args.indexOf("--only") + 1];
      expect({ deployment: d.doc.metadata.name, code: r.code, out: r.out }).toMatchObject({ code: 0, out: expect.stringContaining(`configuration is valid (${id}:`) });
    }
  });

  test("the entrypoint starts every plugin as the image user, the image's HEALTHCHECK passes, SIGTERM exits 0", async () => {
    // Five ports picked free, then bound by the platform: another process may take one in between (an outgoing
    // connection's ephemeral port). A start that fails on a taken port is tried once more with fresh ports.
    let ports!: Record<string, number>;
    let env!: Record<string, string>;
    let proc!: ReturnType<typeof Bun.spawn>;
    let up = false;
    let why = "";
    for (let attempt = 0; attempt < 2 && !up; attempt++) {
      ports = { API_GATEWAY_PORT: freePort(), SECURITY_SERVICE_PORT: freePort(), EVENT_SERVICE_PORT: freePort(), CIRCUIT_BREAKER_PORT: freePort(), FALCO_SERVICE_PORT: freePort() };
      env = userEnv({ ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])), BIND_ADDRESS: "127.0.0.1", REDIS_URL: "", LOG_LEVEL: "warn" });
      proc = Bun.spawn(asUser([...image.entrypoint, ...image.cmd]), { cwd: image.workdir, env, stdout: "pipe", stderr: "pipe" });
      const deadline = Date.now() + 30_000;
      while (!up && Date.now() < deadline && proc.exitCode === null) {
        up = await fetch(`http://127.0.0.1:${ports.FALCO_SERVICE_PORT}/health`).then((r) => r.ok, () => false);
        if (!up) await Bun.sleep(200);
      }
      if (up) break;
      proc.kill("SIGKILL");
      await proc.exited;
      why = `exit ${proc.exitCode}: ${(await new Response(proc.stderr as ReadableStream).text()).slice(-2000)}`;
      if (!/EADDRINUSE|in use/i.test(why)) break;
    }
    try {
      expect({ up, why }).toMatchObject({ up: true });
      // The HEALTHCHECK as Docker runs it: same user, workdir and env, no arguments (it reads PID 1's).
      const hc = Bun.spawnSync(asUser(image.healthcheck), { cwd: image.workdir, env, stdout: "pipe", stderr: "pipe" });
      expect({ code: hc.exitCode, out: hc.stdout.toString() + hc.stderr.toString() }).toEqual({ code: 0, out: "healthcheck: ok (5 ports)\n" });
      // Told the wrong plugin set, it fails: it really probes.
      const wrong = Bun.spawnSync(asUser([...image.healthcheck, "--only", "gateway"]), { cwd: image.workdir, env: { ...env, API_GATEWAY_PORT: String(freePort()) }, stdout: "pipe", stderr: "pipe" });
      expect(wrong.exitCode).toBe(1);
      if (isRoot) expect(statSync(join(image.env.DATA_DIR!, "security")).uid).toBe(image.user.uid);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    } finally {
      proc.kill("SIGKILL");
    }
  }, 60_000);
});
