/**
 * bench/RESULTS.md holds one section per benchmark, between `<!-- BEGIN name -->` and `<!-- END name -->`,
 * so each `bun run bench <name>` rewrites only its own section and keeps the others.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { machineInfo } from "./measure";

const FILE = join(import.meta.dir, "..", "RESULTS.md");
const HEADER = "# Benchmark results\n\nEach section is written by `bun run bench <name>`; re-run one to refresh it. Figures from one run on a shared 2-core machine: compare ratios within a section, not absolute numbers across sections.\n";

export function writeSection(name: string, markdown: string): void {
  const info = machineInfo();
  const stamp = `_Run ${info.date} · ${info.nproc} cores (${info.cpu}) · Bun ${info.bun} · ${info.node !== "not installed" ? `Node ${info.node}` : ""}_\n\n`;
  const block = `<!-- BEGIN ${name} -->\n${stamp}${markdown.trim()}\n<!-- END ${name} -->`;
  let text = existsSync(FILE) ? readFileSync(FILE, "utf8") : HEADER;
  const re = new RegExp(`<!-- BEGIN ${name} -->[\\s\\S]*?<!-- END ${name} -->`);
  text = re.test(text) ? text.replace(re, block) : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(FILE, text);
}

/** A markdown table from rows of cells. */
export function table(head: string[], rows: (string | number)[][]): string {
  const fmt = (c: string | number) => (typeof c === "number" ? (Number.isInteger(c) ? String(c) : c.toFixed(2)) : c);
  return [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.map(fmt).join(" | ")} |`)].join("\n");
}
