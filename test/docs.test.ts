/**
 * Docs that are tested (issue 13, Build 2): every ```bash doctest / ```ts doctest block of README.md
 * and plugins/**\/README.md runs, in order per file, against a live platform started from the shipped
 * config.yaml (test/support/doctest/platform.ts); the first failing block fails its file's test with
 * file:line. Each file reports how many example blocks ran and how many were skipped (unmarked).
 * Also here: the runner's own checks (it must catch a broken example), and the README's dependency table.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseBlocks, readBlocks } from "./support/doctest/blocks";
import { startPlatform, type Platform } from "./support/doctest/platform";
import { DocTestFailure, runFile, type FileReport } from "./support/doctest/run";
import { splitCommands } from "./support/doctest/shell";

const ROOT = resolve(import.meta.dir, "..");
const FILES = ["README.md", ...[...new Bun.Glob("plugins/**/README.md").scanSync({ cwd: ROOT })].sort()];
/** The manuals issue 13 names: each must have examples that run. */
const MUST_RUN = ["README.md", "plugins/security/README.md", "plugins/gateway/README.md", "plugins/gateway/edge-policy/README.md", "plugins/events/README.md", "plugins/breaker/README.md"];
const reports: FileReport[] = [];

afterAll(() => {
  if (reports.length) console.log(`doc tests:\n${reports.map((r) => `  ${r.file}: ${r.run} run, ${r.skipped} skipped`).join("\n")}`);
});

describe("manual examples run as written", () => {
  for (const file of FILES) {
    test(file, async () => {
      const blocks = readBlocks(ROOT, file);
      if (MUST_RUN.includes(file)) expect(blocks.filter((b) => b.runnable).length).toBeGreaterThan(0);
      if (!blocks.some((b) => b.runnable)) { reports.push({ file, run: 0, skipped: blocks.length }); return; }
      const platform = await startPlatform(ROOT);
      try {
        reports.push(await runFile(file, blocks, platform));
      } finally {
        await platform.stop();
      }
    }, 180_000);
  }
});

describe("the runner", () => {
  test("finds examples by language; runs only those marked doctest", () => {
    const md = "text\n```bash doctest\ncurl a\n```\n```sh\ndocker run x\n```\n```\noutput\n```\n```yaml\nk: v\n```\n~~~ts doctest\nawait 1;\n~~~\n"
      + "```` ```bash doctest ```` is inline code, not a fence\n```sh doctest\necho b\n```\n";
    expect(parseBlocks("x.md", md).map((b) => [b.line, b.lang, b.runnable, b.code])).toEqual([
      [3, "shell", true, "curl a"], [6, "shell", false, "docker run x"], [15, "ts", true, "await 1;"], [19, "shell", true, "echo b"],
    ]);
  });

  test("a documented status is expected: after the command or on the comment line below it", () => {
    const cmds = splitCommands([
      "curl -s a   # 404 not there",
      "curl -s -XPOST b \\",
      "  -d '{\"#\":1}'",
      "# 409 {\"error\":{}}",
      "curl -s c | jq .   # {\"ok\":true}",
      "X=$(cat f); echo \"# 500\"",
    ].join("\n"), 10);
    expect(cmds.map((c) => [c.line, c.expect])).toEqual([[10, "404"], [11, "409"], [14, undefined], [15, undefined]]);
  });

  // A fake platform: a directory, a server answering by path, no port mapping. What it proves is the
  // runner's verdicts: an undocumented 401 from `curl -s` fails with its line; a documented one passes.
  describe("against a server", () => {
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => new Response("{}", { status: new URL(req.url).pathname === "/ok" ? 200 : 401 }) });
    const dir = mkdtempSync(join(tmpdir(), "doctest-runner-"));
    const fake: Platform = { dir, env: { PATH: process.env.PATH! }, mapPorts: (c) => c, output: () => "", stop: async () => {} };
    const run = (md: string) => runFile("x.md", parseBlocks("x.md", md), fake);
    afterAll(() => { server.stop(true); rmSync(dir, { recursive: true, force: true }); });

    test("an HTTP error the example does not document fails, naming file and line", async () => {
      const err = await run(`# x\n\n\`\`\`bash doctest\ncurl -s ${server.url}ok\nT=$(curl -s ${server.url}secret)\necho never\n\`\`\`\n`).catch((e) => e);
      expect(err).toBeInstanceOf(DocTestFailure);
      expect(err.message).toStartWith("x.md:5: shell command exited");
      expect(err.message).toContain("HTTP 401, and the example documents no error status");
    });

    test("a documented status passes; another status fails; an unset variable fails", async () => {
      expect(await run(`\`\`\`sh doctest\ncurl -s ${server.url}secret   # 401\n\`\`\`\n\`\`\`sh\nexit 1\n\`\`\`\n`)).toEqual({ file: "x.md", run: 1, skipped: 1 });
      expect((await run(`\`\`\`sh doctest\ncurl -s ${server.url}ok\n# 404 {"error":{}}\n\`\`\`\n`).catch((e) => e)).message).toContain("HTTP 200, the example documents 404");
      expect((await run("```sh doctest\necho $NOT_SET\n```\n").catch((e) => e)).message).toStartWith("x.md:2:");
    });

    test("a TypeScript block that throws fails with its line", async () => {
      expect(await run("```ts doctest\nconst x: number = 1;\nif (x !== 1) throw new Error();\n```\n")).toMatchObject({ run: 1 });
      expect((await run("a\n```ts doctest\nthrow new Error('boom');\n```\n").catch((e) => e)).message).toMatch(/^x\.md:3: TypeScript block exited 1[\s\S]*boom/);
    });
  });
});

test("README's dependency table names every runtime and dev dependency, and every runtime one is imported", async () => {
  const pkg = await Bun.file(join(ROOT, "package.json")).json();
  const readme = await Bun.file(join(ROOT, "README.md")).text();
  const table = readme.slice(readme.indexOf("## Dependencies"));
  const sources = [...new Bun.Glob("{src,plugins}/**/*.ts").scanSync({ cwd: ROOT })].filter((f) => !f.includes(".test.") && !f.includes("/test/"));
  const code = (await Promise.all(sources.map((f) => Bun.file(join(ROOT, f)).text()))).join("\n");
  for (const dep of Object.keys(pkg.dependencies)) {
    expect(table).toContain(dep);
    expect(code.includes(`from "${dep}"`) || code.includes(`from "${dep}/`) || code.includes(`import "${dep}"`)).toBe(true);
  }
  for (const dep of Object.keys(pkg.devDependencies)) expect(table).toContain(dep);
});
