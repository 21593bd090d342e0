/** Config loading: interpolation, human units, located errors (all at once), and `--check`. */
import { describe, test, expect } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { loadConfig } from "../src/config/load";
import { interpolate } from "../src/config/interpolate";
import { locate } from "../src/config/locate";
import { parseDuration, parseRate, parseSize } from "../src/config/units";
import { directoryResolver } from "../src/host/resolve";
import { echoPlugin } from "./plugins/echo";
import { tempDir } from "./support/harness";

const resolve = directoryResolver(undefined, { echo: echoPlugin });
const ROOT = join(import.meta.dir, "..");

describe("units", () => {
  test("durations", () => {
    expect(parseDuration("250ms")).toBe(250);
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("5m")).toBe(300_000);
    expect(parseDuration("1h")).toBe(3_600_000);
    expect(parseDuration(60)).toBe(60_000); // the seed's RECOVERY_TIMEOUT=60 means seconds
    expect(() => parseDuration("soon")).toThrow("not a duration");
  });
  test("rates", () => {
    expect(parseRate("1000/min")).toEqual({ limit: 1000, periodMs: 60_000 });
    expect(parseRate("50/s")).toEqual({ limit: 50, periodMs: 1000 });
    expect(parseRate("10/5s")).toEqual({ limit: 10, periodMs: 5000 });
    expect(parseRate(1000)).toEqual({ limit: 1000, periodMs: 60_000 }); // RATE_LIMIT_DEFAULT=1000 is per minute
    expect(() => parseRate("lots")).toThrow("not a rate");
  });
  test("sizes", () => {
    expect(parseSize("10mb")).toBe(10 * 1024 * 1024);
    expect(parseSize("512kb")).toBe(512 * 1024);
    expect(parseSize(42)).toBe(42);
  });
});

describe("interpolation", () => {
  test("${VAR}, ${VAR:-default}, escapes and comments", () => {
    const { text, errors } = interpolate("a: ${A}\nb: ${B:-fallback}\nc: $${LITERAL}\n# ${IN_COMMENT}\nd: ${MISSING}", { A: "1" });
    expect(text).toBe("a: 1\nb: fallback\nc: ${LITERAL}\n# ${IN_COMMENT}\nd: ");
    expect(errors).toEqual([{ line: 5, column: 4, variable: "MISSING" }]);
  });
  test("an empty variable takes the default", () => {
    expect(interpolate("x: ${E:-d}", { E: "" }).text).toBe("x: d");
  });
});

describe("locate", () => {
  const yaml = "host:\n  data_dir: x\nplugins:\n  echo:\n    items:\n      - url: http://a\n      - url: ftp://b\n        weight: 0\n";
  test("finds nested keys and list items", () => {
    expect(locate(yaml, ["plugins", "echo", "items", 1, "url"])).toEqual({ line: 7, column: 14 });
    expect(locate(yaml, ["plugins", "echo", "items", 1, "weight"])).toEqual({ line: 8, column: 17 });
    expect(locate(yaml, ["host", "data_dir"]).line).toBe(2);
  });
});

describe("loadConfig", () => {
  test("a valid file: defaults applied, units decoded, result frozen", async () => {
    const r = await loadConfig({ file: "mem.yaml", text: "host:\n  shutdown_grace: 3s\nplugins:\n  echo:\n    port: 0\n", resolve, env: {} });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.host.shutdown_grace).toBe(3000);
    expect(r.config.host.data_dir).toBe("./data");
    expect(r.config.plugins[0].settings.greeting).toBe("hello");
    expect(Object.isFrozen(r.config.plugins[0].settings)).toBe(true);
    expect(() => { (r.config.host as any).data_dir = "elsewhere"; }).toThrow();
  });

  test("every mistake is reported at once, with its path, line and reason", async () => {
    const text = [
      "host:",
      "  log_level: loud",
      "  shutdown_grace: soon",
      "plugins:",
      "  echo:",
      "    port: 70000",
      "    items:",
      "      - url: http://ok",
      "      - url: ftp://nope",
      "    greting: typo",
    ].join("\n");
    const r = await loadConfig({ file: "mem.yaml", text, resolve, env: {} });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const byPath = Object.fromEntries(r.errors.map((e) => [e.path, e]));
    expect(Object.keys(byPath).sort()).toEqual(["host.log_level", "host.shutdown_grace", "plugins.echo.greting", "plugins.echo.items[1].url", "plugins.echo.port"].sort());
    expect(byPath["host.log_level"].line).toBe(2);
    expect(byPath["host.shutdown_grace"].line).toBe(3);
    expect(byPath["host.shutdown_grace"].message).toContain("expected a duration");
    expect(byPath["plugins.echo.port"].line).toBe(6);
    expect(byPath["plugins.echo.items[1].url"].line).toBe(9);
    expect(byPath["plugins.echo.greting"].message).toContain('unknown key "greting"');
  });

  test("unknown plugins, unknown top-level keys, YAML syntax errors and unset variables are located", async () => {
    const r1 = await loadConfig({ file: "m", text: "plugins:\n  nosuch:\n    port: 1\nextra: 1\n", resolve, env: {} });
    expect(r1.ok).toBe(false);
    if (!r1.ok) {
      expect(r1.errors.map((e) => [e.path, e.line])).toEqual([["extra", 4], ["plugins.nosuch", 2]]);
    }
    const r2 = await loadConfig({ file: "m", text: "plugins:\n  echo: [unclosed\n", resolve, env: {} });
    expect(r2.ok).toBe(false);
    if (!r2.ok) expect(r2.errors[0].message).toContain("YAML syntax error");
    const r3 = await loadConfig({ file: "m", text: "host:\n  data_dir: ${NOT_SET_ANYWHERE}\n", resolve, env: {} });
    expect(r3.ok).toBe(false);
    if (!r3.ok) expect(r3.errors[0]).toMatchObject({ line: 2, message: expect.stringContaining("NOT_SET_ANYWHERE") });
  });

  test("--only hosts a subset: other blocks are neither loaded nor validated; naming an undeclared plugin is an error", async () => {
    const text = "plugins:\n  echo:\n    port: 0\n  elsewhere:\n    port: not-even-a-number\n";
    const r = await loadConfig({ file: "m", text, resolve, env: {}, only: ["echo"] });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.config.plugins.map((p) => p.id)).toEqual(["echo"]);
    const r2 = await loadConfig({ file: "m", text, resolve, env: {}, only: ["echo", "ghost"] });
    expect(r2.ok).toBe(false);
    if (!r2.ok) expect(r2.errors[0].message).toContain('--only names "ghost"');
  });

  test("a disabled plugin is not loaded", async () => {
    const r = await loadConfig({ file: "m", text: "plugins:\n  echo:\n    enabled: false\n  nosuch:\n    enabled: false\n", resolve, env: {} });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.config.plugins).toEqual([]);
  });

  test("the seed's environment variables reach config.yaml", async () => {
    const r = await loadConfig({
      file: join(ROOT, "config.yaml"),
      resolve: async () => undefined,
      only: [],
      env: { LOG_LEVEL: "WARNING", METRICS_ENABLED: "false", REDIS_URL: "redis://127.0.0.1:6379", ENABLE_MTLS: "false" },
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(String(r.config.host.log_level)).toBe("WARNING");
    expect(r.config.host.metrics_enabled).toBe(false);
    expect(r.config.host.redis_url).toBe("redis://127.0.0.1:6379");
  });
});

describe("bun run start --check", () => {
  const run = (args: string[]) => Bun.spawnSync(["bun", "run", join(ROOT, "src/main.ts"), ...args], { cwd: ROOT, env: { ...process.env, REDIS_URL: "" } });

  test("a config with three mistakes: all three printed with paths and lines; exit 1", () => {
    const dir = tempDir();
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "host:\n  log_level: loud\n  reload_debounce: often\nplugins:\n  nosuch:\n    port: 1\n");
    const r = run(["--check", "--config", file]);
    const out = r.stderr.toString();
    expect(r.exitCode).toBe(1);
    expect(out).toContain("3 errors");
    expect(out).toContain(`${file}:2:14: host.log_level`);
    expect(out).toContain(`${file}:3:20: host.reload_debounce: expected a duration`);
    expect(out).toContain(`${file}:5:3: plugins.nosuch: unknown plugin "nosuch"`);
  });

  test("a valid config: exit 0", () => {
    const dir = tempDir();
    const file = join(dir, "ok.yaml");
    writeFileSync(file, "host:\n  log_level: info\nplugins:\n  echo:\n    port: 0\n");
    const r = run(["--check", "--config", file, "--plugins-dir", join(ROOT, "test/plugins")]);
    expect(r.stdout.toString()).toContain("configuration is valid");
    expect(r.exitCode).toBe(0);
  });
});
