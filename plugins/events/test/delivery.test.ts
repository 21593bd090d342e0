/**
 * At-least-once delivery over SSE, on both stores: groups load-balance and fan out, a subscriber killed
 * mid-stream loses nothing over 10,000 events, poison events reach the dead-letter stream after N tries,
 * a config reload keeps consumers' pending entries, replay of a time range is exact and in order.
 */
import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import { startHost, SHARED_REDIS_URL, type TestHost } from "../../../test/support/harness";
import { EventClient } from "../../../src/clients/event-client";
import { EventSubscriberClient } from "../../../src/clients/event-subscriber";
import { openSse, json, dropStreamKeys } from "./support";

const backends = [
  { name: "embedded", redis: "" },
  { name: "redis", redis: SHARED_REDIS_URL },
];

for (const b of backends) {
  describe(`delivery (${b.name})`, () => {
    const stream = `test_delivery_${process.pid}_${Date.now().toString(36)}_${b.name}`;
    const yaml = (visibility: string, maxDeliveries = 3, name = stream) => `
host:
  data_dir: \${DATA_DIR}
  redis_url: "${b.redis}"
plugins:
  events:
    port: 0
    stream: ${name}
    visibility_timeout: ${visibility}
    max_deliveries: ${maxDeliveries}
    max_batch: 1000
`;
    let t: TestHost;
    let base: string;
    let client: EventClient;
    const sub = (q: string) => `${base}/events/subscribe?${q}`;
    const ack = (group: string, ids: string[]) => fetch(`${base}/events/ack`, json({ group, ids })).then((r) => r.json());
    const publishBatch = async (n: number, type = "custom.load") => {
      const r = await fetch(`${base}/events`, json({ events: Array.from({ length: n }, (_, i) => ({ type, payload: { i } })) }));
      expect(r.status).toBe(201);
      return (await r.json()).streamIds as string[];
    };

    beforeAll(async () => {
      t = await startHost(yaml("500ms"));
      base = t.url("events");
      client = new EventClient({ baseUrl: base, source: "delivery-test" });
    });
    afterAll(async () => {
      if (b.redis) await dropStreamKeys(b.redis, stream);
      await t.stop();
    });

    test("a group load-balances between its consumers; separate groups each get every event", async () => {
      const a = await openSse(sub("group=lb&consumer=a"));
      const c = await openSse(sub("group=lb&consumer=c"));
      const other = await openSse(sub("group=fan&consumer=x"));
      expect(a.status).toBe(200);
      await Bun.sleep(100);
      const ids = await publishBatch(200);
      await other.waitFor(200);
      const deadline = Date.now() + 5000;
      while (a.events.length + c.events.length < 200 && Date.now() < deadline) await Bun.sleep(10);
      const got = [...a.events, ...c.events].map((e) => e.id).sort();
      expect(got).toEqual([...ids].sort());
      expect(other.events.map((e) => e.id)).toEqual(ids);
      expect((await client.stats()).subscribers).toBe(3);
      for (const s of [a, c, other]) s.close();
      // a closed connection ends its subscription (no reads into a dead consumer's name)
      const until = Date.now() + 3000;
      while ((await client.stats()).subscribers > 0 && Date.now() < until) await Bun.sleep(50);
      expect((await client.stats()).subscribers).toBe(0);
    });

    test("a subscriber killed mid-stream: every event it did not ack goes to another consumer; 0 lost of 10,000", async () => {
      // A host of its own, where no event can reach the dead letters while this runs: a consumer holding
      // entries unacked past the visibility timeout gets them again (its own too), and at max_deliveries they
      // are dead-lettered. On a loaded machine the victim held its entries 2–4 s and the survivor took over
      // 1 s to ack what it was handed; with this file's 500 ms × 3 thousands were dead-lettered ("lost"),
      // which also filled the dead-letter list the poison test reads. Visibility 1 s, max_deliveries 1,000.
      const group = "kill";
      const k = await startHost(yaml("1s", 1000, `${stream}_kill`));
      const kbase = k.url("events");
      const kclient = new EventClient({ baseUrl: kbase, source: "delivery-test" });
      let victim: Awaited<ReturnType<typeof openSse>> | undefined;
      let survivor: EventSubscriberClient | undefined;
      try {
        const ids: string[] = [];
        // The group starts before publishing so it sees all 10,000.
        victim = await openSse(`${kbase}/events/subscribe?group=${group}&consumer=victim&types=custom.load`); // the survivor client filters by its handler types: the same filter
        await Bun.sleep(100);
        for (let i = 0; i < 10; i++) {
          const r = await fetch(`${kbase}/events`, json({ events: Array.from({ length: 1000 }, (_, j) => ({ type: "custom.load", payload: { i: j } })) }));
          expect(r.status).toBe(201);
          ids.push(...((await r.json()).streamIds as string[]));
        }
        await victim.waitFor(3000, 20_000);
        // 2,000 distinct events it received (a slow victim is sent its own idle entries again: ids repeat).
        const ackedByVictim = [...new Set(victim.events.map((e) => e.id))].slice(0, 2000);
        expect(ackedByVictim).toHaveLength(2000);
        expect((await fetch(`${kbase}/events/ack`, json({ group, ids: ackedByVictim })).then((r) => r.json())).acked).toBe(2000);
        victim.close(); // killed: everything else it received stays pending in its name

        const seen = new Set<string>();
        survivor = new EventSubscriberClient(kclient, { group, consumer: "survivor" });
        survivor.registerHandler("custom.load", (e) => { seen.add(e.streamId); });
        await survivor.startSubscribing();
        const deadline = Date.now() + 30_000;
        while (seen.size + ackedByVictim.length < 10_000 && Date.now() < deadline) await Bun.sleep(20);
        await survivor.stop();
        const delivered = new Set([...ackedByVictim, ...seen]);
        const lost = ids.filter((id) => !delivered.has(id));
        expect(lost.length).toBe(0);
        const stats = await kclient.stats();
        const g = stats.groups.find((x) => x.name === group)!;
        expect(g.pending).toBe(0);
        expect(g.lag).toBe(0);
      } finally {
        victim?.close();
        await survivor?.stop();
        await k.stop();
      }
    }, 60_000);

    test("poison events reach the dead-letter stream after max_deliveries; the others are acked", async () => {
      const group = "poison";
      const sub1 = new EventSubscriberClient(client, { group, consumer: "p1" });
      const tries = new Map<string, number>();
      sub1.registerHandler("custom.poison", (e) => { tries.set(e.streamId, e.deliveryCount); if (e.payload.bad) throw new Error("cannot handle"); });
      await sub1.startSubscribing();
      await Bun.sleep(100);
      const good = await client.publish("custom.poison", { bad: false });
      const bad = await client.publish("custom.poison", { bad: true });
      const deadline = Date.now() + 10_000;
      let dl: any[] = [];
      while (Date.now() < deadline) {
        dl = (await (await fetch(`${base}/events/dead-letters`)).json()).deadLetters;
        if (dl.some((d: any) => d.event.streamId === bad.streamId)) break;
        await Bun.sleep(100);
      }
      await sub1.stop();
      const mine = dl.filter((d: any) => d.group === group);
      expect(mine.map((d: any) => d.event.streamId)).toEqual([bad.streamId]);
      expect(mine[0].deliveries).toBeGreaterThanOrEqual(3);
      expect(tries.get(bad.streamId)).toBe(3);
      expect(tries.get(good.streamId)).toBe(1);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/tradpal_events_dead_lettered_total\{type="custom.poison"\} 1/);
      expect(metrics).toMatch(/tradpal_events_redelivered_total\{type="custom.poison"\} [2-9]/);
    }, 20_000);

    test("a config reload keeps consumer state: the reconnecting consumer gets its unacked entries", async () => {
      const group = "reload";
      const s1 = await openSse(sub(`group=${group}&consumer=r1`));
      await Bun.sleep(100);
      const ids = await publishBatch(250); // more than one read batch (100): the resume pages through them
      await s1.waitFor(250);
      const r = await t.rewrite(yaml("600ms"));
      expect(r.ok).toBe(true);
      s1.close();
      const s2 = await openSse(sub(`group=${group}&consumer=r1`));
      await s2.waitFor(250);
      await Bun.sleep(100);
      expect(s2.events.map((e) => e.id)).toEqual(ids);
      expect(s2.events.every((e) => e.data.deliveryCount === 2)).toBe(true);
      expect((await ack(group, ids)).acked).toBe(250);
      s2.close();
    });

    test("types filter: only matching events are sent; the rest are acked for the group", async () => {
      const s = await openSse(sub(`group=typed&consumer=t1&types=custom.want`));
      await Bun.sleep(100);
      await publishBatch(3, "custom.skip");
      const want = await publishBatch(2, "custom.want");
      await s.waitFor(2);
      await Bun.sleep(100);
      expect(s.events.map((e) => e.id)).toEqual(want);
      s.close();
      await ack("typed", want);
      const g = (await client.stats()).groups.find((x) => x.name === "typed")!;
      expect(g.pending).toBe(0);
    });

    test("replay of a time range delivers exactly the events of that range, in order (NDJSON), originals unchanged", async () => {
      const before = await publishBatch(3, "custom.replay");
      await Bun.sleep(20);
      const from = Date.now();
      const inRange: string[] = [];
      for (let i = 0; i < 4; i++) { inRange.push(...(await publishBatch(5, "custom.replay"))); await Bun.sleep(2); }
      await Bun.sleep(20);
      const to = Date.now() - 10;
      await publishBatch(3, "custom.replay");
      void before;
      const got: string[] = [];
      for await (const e of client.replay({ types: ["custom.replay"], from, to, rate: 5000 })) got.push(e.streamId);
      expect(got).toEqual(inRange);
      const page = await client.query({ fromId: inRange[0], toId: inRange[inRange.length - 1], limit: 100 });
      expect(page.events.map((e) => e.streamId)).toEqual(inRange);
    });

    test("replay to a new consumer group, consumed by a subscriber", async () => {
      const ids = await publishBatch(10, "custom.rg");
      const job = await client.replayTo({ type: "group", name: "rg1" }, { types: ["custom.rg"], fromId: ids[0], toId: ids[9], rate: 10_000 });
      expect(job.status).toBe("running");
      const s = await openSse(sub(`replay=rg1&group=rg1&consumer=c`));
      await s.waitFor(10);
      expect(s.events.map((e) => e.data.id)).toEqual((await client.query({ fromId: ids[0], toId: ids[9] })).events.map((e) => e.id));
      s.close();
      const done = await client.replayStatus(job.id);
      expect(done.copied).toBe(10);
      const bad = await fetch(`${base}/events/replay`, json({ target: { type: "nowhere" } }));
      expect(bad.status).toBe(400);
    });
  });
}
