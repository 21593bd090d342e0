/**
 * The gateway's user store: login users kept in <data_dir>/gateway/users.json (0600, directory 0700)
 * so they can be managed with `bun run users ...` instead of editing YAML. The edge re-reads the file
 * when its mtime/size/inode change (checked per login: a stat next to an argon2 verify), so a change
 * applies without a restart. Config `users:` entries win over stored ones of the same name.
 */
import { writeFileExclusive } from "../../../src/lib/secret-file";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import type { UserEntry } from "./settings";

export interface StoredUser extends UserEntry {
  created_at: string;
  updated_at: string;
}

/** Names become token subjects and rate-limit keys: keep them printable and short. */
export const USER_NAME_RE = /^[A-Za-z0-9._@-]{1,128}$/;
export const SCOPE_RE = /^[A-Za-z0-9._:*-]{1,128}$/;
export const FIRST_ADMIN = "admin";

export function userStoreFile(dataDir: string): string {
  return join(dataDir, "gateway", "users.json");
}

export class UserStoreError extends Error {}

/** The stored users, or undefined when the file does not exist. A malformed file throws (never silently empty). */
export function readUsers(file: string): StoredUser[] | undefined {
  if (!existsSync(file)) return undefined;
  let doc: unknown;
  try { doc = JSON.parse(readFileSync(file, "utf8")); } catch (err) { throw new UserStoreError(`${file} is not valid JSON: ${(err as Error).message}`); }
  const users = (doc as { users?: unknown })?.users;
  if (!Array.isArray(users)) throw new UserStoreError(`${file}: expected {"users": [...]}`);
  return users.map((u, i) => {
    const ok = u && typeof u.name === "string" && USER_NAME_RE.test(u.name) && typeof u.password_hash === "string" && /^\$argon2id?\$/.test(u.password_hash)
      && Array.isArray(u.scopes) && u.scopes.every((s: unknown) => typeof s === "string" && SCOPE_RE.test(s));
    if (!ok) throw new UserStoreError(`${file}: users[${i}] needs a name, an argon2id password_hash and string scopes`);
    return { name: u.name, password_hash: u.password_hash, scopes: [...u.scopes], created_at: String(u.created_at ?? ""), updated_at: String(u.updated_at ?? "") };
  });
}

/** Atomic replace (write + rename) so a reader never sees half a file; 0600 file in a 0700 directory. */
export function writeUsers(file: string, users: readonly StoredUser[]): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  writeFileSync(tmp, JSON.stringify({ users }, null, 2) + "\n", { mode: 0o600 });
  renameSync(tmp, file);
}

export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, { algorithm: "argon2id" });
}

/** A random password a person can copy: 24 base64url characters (144 bits). */
export function randomPassword(): string {
  return randomBytes(18).toString("base64url");
}

/**
 * First start: no users in config and no store file yet → an `admin` user with a random password.
 * Returns the password (the caller prints it once); undefined when nothing was created.
 */
export async function ensureFirstAdmin(file: string, scopes: readonly string[]): Promise<string | undefined> {
  if (existsSync(file)) return undefined;
  const password = randomPassword();
  const now = new Date().toISOString();
  const users: StoredUser[] = [{ name: FIRST_ADMIN, password_hash: await hashPassword(password), scopes: [...scopes], created_at: now, updated_at: now }];
  // Exclusive: workers starting together create one admin, and only its creator prints the password.
  if (!writeFileExclusive(file, JSON.stringify({ users }, null, 2) + "\n")) return undefined;
  chmodSync(dirname(file), 0o700);
  return password;
}

/**
 * What /auth/login looks names up in: config users first (they win), then the store, re-read when
 * the file changes. A store that turns unreadable keeps the last good copy (and says so once).
 */
export class UserDirectory {
  private stored = new Map<string, UserEntry>();
  private seen = "";
  private warned = "";

  constructor(
    private readonly config: ReadonlyMap<string, UserEntry>,
    readonly file: string,
    private readonly onProblem: (msg: string, fields: Record<string, unknown>) => void = () => {},
  ) {
    this.refresh();
  }

  /** Names defined in both places (config wins). */
  clashes(): string[] {
    return [...this.stored.keys()].filter((n) => this.config.has(n));
  }

  get storedCount(): number { return this.stored.size; }

  lookup(name: string): UserEntry | undefined {
    const fromConfig = this.config.get(name);
    if (fromConfig) return fromConfig;
    this.refresh();
    return this.stored.get(name);
  }

  private refresh(): void {
    let sig: string;
    try {
      const st = statSync(this.file);
      sig = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      sig = "absent";
    }
    if (sig === this.seen) return;
    try {
      const users = sig === "absent" ? [] : readUsers(this.file) ?? [];
      this.stored = new Map(users.map((u) => [u.name, { name: u.name, password_hash: u.password_hash, scopes: u.scopes }]));
      this.seen = sig;
    } catch (err) {
      if (this.warned !== sig) { this.warned = sig; this.onProblem("user store unreadable: keeping the last good copy", { file: this.file, error: (err as Error).message }); }
    }
  }
}
