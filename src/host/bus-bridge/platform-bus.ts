/**
 * The host's bus across processes: bridged over Redis when host.redis_url is set (bridge.ts), with the
 * breaker-permit mirror for a process without the breaker plugin; without Redis, what a split process
 * cannot do is said (cooperation.ts), not hidden. One object the host starts, reports and stops.
 */
import type { LoadedConfig } from "../../config/load";
import type { Bus } from "../../core/bus";
import type { Logger } from "../../core/log";
import type { TableRow } from "../table";
import { BusBridge } from "./bridge";
import { PermitMirror } from "./permit-mirror";
import { missingCooperation } from "./cooperation";

const PLATFORM_RE = /^[A-Za-z0-9_.-]{1,64}$/;

export class PlatformBus {
  private bridge?: BusBridge;
  private mirror?: PermitMirror;
  private gaps: string[] = [];
  private platform = "main";

  constructor(private readonly bus: Bus, private readonly log: Logger, private readonly env: Record<string, string | undefined>) {}

  /** The start-up table's (bus) row. */
  async start(config: LoadedConfig): Promise<TableRow> {
    const h = config.host;
    this.platform = h.bus.platform ?? (PLATFORM_RE.test(this.env.TRADPAL_PLATFORM ?? "") ? this.env.TRADPAL_PLATFORM! : "main");
    if (h.redis_url !== "" && h.bus.bridge) {
      this.bridge = new BusBridge({ url: h.redis_url, platform: this.platform, bus: this.bus, log: this.log.child({ part: "bus-bridge" }) });
      this.mirror = new PermitMirror(this.bus);
      this.mirror.start();
      if (!(await this.bridge.start())) this.log.error("bus bridge: Redis is not answering; plugins in other processes are not heard until it does");
      return { plugin: "(bus)", address: `redis platform "${this.platform}"`, state: "bridged", ms: 0 };
    }
    this.gaps = missingCooperation(config.plugins.map((b) => b.id), config.declared);
    for (const gap of this.gaps) this.log.warn("split process without a bus bridge (set host.redis_url): no cooperation across processes", { lost: gap });
    return { plugin: "(bus)", address: "this process", state: this.gaps.length > 0 ? `local only: ${this.gaps.length} link(s) cut` : "local", ms: 0 };
  }

  /** For /health: bridged (and connected?), or the cooperation a split process lacks. */
  health(): Record<string, unknown> {
    if (this.bridge) return { mode: "redis", connected: this.bridge.connected, platform: this.platform };
    return this.gaps.length > 0 ? { mode: "local", missing: this.gaps } : { mode: "local" };
  }

  async stop(): Promise<void> {
    this.mirror?.stop();
    await this.bridge?.stop();
  }
}
