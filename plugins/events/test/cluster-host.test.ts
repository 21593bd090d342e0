/** The plugin end to end on a real Redis Cluster (redis_cluster: true): publish, subscribe, ack, stats. */
import { test, expect, afterAll } from "bun:test";
import { startHost, type TestHost } from "../../../test/support/harness";
import { startCluster, type TestCluster } from "./support";
import { openSse, json } from "./support";

let cluster: TestCluster | undefined;
let t: TestHost | undefined;
afterAll(async () => { await t?.stop(); await cluster?.stop(); });

test("publish → SSE → ack through a 3-master cluster; the stream key is the seed's name", async () => {
  cluster = await startCluster();
  t = await startHost(`host:\n  data_dir: \${DATA_DIR}\n  redis_url: "${cluster.url}"\nplugins:\n  events:\n    port: 0\n    redis_cluster: true\n`);
  const base = t.url("events");
  const s = await openSse(`${base}/events/subscribe?group=g&consumer=c`);
  await Bun.sleep(100);
  const one = await (await fetch(`${base}/events`, json({ type: "order.cancelled", payload: { order_id: "o1", symbol: "BTC/USDT" } }, { "idempotency-key": "k1" }))).json();
  const again = await (await fetch(`${base}/events`, json({ type: "order.cancelled", payload: { order_id: "o1", symbol: "BTC/USDT" } }, { "idempotency-key": "k1" }))).json();
  expect(again).toMatchObject({ streamId: one.streamId, duplicate: true });
  const batch = await fetch(`${base}/events`, json({ events: [{ type: "custom.a", payload: {} }, { type: "custom.b", payload: {} }] }));
  expect(batch.status).toBe(201);
  await s.waitFor(3);
  expect(s.events[0].id).toBe(one.streamId);
  const acked = await (await fetch(`${base}/events/ack`, json({ group: "g", ids: s.events.map((e) => e.id) }))).json();
  expect(acked.acked).toBe(3);
  s.close();
  const stats = await (await fetch(`${base}/events/stats`)).json();
  expect(stats).toMatchObject({ stream: "tradpal_events", backend: "redis", length: 3 });
  expect(stats.groups[0]).toMatchObject({ name: "g", pending: 0, lag: 0 });
  // the node that owns the slot answers XINFO STREAM tradpal_events (redis-cli -c follows the redirect)
  const xinfo = Bun.spawnSync(["redis-cli", "-c", "-p", String(cluster.ports[0]), "XINFO", "STREAM", "tradpal_events"]).stdout.toString();
  expect(xinfo.split("\n")[1].trim()).toBe("3");
}, 30_000);
