/**
 * A consumer group's type filter is the group's (fixed by its first subscription), on both stores: a
 * member with a narrower or wider handler set is refused (409 EV_ERR_GROUP_FILTER_MISMATCH), so with
 * mixed handler sets every event of the group's filter is handled exactly once and pending/lag end at 0.
 * Before: the narrower member acked the type it had no handler for (100 of 200 lost, 0 pending, 0 lag).
 */
import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import { startHost, SHARED_REDIS_URL, type TestHost } from "../../../test/support/harness";
import { EventClient, ServiceError } from "../../../src/clients/event-client";
import { EventSubscriberClient } from "../../../src/clients/event-subscriber";
import { json, dropStreamKeys } from "./support";

const backends = [
  { name: "embedded", redis: "" },
  { name: "redis", redis: SHARED_REDIS_URL },
];
const A = "custom.gf_a";
const B = "custom.gf_b";

for (const b of backends) {
  describe(`group filter (${b.name})`, () => {
    const stream = `test_gfilter_${process.pid}_${Date.now().toString(36)}_${b.name}`;
    let t: TestHost;
    let base: string;
    let client: EventClient;
    const until = async (cond: () => boolean | Promise<boolean>, ms = 10_000) => { const d = Date.now() + ms; while (!(await cond()) && Date.now() < d) await Bun.sleep(20); };
    const group = async (name: string) => (await client.stats()).groups.find((g) => g.name === name);
    /** A member counting how often it handled each event (by stream id). */
    const member = (groupName: string, consumer: string, types: string[]) => {
      const seen = new Map<string, number>();
      const errors: unknown[] = [];
      const sub = new EventSubscriberClient(client, { group: groupName, consumer, start: "new", onError: (e) => errors.push(e) });
      for (const ty of types) sub.registerHandler(ty as any, (e) => { seen.set(e.streamId, (seen.get(e.streamId) ?? 0) + 1); });
      return { sub, seen, errors };
    };
    const publish200 = async () => {
      const events = Array.from({ length: 200 }, (_, i) => ({ type: i % 2 ? B : A, payload: { i } }));
      const r = await (await fetch(`${base}/events`, json({ events }))).json();
      return { all: r.streamIds as string[], a: (r.streamIds as string[]).filter((_, i) => i % 2 === 0) };
    };

    beforeAll(async () => {
      t = await startHost(`host:\n  data_dir: \${DATA_DIR}\n  redis_url: "${b.redis}"\nplugins:\n  events:\n    port: 0\n    stream: ${stream}\n    visibility_timeout: 300ms\n`);
      base = t.url("events");
      client = new EventClient({ baseUrl: base });
    });
    afterAll(async () => {
      if (b.redis) await dropStreamKeys(b.redis, stream);
      await t.stop();
    });

    for (const order of ["wide first", "narrow first"] as const) {
      test(`mixed handler sets (${order}): the other member is refused; every event of the group's filter handled exactly once; pending and lag 0`, async () => {
        const g = `mixed-${order.split(" ")[0]}`;
        const wide = member(g, "wide", [A, B]);
        const narrow = member(g, "narrow", [A]);
        const [firstM, secondM] = order === "wide first" ? [wide, narrow] : [narrow, wide];
        await firstM.sub.startSubscribing();
        const err = await secondM.sub.startSubscribing().catch((e) => e);
        expect(err).toBeInstanceOf(ServiceError);
        expect(err.status).toBe(409);
        expect(err.code).toBe("EV_ERR_GROUP_FILTER_MISMATCH");
        expect(err.where).toBe("query.types");
        expect(secondM.sub.connected).toBe(false);

        const ids = await publish200();
        const want = firstM === wide ? ids.all : ids.a;
        await until(async () => firstM.seen.size === want.length && (await group(g))?.pending === 0);
        await Bun.sleep(200);
        await firstM.sub.stop();
        await secondM.sub.stop();
        expect([...firstM.seen.keys()].sort()).toEqual([...want].sort());
        expect([...firstM.seen.values()].every((n) => n === 1)).toBe(true);
        expect(secondM.seen.size).toBe(0);
        expect(firstM.sub.unhandled).toBe(0);
        const st = (await group(g))!;
        expect(st).toMatchObject({ pending: 0, lag: 0, filter: firstM === wide ? `${A},${B}` : A });
      }, 30_000);
    }

    test("members with one handler set share the group: all 200 handled exactly once", async () => {
      const m1 = member("same", "s1", [A, B]);
      const m2 = member("same", "s2", [B, A]);
      await m1.sub.startSubscribing();
      await m2.sub.startSubscribing();
      expect(m2.sub.connected).toBe(true);
      const ids = await publish200();
      const total = () => m1.seen.size + m2.seen.size;
      await until(async () => total() >= 200 && (await group("same"))?.pending === 0);
      await m1.sub.stop();
      await m2.sub.stop();
      const counts = new Map<string, number>();
      for (const m of [m1, m2]) for (const [id, n] of m.seen) counts.set(id, (counts.get(id) ?? 0) + n);
      expect([...counts.keys()].sort()).toEqual([...ids.all].sort());
      expect([...counts.values()].every((n) => n === 1)).toBe(true);
      expect(await group("same")).toMatchObject({ pending: 0, lag: 0 });
    }, 30_000);

    test("raw subscriptions: another filter (narrower, wider, none) is 409; the same set in another order or spelling joins", async () => {
      const sub = (q: string) => fetch(`${base}/events/subscribe?group=raw&consumer=r&${q}`, { signal: AbortSignal.timeout(5000) });
      const first = await sub(`types=${A},${B}`);
      expect(first.status).toBe(200);
      await first.body?.cancel();
      for (const q of [`types=${A}`, `types=${A},${B},custom.gf_c`, "", `type=${B}`]) {
        const r = await sub(q);
        expect(r.status).toBe(409);
        const e = (await r.json()).error;
        expect(e).toMatchObject({ code: "EV_ERR_GROUP_FILTER_MISMATCH", where: "query.types", details: { group: `${A},${B}` } });
      }
      for (const q of [`types=${B},${A}`, `types=${A}&types=${B}`, `type=${A}&types=${B},${A}`]) {
        const r = await sub(q);
        expect(`${q} → ${r.status}`).toBe(`${q} → 200`);
        await r.body?.cancel();
      }
      // A group without a filter (every type) refuses a filtered member too.
      const all = await fetch(`${base}/events/subscribe?group=raw-all&consumer=r`, { signal: AbortSignal.timeout(5000) });
      expect(all.status).toBe(200);
      await all.body?.cancel();
      expect((await fetch(`${base}/events/subscribe?group=raw-all&consumer=r2&types=${A}`)).status).toBe(409);
      expect((await group("raw-all"))!.filter).toBe("*");
    });
  });
}
