/**
 * Everything the security plugin keeps at rest is private to the service user: files 0600, directories
 * 0700 (keys, secrets, the audit log and its seal, tokens, and the public CA files too: one rule, nothing to
 * get wrong). New files are created so; files left looser by an older version or by hand are tightened at start.
 */
import { chmodSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";

const MAX_DEPTH = 4;
const MAX_ENTRIES = 100_000;

/** chmod every file under `dir` to 0600 and every directory to 0700 where looser; the paths changed. Symlinks are left alone. */
export function tightenTree(dir: string): string[] {
  const changed: string[] = [];
  let seen = 0;
  const walk = (path: string, depth: number) => {
    if (++seen > MAX_ENTRIES) return;
    let st;
    try { st = lstatSync(path); } catch { return; } // removed meanwhile
    if (st.isSymbolicLink()) return;
    const want = st.isDirectory() ? 0o700 : 0o600;
    if ((st.mode & 0o777 & ~want) !== 0) {
      chmodSync(path, want);
      changed.push(path);
    }
    if (st.isDirectory() && depth < MAX_DEPTH) for (const name of readdirSync(path)) walk(join(path, name), depth + 1);
  };
  walk(dir, 0);
  return changed;
}
