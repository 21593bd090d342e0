/**
 * Maps a path in the parsed document (["plugins", "gateway", "services", 2, "url"]) back to a line and
 * column of the YAML text. Bun's YAML parser returns values without positions, so this walks the
 * block structure by indentation; inside flow collections (`[..]`, `{..}`) it answers the nearest
 * enclosing line, which is still where the user must look.
 */
import { commentStart } from "./interpolate";

export interface Location {
  line: number;
  column: number;
}

interface Line {
  no: number; // 1-based
  indent: number;
  text: string; // without comment, right-trimmed
}

function significantLines(source: string): Line[] {
  const out: Line[] = [];
  source.split("\n").forEach((raw, i) => {
    const hash = commentStart(raw);
    const text = (hash === -1 ? raw : raw.slice(0, hash)).replace(/\s+$/, "");
    if (text.trim() === "" || text.trim() === "---") return;
    out.push({ no: i + 1, indent: text.length - text.trimStart().length, text });
  });
  return out;
}

const KEY_RE = /^\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s:#][^:#]*?))\s*:(?:\s|$)/;

/** Scope: lines [from, to) whose content sits at column `col` or deeper. */
interface Scope {
  from: number;
  to: number;
  col: number;
  loc: Location;
}

export function locate(source: string, path: readonly (string | number)[]): Location {
  const lines = significantLines(source);
  let scope: Scope = { from: 0, to: lines.length, col: 0, loc: { line: 1, column: 1 } };
  for (const segment of path) {
    const next = typeof segment === "number" ? findItem(lines, scope, segment) : findKey(lines, scope, segment);
    if (!next) return scope.loc;
    scope = next;
  }
  return scope.loc;
}

/** Column where this scope's entries start: the first line's content column (after a "- " if the item starts inline). */
function entryColumn(lines: Line[], scope: Scope): number | undefined {
  if (scope.from >= scope.to) return undefined;
  const first = lines[scope.from];
  return Math.max(first.indent, scope.col);
}

function scopeEnd(lines: Line[], from: number, limit: number, parentCol: number): number {
  let i = from;
  while (i < limit && lines[i].indent > parentCol) i++;
  return i;
}

function findKey(lines: Line[], scope: Scope, key: string): Scope | undefined {
  const col = entryColumn(lines, scope);
  if (col === undefined) return undefined;
  for (let i = scope.from; i < scope.to; i++) {
    const line = lines[i];
    // An entry at this level starts at `col` (or at `col` inside the first line of a "- " item).
    const start: number = i === scope.from ? col : line.indent;
    if (start !== col) continue;
    const m = KEY_RE.exec(line.text.slice(start));
    if (!m) continue;
    const name = m[1] ?? m[2] ?? m[3];
    if (name !== key) continue;
    const valueCol = start + m[0].length;
    const loc = { line: line.no, column: start + 1 };
    const hasInline = line.text.slice(valueCol).trim() !== "";
    if (hasInline) return { from: i, to: i, col: valueCol, loc: { line: line.no, column: valueCol + 1 } };
    const end = scopeEnd(lines, i + 1, scope.to, col - (lines[i + 1]?.text.trimStart().startsWith("- ") ? 1 : 0));
    return { from: i + 1, to: Math.max(end, i + 1), col: 0, loc };
  }
  return undefined;
}

function findItem(lines: Line[], scope: Scope, index: number): Scope | undefined {
  const col = entryColumn(lines, scope);
  if (col === undefined) return undefined;
  let seen = -1;
  for (let i = scope.from; i < scope.to; i++) {
    const line = lines[i];
    if (line.indent !== col || !line.text.slice(col).startsWith("-")) continue;
    if (++seen !== index) continue;
    const afterDash = line.text.slice(col + 1);
    const contentCol = col + 1 + (afterDash.length - afterDash.trimStart().length);
    let end = i + 1;
    while (end < scope.to && !(lines[end].indent <= col)) end++;
    const loc = { line: line.no, column: col + 1 };
    if (afterDash.trim() === "") return { from: i + 1, to: end, col: 0, loc };
    // Inline item: "- name: x" continues on the following, deeper lines at contentCol.
    return { from: i, to: end, col: contentCol, loc: { line: line.no, column: contentCol + 1 } };
  }
  return undefined;
}
