/**
 * Before/after in one run: a commit's tree exported to a temp dir (git archive, so nobody's uncommitted
 * work in the shared checkout comes along), sharing this checkout's node_modules. Benchmarks start the
 * "before" servers from it beside the current ones and interleave them (BENCH_BASELINE=<git rev>).
 */
import { join } from "node:path";

const REPO = join(import.meta.dir, "..", "..");

export interface Tree { root: string; label: string }

export function exportTree(rev: string, dir: string, name: string): Tree {
  const root = join(dir, name);
  const sha = Bun.spawnSync(["git", "rev-parse", "--short", rev], { cwd: REPO }).stdout.toString().trim();
  if (!sha) throw new Error(`unknown revision ${rev}`);
  const r = Bun.spawnSync(["sh", "-c", `mkdir -p '${root}' && git archive ${sha} | tar -x -C '${root}' && ln -s '${join(REPO, "node_modules")}' '${root}/node_modules'`], { cwd: REPO });
  if (r.exitCode !== 0) throw new Error(`export of ${rev} failed: ${r.stderr.toString()}`);
  return { root, label: `before (${sha})` };
}
