/**
 * Reads Falco rules files into items with their line numbers. A rules file is a YAML sequence whose items
 * start at column 0 with "- "; Bun's YAML parser gives no positions, so lines come from that layout.
 * A YAML syntax error is located by parsing growing prefixes of the failing item: the first line whose
 * prefix fails is where the text stops being YAML (an unclosed bracket fails on its own line).
 */
import { readFileSync } from "node:fs";

export interface Problem { file: string; line: number; message: string; kind: "error" | "warning" }

export interface Item {
  file: string;
  /** 1-based line of the item's "- ". */
  line: number;
  /** Last line of the item (inclusive). */
  end: number;
  value: Record<string, unknown>;
  lines: string[];
}

export interface LoadedFile { file: string; items: Item[]; lines: string[] }

function yamlError(err: unknown): string {
  return String((err as Error)?.message ?? err).replace(/^YAML Parse error:\s*/, "");
}

function parse(text: string): unknown {
  return Bun.YAML.parse(text);
}

/** The first line (1-based, within `lines` starting at `first`) at which a prefix no longer parses. */
function failingLine(lines: string[], from: number, to: number): number {
  for (let i = from; i <= to; i++) {
    try { parse(lines.slice(from - 1, i).join("\n")); } catch { return i; }
  }
  return to;
}

export function loadRulesFile(file: string, problems: Problem[]): LoadedFile | undefined {
  let text: string;
  try { text = readFileSync(file, "utf8"); } catch (err) { problems.push({ file, line: 0, message: `cannot read: ${(err as Error).message}`, kind: "error" }); return undefined; }
  const lines = text.split("\n");
  const starts: number[] = [];
  lines.forEach((l, i) => { if (/^- /.test(l) || l === "-") starts.push(i + 1); });
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    // Find the item that fails on its own, then the line inside it.
    const bounds = starts.map((s, i) => [s, (starts[i + 1] ?? lines.length + 1) - 1] as const);
    if (starts.length === 0 || starts[0] > 1) bounds.unshift([1, (starts[0] ?? lines.length + 1) - 1] as const);
    for (const [s, e] of bounds) {
      try { parse(lines.slice(s - 1, e).join("\n")); } catch (inner) {
        problems.push({ file, line: failingLine(lines, s, e), message: `YAML syntax error: ${yamlError(inner)}`, kind: "error" });
        return undefined;
      }
    }
    problems.push({ file, line: 1, message: `YAML syntax error: ${yamlError(err)}`, kind: "error" });
    return undefined;
  }
  if (doc === null || doc === undefined) return { file, items: [], lines };
  if (!Array.isArray(doc)) { problems.push({ file, line: 1, message: "a rules file must be a YAML sequence of items (- rule:, - macro:, - list:)", kind: "error" }); return undefined; }
  if (doc.length !== starts.length) {
    problems.push({ file, line: 1, message: `cannot map items to lines (${doc.length} items, ${starts.length} lines starting with "- "); write each item as a block starting at column 0`, kind: "error" });
    return undefined;
  }
  const items: Item[] = doc.map((value, i) => ({
    file, line: starts[i], end: (starts[i + 1] ?? lines.length + 1) - 1,
    value: value !== null && typeof value === "object" && !Array.isArray(value) ? value as Record<string, unknown> : { __scalar: value },
    lines,
  }));
  return { file, items, lines };
}

/** Line of `key:` inside an item (the item's line when absent). */
export function keyLine(item: Item, key: string): number {
  const re = new RegExp(`^(?:- )?\\s*${key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s*:`);
  for (let l = item.line; l <= item.end; l++) if (re.test(item.lines[l - 1])) return l;
  return item.line;
}

/** The line inside an item, at or after `from`, where `word` first appears as a word; `from` when not found. */
export function wordLine(item: Item, from: number, word: string): number {
  const re = new RegExp(`(^|[^A-Za-z0-9_.])${word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}($|[^A-Za-z0-9_])`);
  for (let l = from; l <= item.end; l++) if (re.test(item.lines[l - 1].replace(/#.*$/, ""))) return l;
  return from;
}

/**
 * The source line of a character offset in a key's value (plain, quoted or a `>`/`|` block): the parsed
 * value joins the block's lines, so offsets are walked line by line over the trimmed source lines.
 */
export function offsetLine(item: Item, keyAt: number, offset: number): number {
  const first = item.lines[keyAt - 1];
  const keyIndent = first.length - first.replace(/^(- )?\s*/, "").length;
  const afterKey = first.replace(/^(- )?\s*[^:]+:\s*/, "");
  const content: [number, string][] = [];
  if (afterKey !== "" && !/^[>|][-+]?\s*(#.*)?$/.test(afterKey)) content.push([keyAt, afterKey.trim()]);
  for (let l = keyAt + 1; l <= item.end; l++) {
    const text = item.lines[l - 1];
    if (text.trim() === "") continue;
    if (text.length - text.trimStart().length <= keyIndent) break;
    content.push([l, text.trim()]);
  }
  let seen = 0;
  for (const [l, t] of content) {
    seen += t.length + 1;
    if (offset < seen) return l;
  }
  return content.at(-1)?.[0] ?? keyAt;
}
