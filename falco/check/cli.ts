/**
 * bun run falco:check [files...]   (default: falco/trading_rules.yaml)
 * Files are loaded together in the order given, as Falco loads its rules_files (upstream rules first).
 * Structural checks, then each enabled syscall rule compiled by libsinsp (sysdig). Exit 0 when no errors,
 * 1 on errors, 2 when sysdig is missing (install: apt-get install -y --no-install-recommends sysdig).
 *   --no-engine     structural checks only
 *   --newer FILE    list of newer fields (default falco/newer-fields.yaml)
 */
import { resolve } from "node:path";
import { loadRulesFile, type LoadedFile, type Problem } from "./load";
import { checkStructure } from "./structure";
import { checkSemantics, loadNewerSyntax, sysdigAvailable } from "./engine";

const ROOT = resolve(import.meta.dir, "..", "..");

export interface CheckReport { problems: Problem[]; rules: number; compiled: number; skipped: number; newerUsed: Map<string, number>; engine: boolean }

export async function checkFiles(files: string[], opts: { engine?: boolean; newer?: string } = {}): Promise<CheckReport> {
  const problems: Problem[] = [];
  const loaded = files.map((f) => loadRulesFile(f, problems)).filter((x): x is LoadedFile => x !== undefined);
  const rules = checkStructure(loaded, problems);
  const report: CheckReport = { problems, rules: rules.length, compiled: 0, skipped: 0, newerUsed: new Map(), engine: false };
  if (opts.engine !== false && loaded.length === files.length) {
    const r = await checkSemantics(rules, loadNewerSyntax(opts.newer ?? resolve(ROOT, "falco", "newer-fields.yaml")), problems);
    Object.assign(report, { compiled: r.compiled, skipped: r.skipped.length, newerUsed: r.newerUsed, engine: true });
  }
  problems.sort((a, b) => (a.file === b.file ? a.line - b.line : files.indexOf(a.file) - files.indexOf(b.file)));
  return report;
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const engine = !args.includes("--no-engine");
  const ni = args.indexOf("--newer");
  const newer = ni >= 0 ? args[ni + 1] : undefined;
  const files = args.filter((a, i) => !a.startsWith("--") && !(ni >= 0 && i === ni + 1));
  if (files.length === 0) files.push(resolve(ROOT, "falco", "trading_rules.yaml"));
  if (engine && !sysdigAvailable()) {
    console.error("falco:check: sysdig (libsinsp) is not installed: apt-get install -y --no-install-recommends sysdig (or --no-engine for structural checks only)");
    process.exit(2);
  }
  const r = await checkFiles(files, { engine, newer });
  for (const p of r.problems) console.log(`${p.file}:${p.line}: ${p.kind}: ${p.message}`);
  const errors = r.problems.filter((p) => p.kind === "error").length;
  const newerList = [...r.newerUsed.entries()].map(([k, n]) => `${k} (${n})`).join(", ");
  console.log(`${errors === 0 ? "ok" : "FAILED"}: ${files.length} file(s), ${r.rules} rule(s)${r.engine ? `, ${r.compiled} compiled by libsinsp${r.skipped ? `, ${r.skipped} of other sources not compiled` : ""}` : ", engine not run"}; ${errors} error(s), ${r.problems.length - errors} warning(s)${newerList ? `; newer syntax accepted via falco/newer-fields.yaml: ${newerList}` : ""}`);
  process.exit(errors === 0 ? 0 : 1);
}
