import { test, expect } from "bun:test";
import { join } from "node:path";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { tempDir } from "../../test/support/harness";
import { readOrCreateSecret, writeFileExclusive } from "./secret-file";

test("exactly one of many concurrent creators wins; every process reads the winner's secret", async () => {
  const file = join(tempDir(), "sub", "secret");
  const script = `import { readOrCreateSecret } from ${JSON.stringify(join(import.meta.dir, "secret-file.ts"))};
const r = readOrCreateSecret(${JSON.stringify(file)}, () => crypto.randomUUID() + crypto.randomUUID());
console.log(JSON.stringify(r));`;
  const procs = Array.from({ length: 8 }, () => Bun.spawn(["bun", "-e", script], { stdout: "pipe" }));
  const out = await Promise.all(procs.map(async (p) => JSON.parse((await new Response(p.stdout).text()).trim())));
  expect(out.filter((r) => r.created).length).toBe(1);
  expect(new Set(out.map((r) => r.value)).size).toBe(1);
  expect(readFileSync(file, "utf8").trim()).toBe(out[0].value);
  expect(statSync(file).mode & 0o777).toBe(0o600);
});

test("an existing file is never overwritten; an unusable one is replaced", () => {
  const dir = tempDir();
  const file = join(dir, "s");
  expect(writeFileExclusive(file, "first")).toBe(true);
  expect(writeFileExclusive(file, "second")).toBe(false);
  expect(readFileSync(file, "utf8")).toBe("first");
  writeFileSync(file, "short\n");
  const r = readOrCreateSecret(file, () => "a-long-enough-new-secret");
  expect(r).toEqual({ value: "a-long-enough-new-secret", created: true });
});
