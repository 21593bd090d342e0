/**
 * Typed in-process bus: plugins cooperate through it without importing each other.
 * Topics are fire-and-forget notifications (the last value of each is retained so a late
 * subscriber can catch up); services are synchronous providers one plugin offers to others.
 */
import type { BusTopics, BusServices } from "../contracts/bus-topics";
import type { Logger } from "./log";

type Handler<T> = (payload: T) => void;

export interface Bus {
  /** Subscribe; returns the unsubscribe function. `replay` delivers the retained last value first. */
  on<K extends keyof BusTopics>(topic: K, handler: Handler<BusTopics[K]>, opts?: { replay?: boolean }): () => void;
  /** Deliver synchronously to every subscriber; a throwing subscriber is logged, never propagated. */
  emit<K extends keyof BusTopics>(topic: K, payload: BusTopics[K]): void;
  /** True when at least one subscriber listens (lets hot paths skip building payloads). */
  hasListeners<K extends keyof BusTopics>(topic: K): boolean;
  /** Offer a service; returns the withdraw function (withdraws only if still the current provider). */
  provide<K extends keyof BusServices>(name: K, impl: BusServices[K]): () => void;
  /**
   * Offer a stand-in used only while no plugin of this process provides `name` (e.g. the host's mirror of a
   * breaker running in another process); returns the withdraw function.
   */
  provideFallback<K extends keyof BusServices>(name: K, impl: BusServices[K]): () => void;
  /** The current provider, or undefined when no plugin offers it in this process. */
  service<K extends keyof BusServices>(name: K): BusServices[K] | undefined;
}

export function createBus(log?: Logger): Bus {
  const handlers = new Map<keyof BusTopics, Set<Handler<any>>>();
  const retained = new Map<keyof BusTopics, unknown>();
  const services = new Map<keyof BusServices, unknown>();
  const fallbacks = new Map<keyof BusServices, unknown>();

  return {
    on(topic, handler, opts) {
      let set = handlers.get(topic);
      if (!set) handlers.set(topic, (set = new Set()));
      set.add(handler);
      if (opts?.replay && retained.has(topic)) handler(retained.get(topic) as any);
      return () => { set!.delete(handler); };
    },
    emit(topic, payload) {
      retained.set(topic, payload);
      const set = handlers.get(topic);
      if (!set || set.size === 0) return;
      for (const h of set) {
        try { h(payload); } catch (err) { log?.error("bus subscriber failed", { topic, err }); }
      }
    },
    hasListeners(topic) {
      const set = handlers.get(topic);
      return set !== undefined && set.size > 0;
    },
    provide(name, impl) {
      services.set(name, impl);
      return () => { if (services.get(name) === impl) services.delete(name); };
    },
    provideFallback(name, impl) {
      fallbacks.set(name, impl);
      return () => { if (fallbacks.get(name) === impl) fallbacks.delete(name); };
    },
    service(name) {
      return (services.get(name) ?? fallbacks.get(name)) as any;
    },
  };
}
