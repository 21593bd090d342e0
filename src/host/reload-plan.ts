/**
 * Step 1 of a reload: build every changed plugin's new generation (and bind moved or new ports) before
 * anything running is touched. A plugin is unchanged when its settings, listener and the host block are;
 * on any failure everything built so far is stopped and the running config keeps serving.
 */
import type { LoadedConfig, PluginBlock } from "../config/load";
import type { BoundServer } from "./listener";
import { dependencyOrder } from "./order";
import type { Generation, Slot } from "./slot";

export interface Plan { block: PluginBlock; gen: Generation; newBound?: BoundServer; slot?: Slot }

export interface PlanOps {
  running: ReadonlyMap<string, { slot: Slot }>;
  provision(block: PluginBlock, config: LoadedConfig): Promise<Generation>;
  makeSlot(id: string, gen: Generation): Slot;
  bindSlot(slot: Slot, block: PluginBlock): BoundServer;
  stop(gen: Generation): Promise<void>;
}

export async function buildPlans(next: LoadedConfig, hostChanged: boolean, o: PlanOps): Promise<{ ok: true; plans: Plan[] } | { ok: false; plugin: string; error: string }> {
  const plans: Plan[] = [];
  try {
    for (const block of dependencyOrder(next.plugins.map((b) => ({ ...b, dependsOn: b.definition.dependsOn })))) {
      const current = o.running.get(block.id);
      const sameListener = current && current.slot.gen.block.listener.port === block.listener.port && current.slot.gen.block.listener.hostname === block.listener.hostname;
      if (current && sameListener && !hostChanged && current.slot.gen.block.fingerprint === block.fingerprint) continue;
      const gen = await o.provision(block, next);
      const plan: Plan = { block, gen };
      plans.push(plan);
      if (!current) {
        plan.slot = o.makeSlot(block.id, gen);
        plan.newBound = o.bindSlot(plan.slot, block);
      } else if (!sameListener) {
        // Bind the new port first; the old one closes only after the swap.
        plan.newBound = o.bindSlot(current.slot, block);
      }
    }
    return { ok: true, plans };
  } catch (err) {
    for (const p of plans.reverse()) {
      p.newBound?.stop(true);
      await o.stop(p.gen);
    }
    const failed = plans.length > 0 ? plans[0].block.id : "?"; // reversed: [0] is the last one built
    return { ok: false, plugin: (err as { plugin?: string }).plugin ?? failed, error: (err as Error).message };
  }
}
