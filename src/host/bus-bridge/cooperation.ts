/**
 * What a process loses when it hosts only some plugins (`--only`) and its bus cannot cross processes (no
 * Redis): said at start, in the table and in every plugin's /health, never silently.
 */

/** Who hears whom on the bus: producer → consumer, and what is lost when they are apart without a bridge. */
const LINKS: { from: string; to: string; lost: string }[] = [
  { from: "gateway", to: "breaker", lost: "circuit breaking of the gateway's services (permits, outcomes, the service list)" },
  { from: "breaker", to: "events", lost: "breaker transitions as platform events" },
  { from: "falco", to: "events", lost: "falco alerts and quarantines as platform events" },
  { from: "falco", to: "gateway", lost: "quarantine of a service's routes at the gateway" },
  { from: "security", to: "gateway", lost: "token revocations reaching the gateway" },
  { from: "security", to: "events", lost: "certificate revocations as platform events" },
];

/**
 * The links cut in a process hosting `hosted` (of `configured`, the plugins the config enables): one side
 * here, the other side enabled but not here.
 */
export function missingCooperation(hosted: readonly string[], configured: readonly string[]): string[] {
  const here = new Set(hosted);
  const enabled = new Set(configured);
  return LINKS
    .filter((l) => enabled.has(l.from) && enabled.has(l.to) && here.has(l.from) !== here.has(l.to))
    .map((l) => `${l.from} → ${l.to}: ${l.lost}`);
}
