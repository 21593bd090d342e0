/**
 * `bun run users <add|list|remove|passwd|scopes> ...`: the gateway's login users, kept in
 * <data_dir>/gateway/users.json (plugins/gateway/auth/user-store.ts). A running gateway picks
 * a change up at the next login; no restart, no YAML. The data dir is --data-dir, else host.data_dir
 * of --config / CONFIG_FILE / config.yaml. Passwords come from --password, PASSWORD_STDIN (the first
 * line of stdin), or are generated and printed once.
 */
import { parseArgs } from "node:util";
import { resolve as pathResolve } from "node:path";
import { loadConfig, formatErrors } from "../config/load";
import { directoryResolver } from "../host/resolve";
import {
  SCOPE_RE, USER_NAME_RE, UserStoreError, hashPassword, randomPassword, readUsers, userStoreFile, writeUsers, type StoredUser,
} from "../../plugins/gateway/auth/user-store";

const USAGE = `usage: bun run users add NAME [--scopes a,b] [--password PW | --password-stdin]
       bun run users list
       bun run users remove NAME
       bun run users passwd NAME [--password PW | --password-stdin]
       bun run users scopes NAME a,b
options: --data-dir DIR (default: host.data_dir of --config FILE / CONFIG_FILE / config.yaml), --json (list)`;

function fail(msg: string, code = 2): never {
  console.error(`users: ${msg}`);
  process.exit(code);
}

const { values, positionals } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    scopes: { type: "string" },
    password: { type: "string" },
    "password-stdin": { type: "boolean", default: false },
    "data-dir": { type: "string" },
    config: { type: "string", short: "c" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
  allowPositionals: true,
  strict: true,
});

if (values.help || positionals.length === 0) { console.log(USAGE); process.exit(values.help ? 0 : 2); }

async function dataDir(): Promise<string> {
  if (values["data-dir"]) return pathResolve(values["data-dir"]);
  const file = values.config ?? process.env.CONFIG_FILE ?? "config.yaml";
  const r = await loadConfig({ file, resolve: directoryResolver(), only: [] });
  if (!r.ok) fail(`cannot read host.data_dir from ${file} (or pass --data-dir):\n${formatErrors(file, r.errors)}`);
  return pathResolve(r.config.host.data_dir);
}

function parseScopes(text: string | undefined): string[] {
  if (text === undefined || text.trim() === "") return [];
  const scopes = [...new Set(text.split(",").map((s) => s.trim()).filter(Boolean))];
  for (const s of scopes) if (!SCOPE_RE.test(s)) fail(`invalid scope "${s}" (letters, digits and . _ : * - only)`);
  return scopes;
}

async function newPassword(): Promise<{ password: string; generated: boolean }> {
  if (values.password !== undefined) {
    if (values.password.length < 8 || values.password.length > 1024) fail("a password has 8 to 1024 characters");
    return { password: values.password, generated: false };
  }
  if (values["password-stdin"]) {
    const line = (await Bun.stdin.text()).split(/\r?\n/)[0];
    if (line.length < 8 || line.length > 1024) fail("a password has 8 to 1024 characters");
    return { password: line, generated: false };
  }
  return { password: randomPassword(), generated: true };
}

const [command, name, extra] = positionals;
const needsName = command !== "list";
if (needsName && (name === undefined || !USER_NAME_RE.test(name))) fail(`"${command}" needs a user NAME (letters, digits and . _ @ - only, at most 128)\n${USAGE}`);

const file = userStoreFile(await dataDir());
let users: StoredUser[];
try { users = readUsers(file) ?? []; } catch (err) { fail((err as UserStoreError).message, 1); }
const now = new Date().toISOString();
const index = needsName ? users.findIndex((u) => u.name === name) : -1;

switch (command) {
  case "list": {
    const rows = users.map((u) => ({ name: u.name, scopes: u.scopes, created_at: u.created_at, updated_at: u.updated_at }));
    if (values.json) console.log(JSON.stringify(rows));
    else if (rows.length === 0) console.log(`no users in ${file}`);
    else for (const r of rows) console.log(`${r.name}\t${r.scopes.join(",") || "-"}\t${r.updated_at}`);
    break;
  }
  case "add": {
    if (index !== -1) fail(`user "${name}" exists (change its password with: bun run users passwd ${name})`, 1);
    const scopes = parseScopes(values.scopes);
    const pw = await newPassword();
    users.push({ name, password_hash: await hashPassword(pw.password), scopes, created_at: now, updated_at: now });
    writeUsers(file, users);
    console.log(`added ${name} (scopes: ${scopes.join(",") || "none"}) to ${file}${pw.generated ? `\npassword: ${pw.password}` : ""}`);
    break;
  }
  case "remove": {
    if (index === -1) fail(`no user "${name}" in ${file}`, 1);
    users.splice(index, 1);
    writeUsers(file, users);
    console.log(`removed ${name} from ${file}`);
    break;
  }
  case "passwd": {
    if (index === -1) fail(`no user "${name}" in ${file}`, 1);
    const pw = await newPassword();
    users[index] = { ...users[index], password_hash: await hashPassword(pw.password), updated_at: now };
    writeUsers(file, users);
    console.log(`password of ${name} changed${pw.generated ? `\npassword: ${pw.password}` : ""}`);
    break;
  }
  case "scopes": {
    if (index === -1) fail(`no user "${name}" in ${file}`, 1);
    if (extra === undefined && values.scopes === undefined) fail("give the scopes: bun run users scopes NAME a,b");
    const scopes = parseScopes(extra ?? values.scopes);
    users[index] = { ...users[index], scopes, updated_at: now };
    writeUsers(file, users);
    console.log(`scopes of ${name}: ${scopes.join(",") || "none"} (tokens issued before keep their scopes until they expire)`);
    break;
  }
  default:
    fail(`unknown command "${command}"\n${USAGE}`);
}
