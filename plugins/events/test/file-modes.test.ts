/**
 * Files at rest: the embedded store's directory is 0700 and every file in it 0600 (events.db and
 * SQLite's -wal/-shm companions), checked by stat-ing the real files after writes under umask 0, and
 * files an older version left 0644 are tightened at the next start.
 */
import { describe, test, expect, afterAll } from "bun:test";
import { chmodSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { startHost, tempDir } from "../../../test/support/harness";
import { json } from "./support";

const mode = (p: string) => statSync(p).mode & 0o777;
const yaml = (dataDir: string) => `
host:
  data_dir: ${dataDir}
plugins:
  events:
    port: 0
`;

async function write(base: string) {
  for (let i = 0; i < 20; i++) expect((await fetch(`${base}/events`, json({ type: "custom.secret", payload: { i } }))).status).toBe(201);
  const sub = await fetch(`${base}/events/subscribe?group=g&consumer=c&start=all`);
  const reader = sub.body!.getReader();
  await reader.read();
  await reader.cancel();
  expect((await fetch(`${base}/events/ack`, json({ group: "g", ids: ["1-1"] }))).status).toBe(200);
}

function modes(dir: string): Record<string, number> {
  return Object.fromEntries(readdirSync(dir).map((n) => [n, mode(join(dir, n))]));
}

describe("events store files at rest", () => {
  const dirs: string[] = [];
  afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

  test("created 0600 in a 0700 directory even with umask 0, -wal and -shm included", async () => {
    const data = tempDir();
    dirs.push(data);
    const old = process.umask(0);
    try {
      const t = await startHost(yaml(data));
      try {
        await write(t.url("events"));
        const dir = join(data, "events");
        expect(mode(dir)).toBe(0o700);
        const files = modes(dir);
        expect(Object.keys(files)).toEqual(expect.arrayContaining(["events.db", "events.db-wal", "events.db-shm"]));
        for (const [name, m] of Object.entries(files)) expect([name, m.toString(8)]).toEqual([name, "600"]);
      } finally { await t.stop(); }
    } finally { process.umask(old); }
  });

  test("files and directory left looser are tightened at start", async () => {
    const data = tempDir();
    dirs.push(data);
    const dir = join(data, "events");
    const t1 = await startHost(yaml(data));
    await write(t1.url("events"));
    // loosen everything while the store is open (as an older version left it), then restart
    chmodSync(dir, 0o755);
    for (const n of readdirSync(dir)) chmodSync(join(dir, n), 0o644);
    await t1.stop();
    for (const n of readdirSync(dir)) chmodSync(join(dir, n), 0o644);
    expect(mode(join(dir, "events.db"))).toBe(0o644);
    const t2 = await startHost(yaml(data));
    try {
      expect(mode(dir)).toBe(0o700);
      for (const [name, m] of Object.entries(modes(dir))) expect([name, m.toString(8)]).toEqual([name, "600"]);
      await write(t2.url("events"));
      for (const [name, m] of Object.entries(modes(dir))) expect([name, m.toString(8)]).toEqual([name, "600"]);
      const stats = await (await fetch(`${t2.url("events")}/events/stats`)).json();
      expect(stats.length).toBe(40); // the same store, reopened
    } finally { await t2.stop(); }
  });
});
