/**
 * `bun run bench [name...]` runs bench/<name>.bench.ts for each name (all of them when none is given).
 * Each benchmark prints its table and rewrites its own section of bench/RESULTS.md. It runs, with every
 * server it spawns (ours and the Bun peers), in the environment the product starts with (lib/runtime-env.ts).
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { RUNTIME_ENV } from "./lib/runtime-env";

const dir = import.meta.dir;
const available = readdirSync(dir).filter((f) => f.endsWith(".bench.ts")).map((f) => f.replace(/\.bench\.ts$/, "")).sort();
const wanted = Bun.argv.slice(2).filter((a) => !a.startsWith("-"));
const names = wanted.length ? wanted : available;
for (const name of names) {
  if (!available.includes(name)) {
    console.error(`unknown benchmark "${name}"; available: ${available.join(", ") || "(none)"}`);
    process.exit(1);
  }
}
for (const name of names) {
  console.log(`\n=== bench ${name} ===`);
  const proc = Bun.spawn(["bun", "run", join(dir, `${name}.bench.ts`), ...Bun.argv.slice(2).filter((a) => a.startsWith("-"))], { stdout: "inherit", stderr: "inherit", env: { ...process.env, ...RUNTIME_ENV } });
  const code = await proc.exited;
  if (code !== 0) {
    console.error(`bench ${name} failed (exit ${code})`);
    process.exit(code);
  }
}
