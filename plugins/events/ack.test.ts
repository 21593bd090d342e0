/** ackRequest (ack.ts): ids checked one by one, a bad one named by its index; the clean ids reach the store. */
import { expect, test } from "bun:test";
import { ackRequest, type AckDeps } from "./ack";
import type { EventStore } from "./store/types";

test("ackRequest names a bad id by its index and passes the ids to the store as given", async () => {
  const acked: [string, string[]][] = [];
  const store = { stream: "s", ack: async (g: string, ids: string[]) => { acked.push([g, ids]); return ids.length; } } as unknown as EventStore;
  const d = { store, metrics: { acked: () => {} } } as unknown as AckDeps;
  const headers = { get: () => null };
  const err = await ackRequest(d, { group: "g", ids: ["1-1", "nope", "x"] }, headers).catch((e) => e);
  expect([err.code, err.where, err.message]).toEqual(["EV_ERR_BAD_QUERY", "/ids/1", "/ids/1 must be a stream id like 1732530000000-0"]);
  expect(acked).toEqual([]);
  expect(await ackRequest(d, { group: "g", ids: ["1-1", "22-3"] }, headers)).toEqual({ acked: 2 });
  expect(acked).toEqual([["g", ["1-1", "22-3"]]]);
});
