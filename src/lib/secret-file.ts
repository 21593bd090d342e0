/**
 * Files that must be created once and never overwritten, even when several processes start together (the
 * host's workers): a temporary file linked into place, so exactly one creator wins and the others read
 * what it wrote. 0600 in a 0700 directory.
 */
import { chmodSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { randomBytes } from "node:crypto";

/** Create `file` with `content` unless it exists; true when this call created it. */
export function writeFileExclusive(file: string, content: string): boolean {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

/**
 * The secret kept in `file` (trimmed), created with `generate()` when absent; `accept` rejects a value
 * too weak to use (the file is then replaced). `created`: this call wrote it.
 */
export function readOrCreateSecret(file: string, generate: () => string, accept: (v: string) => boolean = (v) => v.length >= 16): { value: string; created: boolean } {
  for (let attempt = 0; attempt < 2; attempt++) {
    let existing: string | undefined;
    try { existing = readFileSync(file, "utf8").trim(); } catch (err) { if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err; }
    if (existing !== undefined) {
      if (accept(existing)) return { value: existing, created: false };
      unlinkSync(file); // unusable (empty, cut): make a new one below
    }
    const value = generate();
    if (writeFileExclusive(file, value + "\n")) return { value, created: true };
  }
  throw new Error(`could not create or read the secret in ${file}`);
}
