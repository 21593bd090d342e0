/**
 * Login on first start, as users run it: `bun run src/main.ts` in a child process with no `users:`
 * configured prints an `admin` password once; real curl logs in with it and the token opens an
 * auth_required route; `bun run users` against the same data dir changes what the running gateway
 * accepts (no restart); a second start prints nothing; config users win over stored ones.
 */
import { describe, test, expect, afterAll } from "bun:test";
import { join } from "node:path";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import type { Subprocess } from "bun";
import { freePort, tempDir } from "../../../test/support/harness";
import { startUpstream } from "./support";

const ROOT = join(import.meta.dir, "../../..");
const dir = tempDir("tradpal-first-login-");
const dataDir = join(dir, "data");
const upstream = startUpstream();
const port = freePort();
const base = `http://127.0.0.1:${port}`;
let child: { proc: Subprocess<"ignore", "pipe", "pipe">; out: string[] } | undefined;

afterAll(() => { child?.proc.kill("SIGKILL"); upstream.stop(); });

function config(users = "[]"): string {
  return `host:\n  data_dir: ${dataDir}\n  bind: 127.0.0.1\n  shutdown_grace: 1s\nplugins:\n  gateway:\n    port: ${port}\n    users: ${users}\n    services:\n`
    + `      - name: trading\n        path_prefix: /api/trading\n        strip_prefix: true\n        instances: [{ url: "${upstream.url}" }]\n        auth_required: true\n        scopes: [trade]\n`;
}

async function collect(stream: ReadableStream<Uint8Array>, into: string[]) {
  const decoder = new TextDecoder();
  for await (const chunk of stream) into.push(decoder.decode(chunk));
}

const lines = (out: string[]) => out.join("").split("\n").filter(Boolean).flatMap((l) => { try { return [JSON.parse(l)]; } catch { return []; } });

async function start(text: string): Promise<string[]> {
  const file = join(dir, "config.yaml");
  writeFileSync(file, text);
  const proc = Bun.spawn(["bun", "run", join(ROOT, "src/main.ts"), "--config", file], { cwd: dir, env: { ...process.env, REDIS_URL: "", LOG_LEVEL: "info", JWT_SECRET_KEY: "" }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const out: string[] = [];
  void collect(proc.stdout, out);
  void collect(proc.stderr, out);
  child = { proc, out };
  const deadline = Date.now() + 20_000;
  while (!lines(out).some((l) => l.msg === "host started")) {
    if (Date.now() > deadline) throw new Error(`host did not start:\n${out.join("")}`);
    await Bun.sleep(50);
  }
  return out;
}

async function stop() {
  child!.proc.kill("SIGTERM");
  await child!.proc.exited;
  child = undefined;
}

/** Real curl: status line and body. */
async function curl(...args: string[]): Promise<{ status: number; body: string }> {
  const p = Bun.spawn(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", ...args], { stdout: "pipe", stderr: "pipe" });
  const text = await new Response(p.stdout).text();
  await p.exited;
  const i = text.lastIndexOf("\n");
  return { status: Number(text.slice(i + 1)), body: text.slice(0, i) };
}

async function login(username: string, password: string) {
  const r = await curl("-XPOST", `${base}/auth/login`, "-H", "content-type: application/json", "-d", JSON.stringify({ username, password }));
  return { status: r.status, token: r.status === 200 ? (JSON.parse(r.body).access_token as string) : undefined, body: r.body };
}

const trading = (token?: string) => curl(...(token ? ["-H", `authorization: Bearer ${token}`] : []), `${base}/api/trading/orders`);

async function users(...args: string[]): Promise<{ code: number; out: string; stdout: string }> {
  const p = Bun.spawn(["bun", "run", "users", ...args, "--data-dir", dataDir], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code: await p.exited, out: out + err, stdout: out };
}

/**
 * Each test is real work in child processes: a host start (bounded by start()'s own 20 s), or a dozen
 * `bun run users` (two bun processes each, argon2id hashes) and logins (argon2id verifies). ~2 s on a quiet
 * 2-core machine, 3+ s loaded by benchmarks: bun test's default 5 s (a run without --timeout; bunfig's
 * [test] timeout is not read by bun) is not enough.
 */
const PROCESS_WORK_MS = 30_000;

describe("login on first start", () => {
  let password = "";

  test("the first start prints the admin password once; curl logs in; the token opens an auth_required route", async () => {
    const out = await start(config());
    const created = lines(out).filter((l) => String(l.msg).startsWith("first start: created the login user"));
    expect(created).toHaveLength(1);
    password = created[0].password;
    expect(password).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(out.join("").split(password).length - 1).toBe(1); // printed exactly once

    const file = join(dataDir, "gateway", "users.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, "gateway")).mode & 0o777).toBe(0o700);
    const stored = JSON.parse(readFileSync(file, "utf8"));
    expect(stored.users).toHaveLength(1);
    expect(stored.users[0]).toMatchObject({ name: "admin", scopes: ["admin", "trade"] });
    expect(stored.users[0].password_hash).toStartWith("$argon2id$");
    expect(readFileSync(file, "utf8")).not.toContain(password);

    expect((await trading()).status).toBe(401);
    expect((await login("admin", password + "x")).status).toBe(401);
    const ok = await login("admin", password);
    expect(ok.status).toBe(200);
    const r = await trading(ok.token);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ ok: true, path: "/orders" });
  }, PROCESS_WORK_MS);

  test("bun run users add / list / passwd / scopes / remove: the running gateway sees each change", async () => {
    expect((await users("add", "carol", "--scopes", "trade", "--password", "carol-pw-1")).code).toBe(0);
    const c1 = await login("carol", "carol-pw-1");
    expect(c1.status).toBe(200);
    expect((await trading(c1.token)).status).toBe(200);

    const list = await users("list", "--json");
    expect(JSON.parse(list.stdout).map((u: { name: string }) => u.name)).toEqual(["admin", "carol"]);
    expect((await users("add", "carol", "--password", "whatever-1")).code).toBe(1); // exists

    const pw = await users("passwd", "carol");
    expect(pw.code).toBe(0);
    const generated = /password: (\S+)/.exec(pw.out)![1];
    expect((await login("carol", "carol-pw-1")).status).toBe(401);
    expect((await login("carol", generated)).status).toBe(200);

    expect((await users("scopes", "carol", "read")).code).toBe(0);
    const c2 = await login("carol", generated);
    expect((await trading(c2.token)).status).toBe(403); // no longer holds trade

    expect((await users("add", "dave", "--password", "dave-pw-12")).code).toBe(0); // no scopes
    const d = await login("dave", "dave-pw-12");
    expect(d.status).toBe(200);
    expect((await trading(d.token)).status).toBe(403);

    expect((await users("remove", "carol")).code).toBe(0);
    expect((await login("carol", generated)).status).toBe(401);
    expect((await users("remove", "carol")).code).toBe(1);
    expect((await users("add", "bad name", "--password", "whatever-1")).code).toBe(2);
    expect((await users("add", "eve", "--scopes", "a b", "--password", "whatever-1")).code).toBe(2);
    expect((await users("add", "eve", "--password", "short")).code).toBe(2);
  }, PROCESS_WORK_MS);

  test("a second start prints no login; the stored admin still logs in", async () => {
    await stop();
    const out = await start(config());
    expect(out.join("")).not.toContain("first start");
    expect(out.join("")).not.toContain(password);
    const ok = await login("admin", password);
    expect(ok.status).toBe(200);
    expect((await trading(ok.token)).status).toBe(200);
  }, PROCESS_WORK_MS);

  test("config users win over the store on a name clash, and the start says so", async () => {
    await stop();
    const hash = await Bun.password.hash("from-config-pw", { algorithm: "argon2id" });
    const out = await start(config(`[{ name: admin, password_hash: "${hash}", scopes: [trade] }]`));
    const clash = lines(out).find((l) => String(l.msg).startsWith("users defined in config and in the user store"));
    expect(clash?.users).toEqual(["admin"]);
    expect((await login("admin", password)).status).toBe(401);
    expect((await login("admin", "from-config-pw")).status).toBe(200);
    expect((await login("dave", "dave-pw-12")).status).toBe(200); // the store still serves the other names
    await stop();
  }, PROCESS_WORK_MS);
});
