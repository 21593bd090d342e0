/**
 * The environment the product starts with (bench/lib/runtime-env.ts): `bun run start` and the Dockerfile
 * give the host the same allocator setting the benchmarks measure, and a user's own value wins. The
 * allocator itself says what it read (MIMALLOC_VERBOSE prints its options at process start).
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { RUNTIME_ENV } from "../bench/lib/runtime-env";

const ROOT = join(import.meta.dir, "..");

/** The purge_delay each process started by `bun run start -- --check` read (the script runner, bun install, the host). */
function purgeDelays(env: Record<string, string | undefined>): { delays: string[]; out: string } {
  const r = Bun.spawnSync(["bun", "run", "start", "--", "--check"], { cwd: ROOT, env: { ...process.env, MIMALLOC_VERBOSE: "1", ...env }, stdout: "pipe", stderr: "pipe" });
  const out = r.stdout.toString() + r.stderr.toString();
  expect(r.exitCode, out).toBe(0);
  return { delays: [...out.matchAll(/option 'purge_delay': (-?\d+)/g)].map((m) => m[1]), out };
}

test("`bun run start` runs the host with freed memory kept for reuse (purge_delay -1), and a user's own value wins", () => {
  const own = purgeDelays({ MIMALLOC_PURGE_DELAY: undefined });
  expect(own.out).toContain("configuration is valid");
  expect(own.delays.at(-1)).toBe("-1"); // the last process is the host itself
  if (process.env.MIMALLOC_PURGE_DELAY === undefined) expect(RUNTIME_ENV.MIMALLOC_PURGE_DELAY).toBe(own.delays.at(-1)!); // the benchmarks run the same
  const users = purgeDelays({ MIMALLOC_PURGE_DELAY: "250" });
  expect(users.delays.at(-1)).toBe("250");
}, 30_000);

test("the Dockerfile sets the same value", () => {
  const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  expect(dockerfile).toMatch(/^ENV MIMALLOC_PURGE_DELAY=-1$/m);
  expect(readFileSync(join(ROOT, "package.json"), "utf8")).toContain("MIMALLOC_PURGE_DELAY=${MIMALLOC_PURGE_DELAY:--1} bun run src/main.ts");
});
