/**
 * Runs one manual's runnable blocks in order against a live platform, stopping at the first failure:
 * the error names file:line of the failing command (shell) or of the block (TypeScript), with the
 * tail of what it printed. Shell blocks run in bash with prelude.sh; TypeScript blocks as files in the
 * platform's directory, so `import … from "./src/clients/…"` resolves as it does in a clone.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { Block } from "./blocks";
import type { Platform } from "./platform";
import { shellScript } from "./shell";

/** A block's own time limit: an example that hangs (a stream nobody cuts) fails instead of stalling the suite. */
const BLOCK_TIMEOUT_MS = 60_000;
const STREAM_SECONDS = "1";

export interface FileReport {
  file: string;
  run: number;
  skipped: number;
}

export class DocTestFailure extends Error {
  constructor(readonly file: string, readonly line: number, detail: string) {
    super(`${file}:${line}: ${detail}`);
    this.name = "DocTestFailure";
  }
}

const tail = (s: string, n = 3000) => (s.length > n ? "…" + s.slice(-n) : s);

async function exec(cmd: string[], p: Platform, extraEnv: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(cmd, { cwd: p.dir, env: { ...p.env, ...extraEnv }, stdout: "pipe", stderr: "pipe", timeout: BLOCK_TIMEOUT_MS, killSignal: "SIGKILL" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code: proc.signalCode ? 124 : code, out: `${out}${err ? `\n--- stderr ---\n${err}` : ""}` };
}

async function runBlock(b: Block, p: Platform, index: number): Promise<void> {
  const name = `doctest-${basename(b.file, ".md")}-${index}`;
  const code = p.mapPorts(b.code);
  if (b.lang === "ts") {
    const file = join(p.dir, `${name}.ts`);
    writeFileSync(file, code);
    const r = await exec([process.execPath, file], p);
    if (r.code !== 0) throw new DocTestFailure(b.file, b.line, `TypeScript block exited ${r.code}${r.code === 124 ? " (timed out)" : ""}\n${tail(r.out)}`);
    return;
  }
  const state = join(p.dir, `${name}.line`);
  writeFileSync(state, String(b.line));
  const script = join(p.dir, `${name}.sh`);
  writeFileSync(script, shellScript(code, b.line));
  const r = await exec(["bash", script], p, { DOCTEST_STATE: state, DOCTEST_STREAM_SECONDS: STREAM_SECONDS });
  if (r.code !== 0) {
    const line = Number(readFileSync(state, "utf8").trim()) || b.line;
    throw new DocTestFailure(b.file, line, `shell command exited ${r.code}${r.code === 124 ? " (timed out)" : ""}\n${tail(r.out)}`);
  }
}

/** Run the runnable blocks of one file, in order; throws DocTestFailure at the first that fails. */
export async function runFile(file: string, blocks: Block[], p: Platform): Promise<FileReport> {
  const runnable = blocks.filter((b) => b.runnable);
  for (let i = 0; i < runnable.length; i++) await runBlock(runnable[i], p, i + 1);
  return { file, run: runnable.length, skipped: blocks.length - runnable.length };
}
