/**
 * The conformance suite against a real 3-master Redis Cluster: the key scheme (stream key + hash-tagged
 * derived keys) keeps the Lua publish script and MULTI on one slot, so every operation works there too.
 */
import { afterAll } from "bun:test";
import { eventStoreConformance } from "./conformance";
import { createRedisFactory } from "./redis-factory";
import { startCluster, type TestCluster } from "../test/support";

let cluster: Promise<TestCluster> | undefined;
eventStoreConformance("redis cluster (3 masters)", async (trim) => {
  cluster ??= startCluster();
  const c = await cluster;
  return createRedisFactory({ url: c.url, cluster: true, trim, commandTimeoutMs: 2000 });
});
afterAll(async () => { if (cluster) await (await cluster).stop(); });
