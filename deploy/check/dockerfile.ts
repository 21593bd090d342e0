/**
 * The Dockerfile without Docker: parse it, check it against the platform, and replay its build in a temp
 * dir so that what `docker build` / `docker run` would hit fails here first.
 *
 * What the replay does for real: reads the build context through .dockerignore, copies every COPY source
 * (a missing or ignored one is an error, as in `docker build`), runs each RUN with sh (the deps stage's
 * `bun install --frozen-lockfile --production` is the real install), and hands the final stage's files,
 * ENV, USER, ENTRYPOINT and HEALTHCHECK to the caller, which runs them as that user's uid.
 * What it simulates: each stage's filesystem is a directory holding only what the Dockerfile put there
 * (not the base image's), absolute paths in RUN and ENV are moved under it, and user names resolve
 * through IMAGE_USERS (the oven/bun image's /etc/passwd: bun is 1000:1000) instead of the image's files.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, posix, relative } from "node:path";

/** Users of the oven/bun base image, as its /etc/passwd defines them. */
export const IMAGE_USERS: Record<string, { uid: number; gid: number }> = { root: { uid: 0, gid: 0 }, bun: { uid: 1000, gid: 1000 } };

export interface Instruction {
  op: string;
  args: string;
  line: number;
}

export interface Stage {
  base: string;
  name?: string;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let body = lines[i]!;
    while (body.endsWith("\\") && i + 1 < lines.length) body = body.slice(0, -1) + " " + lines[++i]!.trim();
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(body);
    if (!m || body.trimStart().startsWith("#")) continue;
    const op = m[1]!.toUpperCase();
    const rest = m[2]!.trim();
    if (op === "ARG" && stages.length === 0) {
      const [k, v = ""] = rest.split("=");
      args[k!] = v;
    } else if (op === "FROM") {
      const fm = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      const base = (fm?.[1] ?? rest).replace(/\$\{?(\w+)\}?/g, (_x, n: string) => args[n] ?? "");
      stages.push({ base, ...(fm?.[2] ? { name: fm[2] } : {}), instructions: [] });
    } else stages.at(-1)?.instructions.push({ op, args: rest, line: start + 1 });
  }
  return { args, stages };
}

/** JSON (exec) form or shell form → argv. */
export function execForm(s: string): string[] | undefined {
  try {
    const v = JSON.parse(s);
    return Array.isArray(v) && v.every((x) => typeof x === "string") ? v : undefined;
  } catch {
    return undefined;
  }
}

const last = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op).at(-1);

export function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of stage.instructions.filter((i) => i.op === "ENV")) {
    for (const m of i.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, "");
  }
  return env;
}

/** Static rules: base image, stages, production install, non-root user, ports, health check, entrypoint. */
export function dockerfileErrors(text: string, ports: number[]): string[] {
  const errors: string[] = [];
  const { stages } = parseDockerfile(text);
  const final = stages.at(-1);
  if (!final) return ["no FROM"];
  for (const s of stages) if (!/^oven\/bun:/.test(s.base)) errors.push(`FROM ${s.base}: the base must be the official oven/bun image`);
  if (stages.length < 2) errors.push("single stage: dependencies must be installed in a stage of their own");
  const runs = stages.flatMap((s) => s.instructions.filter((i) => i.op === "RUN").map((i) => i.args));
  if (!runs.some((r) => /bun install\b(?=.*--frozen-lockfile)(?=.*--production)/.test(r))) errors.push("no `bun install --frozen-lockfile --production`");
  const user = last(final, "USER")?.args.split(":")[0];
  if (!user || user === "root" || user === "0") errors.push(`final stage runs as ${user ?? "root (no USER)"}: use a non-root user`);
  else if (!IMAGE_USERS[user] && !/^\d+$/.test(user)) errors.push(`USER ${user} is not a user of the base image`);
  const exposed = final.instructions.filter((i) => i.op === "EXPOSE").flatMap((i) => i.args.split(/\s+/).map((p) => Number(p.split("/")[0])));
  for (const p of ports) if (!exposed.includes(p)) errors.push(`EXPOSE lacks ${p}`);
  for (const p of exposed) if (!ports.includes(p)) errors.push(`EXPOSE ${p}: no plugin listens there`);
  const hc = last(final, "HEALTHCHECK")?.args;
  if (!hc || !/\bCMD\b/.test(hc)) errors.push("no HEALTHCHECK CMD");
  const entry = execForm(last(final, "ENTRYPOINT")?.args ?? "");
  if (JSON.stringify(entry) !== JSON.stringify(["bun", "run", "src/main.ts"])) errors.push(`ENTRYPOINT must be ["bun","run","src/main.ts"] in exec form (args such as --only follow it), got ${last(final, "ENTRYPOINT")?.args}`);
  if (!envOf(final).DATA_DIR) errors.push("final stage sets no DATA_DIR");
  return errors;
}

/** .dockerignore as Docker applies it: patterns in order, the last match wins, `!` re-includes. */
export function dockerIgnore(text: string): (rel: string) => boolean {
  const rules = text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))
    .map((l) => ({ negate: l.startsWith("!"), glob: new Bun.Glob(l.replace(/^!/, "").replace(/^\/|\/$/g, "")) }));
  return (rel: string) => {
    const parts = rel.split("/");
    const chain = parts.map((_p, i) => parts.slice(0, i + 1).join("/")); // the path and every parent
    let excluded = false;
    for (const r of rules) if (chain.some((c) => r.glob.match(c))) excluded = !r.negate;
    return excluded;
  };
}

export interface BuiltImage {
  rootfs: string;
  workdir: string;
  env: Record<string, string>;
  user: { name: string; uid: number; gid: number };
  entrypoint: string[];
  cmd: string[];
  healthcheck: string[];
}

/** Moves absolute paths of a RUN line or ENV value under the stage's rootfs. */
function underRoot(rootfs: string, s: string): string {
  return s.replace(/(^|[\s=])(\/[\w./-]*)/g, (_m, pre: string, p: string) => pre + join(rootfs, p));
}

export async function replayBuild(text: string, repo: string, tmp: string): Promise<{ image?: BuiltImage; errors: string[]; log: string[] }> {
  const errors: string[] = [];
  const log: string[] = [];
  const ignored = dockerIgnore(existsSync(join(repo, ".dockerignore")) ? readFileSync(join(repo, ".dockerignore"), "utf8") : "");
  const { stages } = parseDockerfile(text);
  const roots: string[] = [];
  let image: BuiltImage | undefined;

  for (const [n, stage] of stages.entries()) {
    const rootfs = join(tmp, `stage${n}`);
    mkdirSync(rootfs, { recursive: true, mode: 0o755 });
    roots.push(rootfs);
    let workdir = "/";
    let user = "root";
    const env: Record<string, string> = {};
    for (const ins of stage.instructions) {
      if (ins.op === "WORKDIR") mkdirSync(join(rootfs, (workdir = posix.resolve(workdir, ins.args))), { recursive: true, mode: 0o755 });
      else if (ins.op === "ENV") Object.assign(env, envOf({ base: "", instructions: [ins] }));
      else if (ins.op === "USER") user = ins.args;
      else if (ins.op === "COPY") {
        const from = /--from=(\S+)/.exec(ins.args)?.[1];
        const parts = ins.args.replace(/--\S+/g, "").trim().split(/\s+/);
        const dest = posix.resolve(workdir, parts.pop()!);
        const srcStage = from === undefined ? undefined : stages.findIndex((s, i) => s.name === from || String(i) === from);
        for (const src of parts) {
          let abs: string;
          if (srcStage === undefined) {
            const rel = posix.normalize(src).replace(/\/$/, "");
            abs = join(repo, rel);
            if (!existsSync(abs) || ignored(rel)) {
              errors.push(`Dockerfile:${ins.line}: COPY ${src}: ${existsSync(abs) ? "excluded by .dockerignore" : "not in the repository"}`);
              continue;
            }
          } else {
            abs = join(roots[srcStage] ?? "/nonexistent", src);
            if (srcStage === -1 || !existsSync(abs)) {
              errors.push(`Dockerfile:${ins.line}: COPY --from=${from} ${src}: not in that stage`);
              continue;
            }
          }
          const intoDir = parts.length > 1 || ins.args.trim().endsWith("/");
          const target = join(rootfs, intoDir && !statSync(abs).isDirectory() ? posix.join(dest, posix.basename(src)) : dest);
          mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
          cpSync(abs, target, { recursive: true, filter: (s) => srcStage !== undefined || !ignored(relative(repo, s)) });
        }
      } else if (ins.op === "RUN") {
        // chown by name → by the base image's ids; absolute paths → under this stage's rootfs.
        const cmd = underRoot(rootfs, ins.args.replace(/\bchown\s+(-R\s+)?(\w+):(\w+)/g, (_m, r = "", u: string, g: string) => `chown ${r}${IMAGE_USERS[u]?.uid ?? u}:${IMAGE_USERS[g]?.gid ?? g}`));
        const runEnv = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, underRoot(rootfs, v)]));
        const proc = Bun.spawnSync(["sh", "-c", cmd], { cwd: join(rootfs, workdir), env: { ...process.env, ...runEnv }, stdout: "pipe", stderr: "pipe" });
        log.push(`RUN ${ins.args} → exit ${proc.exitCode}`);
        if (proc.exitCode !== 0) errors.push(`Dockerfile:${ins.line}: RUN ${ins.args} failed (${proc.exitCode}): ${proc.stderr.toString().slice(-400)}`);
      }
    }
    if (n === stages.length - 1) {
      const ids = IMAGE_USERS[user] ?? { uid: Number(user), gid: Number(user) };
      image = {
        rootfs,
        workdir: join(rootfs, workdir),
        env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, underRoot(rootfs, v)])),
        user: { name: user, ...ids },
        entrypoint: execForm(last(stage, "ENTRYPOINT")?.args ?? "") ?? [],
        cmd: execForm(last(stage, "CMD")?.args ?? "") ?? [],
        healthcheck: execForm(/\bCMD\s+(.*)$/.exec(last(stage, "HEALTHCHECK")?.args ?? "")?.[1] ?? "") ?? [],
      };
    }
  }
  return { image, errors, log };
}
