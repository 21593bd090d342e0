/** tightenTree: looser files become 0600 and directories 0700 at any depth; tight ones and symlinks are left alone. */
import { expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tightenTree } from "./file-modes";

const mode = (p: string) => statSync(p).mode & 0o777;

test("files 0644/0666/0604/0640/0700 → 0600, directories 0755/0777/0711 → 0700, nested; already tight untouched; symlink targets outside untouched", () => {
  const root = mkdtempSync(join(tmpdir(), "sec-modes-"));
  const outside = join(mkdtempSync(join(tmpdir(), "sec-out-")), "public.txt");
  writeFileSync(outside, "x");
  chmodSync(outside, 0o644);
  const files: [string, number][] = [["a.pem", 0o644], ["b.key", 0o666], ["c", 0o604], ["d", 0o640], ["e", 0o700], ["ok", 0o600], ["sub/f.sec", 0o644], ["sub/deeper/g", 0o644]];
  mkdirSync(join(root, "sub", "deeper"), { recursive: true });
  for (const [f, m] of files) { writeFileSync(join(root, f), "x"); chmodSync(join(root, f), m); }
  chmodSync(join(root, "sub"), 0o755);
  chmodSync(join(root, "sub", "deeper"), 0o711);
  chmodSync(root, 0o777);
  symlinkSync(outside, join(root, "link"));
  const changed = tightenTree(root);
  for (const [f] of files) expect(mode(join(root, f))).toBe(0o600);
  for (const d of [root, join(root, "sub"), join(root, "sub", "deeper")]) expect(mode(d)).toBe(0o700);
  expect(mode(outside)).toBe(0o644);
  expect(changed).not.toContain(join(root, "ok"));
  expect(changed.length).toBe(files.length - 1 + 3);
  expect(tightenTree(root)).toEqual([]);
});
