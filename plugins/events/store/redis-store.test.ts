/** The conformance suite against Redis Streams (the shared Redis; unique stream names per run). */
import { SHARED_REDIS_URL } from "../../../test/support/harness";
import { eventStoreConformance } from "./conformance";
import { createRedisFactory } from "./redis-factory";

eventStoreConformance("redis streams", (trim) => createRedisFactory({ url: SHARED_REDIS_URL, trim, commandTimeoutMs: 2000 }));
