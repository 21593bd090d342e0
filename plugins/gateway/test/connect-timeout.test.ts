/**
 * connect_timeout: an instance whose listen backlog is full (a listener that never accepts) leaves
 * connects hanging; the pooled client gives up after connect_timeout → 504, long before the route timeout.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { service, startGateway } from "./support";
import type { TestHost } from "../../../test/support/harness";

let blackhole: ReturnType<typeof Bun.spawn>;
let port = 0;
let t: TestHost;
const fillers: Promise<unknown>[] = [];

beforeAll(async () => {
  // A loopback listener with backlog 0 that never calls accept(): once its queue is full, SYNs are dropped.
  blackhole = Bun.spawn(["python3", "-c", "import socket,sys,time\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(0)\nprint(s.getsockname()[1], flush=True)\ntime.sleep(60)"], { stdout: "pipe" });
  const reader = (blackhole.stdout as ReadableStream<Uint8Array>).getReader();
  port = Number(new TextDecoder().decode((await reader.read()).value).trim());
  for (let i = 0; i < 4; i++) fillers.push(Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).catch(() => undefined));
  await Bun.sleep(100);
  t = await startGateway(`    upstream_client: pooled\n    services:\n${service("hole", "/hole", [`http://127.0.0.1:${port}`], "        health_check: { enabled: false }\n        connect_timeout: 200ms\n        timeout: 5s\n        retries: { attempts: 0 }\n")}`);
});
afterAll(async () => {
  await t?.stop();
  blackhole?.kill();
  for (const f of fillers) void f.then((s) => (s as { terminate?: () => void } | undefined)?.terminate?.());
});

test("a connect that does not complete within connect_timeout → 504 GW_ERR_PROXY_UPSTREAM_TIMEOUT, fast", async () => {
  const t0 = performance.now();
  const r = await fetch(`${t.url("gateway")}/hole/x`);
  const ms = performance.now() - t0;
  expect(r.status).toBe(504);
  expect((await r.json()).error.code).toBe("GW_ERR_PROXY_UPSTREAM_TIMEOUT");
  expect(ms).toBeLessThan(2000); // the route's total timeout is 5 s
});
