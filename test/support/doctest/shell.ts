/**
 * A ```bash doctest block → a bash script that fails where the example would fail a reader:
 * - `set -Eeuo pipefail`: a failing command, an unset variable, a failing stage of a pipe;
 * - `curl` is a function around the real one that fails on an HTTP error status unless the example
 *   documents that status: a comment starting with the code, after the command (`curl … # 404`) or on
 *   the line below it (`# 409 {"error":…}`), makes exactly that status the expected one. (Plain
 *   `curl -s` exits 0 on a 401, which is how the security manual's token example stayed broken.)
 * - a streaming request (`curl -N`, SSE) is cut after DOCTEST_STREAM_SECONDS; cut after a 2xx is a pass;
 * - before each command the script records its markdown line, so a failure names the line.
 * The bash side is prelude.sh.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface ShellCommand {
  /** Markdown line of the command's first physical line. */
  line: number;
  text: string;
  /** The HTTP status the example documents for it, if any. */
  expect?: string;
}

/** Index of the comment's `#` on a line (outside quotes, at the start or after a blank), or -1. */
export function commentStart(line: string): number {
  let quote = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) { if (c === quote) quote = ""; else if (c === "\\" && quote === '"') i++; continue; }
    if (c === "'" || c === '"') quote = c;
    else if (c === "\\") i++;
    else if (c === "#" && (i === 0 || /\s/.test(line[i - 1]))) return i;
  }
  return -1;
}

const statusIn = (comment: string | undefined): string | undefined => /^#\s*([1-5]\d\d)\b/.exec(comment?.trim() ?? "")?.[1];

/** Logical commands (backslash continuations joined) with the status their comments document. */
export function splitCommands(code: string, firstLine: number): ShellCommand[] {
  const lines = code.split("\n");
  const out: ShellCommand[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "" || lines[i].trim().startsWith("#")) continue;
    const start = i;
    const code = (l: string) => { const c = commentStart(l); return (c === -1 ? l : l.slice(0, c)).trimEnd(); };
    while (code(lines[i]).endsWith("\\") && i + 1 < lines.length) i++;
    const last = lines[i];
    const c = commentStart(last);
    const next = lines[i + 1]?.trim().startsWith("#") ? lines[i + 1] : undefined;
    out.push({ line: firstLine + start, text: lines.slice(start, i + 1).join("\n"), expect: statusIn(c === -1 ? undefined : last.slice(c)) ?? statusIn(next) });
  }
  return out;
}

const PRELUDE = readFileSync(join(import.meta.dir, "prelude.sh"), "utf8");

/** The script: the prelude, then each command preceded by its line marker and expected status. */
export function shellScript(code: string, firstLine: number): string {
  const body = splitCommands(code, firstLine).map((c) => `__doctest_cmd ${c.line} '${c.expect ?? ""}'\n${c.text}`).join("\n");
  return `${PRELUDE}\n${body}\n`;
}
