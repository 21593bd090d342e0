/**
 * scripts/provision-test.sh, run for real but against test doubles: PATH is a temp dir holding only
 * shims, so the real promtool/chromium are hidden and nothing is installed or uninstalled.
 * - `id` double: prints the uid we choose (0 = root, 1000 = not root);
 * - `apt-get` double: records each call to a log and, on `install`, "installs" the packages by writing
 *   a stub for the tool each package provides (so the script's after-install check can pass or fail).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const SCRIPT = resolve(import.meta.dir, "../scripts/provision-test.sh");
const ALL = ["redis-server", "openssl", "curl", "jq", "promtool", "prometheus", "chromium", "prometheus-alertmanager", "sysdig"];
/** Tools the cases below keep present so their expectations name only the tools they are about. */
const FALCO_TOOLS = ["prometheus-alertmanager", "sysdig"];
const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

function stub(dir: string, name: string, body = "exit 0") {
  writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(dir, name), 0o755);
}

interface Doubles { uid?: number; apt?: boolean; present: string[]; aptProvides?: Record<string, string> }

/** A PATH of test doubles: `present` tools as stubs, an `id` double, optionally an `apt-get` double. */
function shims(d: Doubles): { dir: string; log: string } {
  const dir = mkdtempSync(join(tmpdir(), "provision-"));
  dirs.push(dir);
  const log = join(dir, "apt.log");
  for (const t of d.present) stub(dir, t);
  stub(dir, "id", `echo ${d.uid ?? 0}`);
  if (d.apt !== false) {
    const provides: Record<string, string | string[]> = d.aptProvides ?? { "redis-server": "redis-server", openssl: "openssl", curl: "curl", jq: "jq", prometheus: ["promtool", "prometheus"], chromium: "chromium", "prometheus-alertmanager": "prometheus-alertmanager", sysdig: "sysdig" };
    const cases = Object.entries(provides).map(([pkg, tools]) => `    ${pkg}) ${[tools].flat().map((tool) => `printf '#!/bin/sh\\nexit 0\\n' > "${dir}/${tool}"; /bin/chmod +x "${dir}/${tool}"`).join("; ")};;`).join("\n");
    stub(dir, "apt-get", `echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> "${log}"\n[ "$1" = install ] || exit 0\nfor p in "$@"; do\n  case "$p" in\n${cases}\n  esac\ndone`);
  }
  return { dir, log };
}

function run(dir: string) {
  const p = Bun.spawnSync(["/bin/bash", SCRIPT], { env: { PATH: dir }, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

describe("provision-test.sh", () => {
  test("everything present: silent, exit 0, apt-get never called", () => {
    const s = shims({ present: ALL });
    const r = run(s.dir);
    expect(r).toEqual({ code: 0, out: "", err: "" });
    expect(existsSync(s.log)).toBe(false);
  });

  test("root with apt-get: one update, then installs exactly the missing packages, noninteractive", () => {
    const s = shims({ present: ["redis-server", "openssl", "curl", "jq", ...FALCO_TOOLS] });
    const r = run(s.dir);
    expect(r.code).toBe(0);
    const calls = readFileSync(s.log, "utf8").trim().split("\n");
    expect(calls).toEqual([
      "DEBIAN_FRONTEND=noninteractive update -qq",
      "DEBIAN_FRONTEND=noninteractive install -y -qq prometheus chromium",
    ]);
    expect(existsSync(join(s.dir, "promtool"))).toBe(true);
    // a second run finds everything and does nothing
    expect(run(s.dir)).toEqual({ code: 0, out: "", err: "" });
    expect(readFileSync(s.log, "utf8").trim().split("\n")).toHaveLength(2);
  });

  test("each tool maps to its package", () => {
    for (const [tool, pkg] of [["redis-server", "redis-server"], ["openssl", "openssl"], ["curl", "curl"], ["jq", "jq"], ["promtool", "prometheus"], ["prometheus", "prometheus"], ["chromium", "chromium"], ["prometheus-alertmanager", "prometheus-alertmanager"]]) {
      const s = shims({ present: ALL.filter((t) => t !== tool) });
      expect(run(s.dir).code).toBe(0);
      expect(readFileSync(s.log, "utf8")).toContain(`install -y -qq ${pkg}\n`);
    }
  });

  test("sysdig is installed without recommends (they pull a DKMS kernel module), in its own apt-get call", () => {
    const s = shims({ present: ALL.filter((t) => t !== "sysdig" && t !== "chromium") });
    expect(run(s.dir).code).toBe(0);
    expect(readFileSync(s.log, "utf8").trim().split("\n")).toEqual([
      "DEBIAN_FRONTEND=noninteractive update -qq",
      "DEBIAN_FRONTEND=noninteractive install -y -qq chromium",
      "DEBIAN_FRONTEND=noninteractive install -y -qq --no-install-recommends sysdig",
    ]);
    const r = run(shims({ uid: 1000, present: ALL.filter((t) => t !== "sysdig" && t !== "chromium") }).dir);
    expect(r.err).toContain("sudo apt-get install -y chromium && apt-get install -y --no-install-recommends sysdig");
  });

  test("not root: one line naming the missing tools and the install command, exit 3, no apt-get call", () => {
    const s = shims({ uid: 1000, present: ["redis-server", "openssl", "curl", "jq", ...FALCO_TOOLS] });
    const t0 = performance.now();
    const r = run(s.dir);
    expect(performance.now() - t0).toBeLessThan(2000); // stops at once
    expect(r.code).toBe(3);
    expect(r.out).toBe("");
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(r.err).toContain("missing promtool prometheus chromium");
    expect(r.err).toContain("sudo apt-get install -y prometheus chromium");
    expect(existsSync(s.log)).toBe(false);
  });

  test("root but no apt-get: the same one line, exit 3", () => {
    const s = shims({ uid: 0, apt: false, present: ["openssl", "curl", "jq", "promtool", "prometheus", "chromium", ...FALCO_TOOLS] });
    const r = run(s.dir);
    expect(r.code).toBe(3);
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(r.err).toContain("missing redis-server (no apt-get");
    expect(r.err).toContain("apt-get install -y redis-server");
  });

  test("apt-get 'succeeds' but the tool is still absent: says so, exit 3", () => {
    const s = shims({ present: ["redis-server", "openssl", "curl", "jq", "chromium", ...FALCO_TOOLS], aptProvides: {} });
    const r = run(s.dir);
    expect(r.code).toBe(3);
    expect(r.err).toContain("promtool prometheus still not on PATH");
  });

  test("apt-get fails: exit 3 with the command to run", () => {
    const s = shims({ present: ["redis-server", "openssl", "curl", "jq", "promtool", "prometheus", ...FALCO_TOOLS] });
    stub(s.dir, "apt-get", "exit 100");
    const r = run(s.dir);
    expect(r.code).toBe(3);
    expect(r.err).toContain("apt-get failed installing chromium");
  });
});
