/**
 * The JetStream side of bench/events.bench.ts: one uniquely named stream per run on the NATS server
 * (the machine's shared one at 127.0.0.1:4222 unless BENCH_NATS_URL names another), deleted at the end.
 * Configured as the durable peer of our stores: file storage, one replica, limits retention with the same
 * cap on messages as the events plugin's max_len in the bench. Like SQLite's synchronous=NORMAL and Redis'
 * appendfsync everysec, JetStream acknowledges a publish once written to its file, before an fsync
 * (sync_interval, default 2 min): an acknowledged message survives a crash of the server process.
 */
import { connect, DiscardPolicy, RetentionPolicy, StorageType } from "nats";
import { readFileSync, readdirSync } from "node:fs";

export const NATS_URL = process.env.BENCH_NATS_URL ?? "nats://127.0.0.1:4222";

export interface BenchStream {
  name: string;
  subject: string;
  /** Messages stored now (a check that the publishes landed). */
  messages(): Promise<number>;
  delete(): Promise<void>;
}

export async function createBenchStream(name: string, maxMsgs: number): Promise<BenchStream> {
  const nc = await connect({ servers: NATS_URL });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name, subjects: [`${name}.>`], storage: StorageType.File, num_replicas: 1, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, max_msgs: maxMsgs });
  return {
    name,
    subject: `${name}.market.data_update`,
    messages: async () => (await jsm.streams.info(name)).state.messages,
    delete: async () => {
      await jsm.streams.delete(name).catch(() => false);
      await nc.close();
    },
  };
}

/** The pid of a local nats-server, to read its CPU from /proc (undefined when there is none here). */
export function natsServerPid(): number | undefined {
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, "utf8").trim() === "nats-server") return Number(d);
    } catch { /* gone */ }
  }
  return undefined;
}
