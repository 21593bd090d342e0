/**
 * The last step of a reload: what was replaced drains and stops in the background. A moved port lingers
 * (served by the new generation through the shared slot) so clients can move over; WebSockets on an old
 * listener end by the stated policy (upgrade_grace, then 1012 with a Close frame each way), never cut.
 */
import type { HostSettings } from "../config/host-schema";
import type { Logger } from "../core/log";
import { WS_SERVICE_RESTART } from "../lib/http1/ws-frames";
import { drained, type BoundServer } from "./listener";
import type { Generation } from "./slot";

export interface Retired { gen: Generation; server?: BoundServer }

/** Resolves when every retired generation has stopped; `stillDeclared(id)`: the plugin lives on (its port moved). */
export function retireInBackground(retired: Retired[], host: HostSettings, stillDeclared: (id: string) => boolean, stop: (gen: Generation) => Promise<void>, log: Logger): Promise<void> {
  const retiring = retired.map(async ({ gen, server }) => {
    if (server) {
      if (stillDeclared(gen.block.id)) await Bun.sleep(host.port_linger);
      server.stop(false);
    }
    const clean = await drained(gen, host.drain_timeout);
    if (!clean) log.warn("replaced instance still had requests in flight after drain_timeout; stopping it", { plugin: gen.block.id, inflight: gen.inflight });
    await stop(gen);
    if (!server) return;
    if (server.closeUpgraded) void server.closeUpgraded(WS_SERVICE_RESTART, "service restart", host.upgrade_grace).finally(() => server.stop(true));
    else server.stop(true);
  });
  return Promise.all(retiring).then(() => undefined);
}
