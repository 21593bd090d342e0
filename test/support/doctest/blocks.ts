/**
 * Fenced examples in the manuals. A block is an EXAMPLE when its language is a shell or TypeScript
 * (```bash, ```sh, ```shell, ```ts, ```typescript); it RUNS in the doc tests when its info string also
 * says `doctest` (```bash doctest). Examples without the marker are counted as skipped (docker,
 * kubernetes, a Vault CLI, Redis-only commands...). Output listings, diagrams and YAML are not examples.
 */
import { readFileSync } from "node:fs";

export type Lang = "shell" | "ts";

export interface Block {
  /** Path as given (relative to the repository), for messages. */
  file: string;
  /** 1-based line of the first line of code (the line after the opening fence). */
  line: number;
  lang: Lang;
  runnable: boolean;
  code: string;
}

const LANGS: Record<string, Lang> = { bash: "shell", sh: "shell", shell: "shell", ts: "ts", typescript: "ts" };
export const MARKER = "doctest";

/** Every example block of a markdown text, in order. Fences are ``` or ~~~ (3+), closed by the same kind. */
export function parseBlocks(file: string, text: string): Block[] {
  const lines = text.split("\n");
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^( {0,3})(`{3,}|~{3,})\s*([^`\s]*)\s*(.*)$/.exec(lines[i]);
    // CommonMark: a backtick fence's info string has no backtick (a line of inline code is not a fence).
    if (!open || (open[2][0] === "`" && open[4].includes("`"))) continue;
    const fence = open[2];
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      if (lines[j].trimStart().startsWith(fence[0].repeat(fence.length)) && lines[j].trim().replaceAll(fence[0], "") === "") break;
      body.push(lines[j]);
    }
    const lang = LANGS[open[3].toLowerCase()];
    if (lang) out.push({ file, line: i + 2, lang, runnable: open[4].split(/\s+/).includes(MARKER), code: body.join("\n") });
    i = j; // past the closing fence (or the end: an unclosed fence runs to the end, as CommonMark says)
  }
  return out;
}

export function readBlocks(root: string, file: string): Block[] {
  return parseBlocks(file, readFileSync(`${root}/${file}`, "utf8"));
}
