/**
 * bun run falco:check against the real engine (libsinsp from Debian's sysdig): accepts falco/ and Falco's
 * upstream rules (with the listed newer fields, and only with them); rejects an undefined macro, a bad
 * priority, a duplicate rule, an unknown field, a condition syntax error and a YAML syntax error, each at its line.
 */
import { test, expect, beforeAll } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { checkFiles } from "./cli";

const ROOT = resolve(import.meta.dir, "..", "..");
const UPSTREAM = "/work/shared/reference/falco-rules";
const UPSTREAM_FILES = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"].map((f) => join(UPSTREAM, f));
const OURS = join(ROOT, "falco", "trading_rules.yaml");
let dir: string;

beforeAll(() => {
  if (!Bun.which("sysdig")) throw new Error("sysdig is not installed (apt-get install -y --no-install-recommends sysdig; bun run test installs it)");
  dir = mkdtempSync(join(tmpdir(), "falco-check-"));
});

const errorsOf = (r: Awaited<ReturnType<typeof checkFiles>>) => r.problems.filter((p) => p.kind === "error");

test("falco/trading_rules.yaml passes on its own, every rule compiled by libsinsp", async () => {
  const r = await checkFiles([OURS]);
  expect(errorsOf(r)).toEqual([]);
  expect(r.compiled).toBe(8);
});

test("Falco's upstream rules pass loaded together (falco_rules.yaml first), with ours after them", async () => {
  const r = await checkFiles([...UPSTREAM_FILES, OURS]);
  expect(errorsOf(r)).toEqual([]);
  expect(r.compiled).toBeGreaterThan(90);
  expect(r.newerUsed.has("proc.is_exe_upper_layer")).toBe(true);
}, 60_000);

test("without the newer-fields list, the upstream rules fail on those fields, named with their lines", async () => {
  const empty = join(dir, "empty-newer.yaml");
  writeFileSync(empty, "fields: []\n");
  const r = await checkFiles(UPSTREAM_FILES, { newer: empty });
  const msgs = errorsOf(r).map((p) => `${p.file.split("/").pop()}:${p.line} ${p.message}`);
  expect(msgs.some((m) => /^falco_rules\.yaml:\d+ rule "Drop and execute new binary in container": unknown field "proc\.is_exe_upper_layer"/.test(m))).toBe(true);
}, 60_000);

async function variant(name: string, edit: (lines: string[]) => number): Promise<{ file: string; line: number }> {
  const lines = (await Bun.file(OURS).text()).split("\n");
  const line = edit(lines);
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, lines.join("\n"));
  return { file, line };
}
const find = (lines: string[], re: RegExp, from = 0) => { const i = lines.findIndex((l, k) => k >= from && re.test(l)); if (i < 0) throw new Error(`no line ${re}`); return i; };

const CASES: [string, (lines: string[]) => number, RegExp][] = [
  ["undefined macro", (l) => { const i = find(l, /condition: tradpal_open_read and tradpal_sensitive_data/); l[i] = l[i].replace("tradpal_sensitive_data", "tradpal_no_such_macro"); return i + 1; }, /undefined macro "tradpal_no_such_macro"/],
  ["bad priority", (l) => { const i = find(l, /priority: WARNING/); l[i] = "  priority: SEVERE"; return i + 1; }, /bad priority "SEVERE"/],
  ["duplicate rule", (l) => { const i = find(l, /^- rule: TradPal Write Below Binary Dir/); l[i] = "- rule: TradPal Shell In Trading Container"; return i + 1; }, /duplicate rule "TradPal Shell In Trading Container" \(first defined at .*:\d+\)/],
  ["unknown field", (l) => { const i = find(l, /condition: tradpal_spawned_process and tradpal_container and proc.name in/); l[i] = l[i].replace("proc.name in", "proc.nmae in"); return i + 1; }, /unknown field "proc\.nmae"/],
  ["condition syntax error", (l) => { const i = find(l, /tradpal_open_read and fd.name = \/etc\/shadow/); l[i] = l[i].replace("tradpal_open_read and", "tradpal_open_read and ("); return i + 1; }, /unclosed "\("/],
  ["unknown field in output", (l) => { const i = find(l, /Package manager in running container \(process=%proc.name/); l[i] = l[i].replace("%proc.name", "%proc.nam"); return i + 1; }, /unknown field "%proc\.nam" in output/],
  ["YAML syntax error", (l) => { const i = find(l, /^  tags: \[tradpal, container, process, mitre_persistence/); l[i] = "  tags: [tradpal, container, process"; return i + 1; }, /YAML syntax error/],
];

for (const [name, edit, message] of CASES) {
  test(`rejects: ${name}, at its line`, async () => {
    const v = await variant(name.replaceAll(" ", "-"), edit);
    const r = await checkFiles([v.file]);
    const errs = errorsOf(r);
    expect(errs.length).toBeGreaterThan(0);
    const hit = errs.find((p) => message.test(p.message));
    expect(hit).toBeDefined();
    expect(hit!.file).toBe(v.file);
    expect(hit!.line).toBe(v.line);
  });
}

test("the command prints file:line and exits 1 on errors, 0 when clean", async () => {
  const v = await variant("cli-bad-priority", (l) => { const i = find(l, /priority: WARNING/); l[i] = "  priority: SEVERE"; return i + 1; });
  const bad = Bun.spawnSync(["bun", "run", join(ROOT, "falco", "check", "cli.ts"), v.file]);
  expect(bad.exitCode).toBe(1);
  expect(bad.stdout.toString()).toContain(`${v.file}:${v.line}: error: bad priority "SEVERE"`);
  const ok = Bun.spawnSync(["bun", "run", join(ROOT, "falco", "check", "cli.ts")]);
  expect(ok.exitCode).toBe(0);
  expect(ok.stdout.toString()).toMatch(/^ok: 1 file\(s\), 8 rule\(s\), 8 compiled by libsinsp/m);
});
