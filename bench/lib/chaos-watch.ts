/**
 * What bench/chaos.bench.ts observes besides the load: the gateway's view of each instance
 * (GET /services/<name>, every 50 ms) and the service's breaker (GET /circuit-breakers/<name>, every
 * 100 ms). Each poll has a 1 s deadline, so a stalled port shows up as a gap (`maxGapMs`), never as
 * a hung bench.
 */

export interface Sample { t: number; available: Record<string, boolean> }
export interface BreakerSample { t: number; state: string }
export interface ProcSample { t: number; rssMb: number; cpuMs: number; idleMs: number; stealMs: number; mainRunMs: number; mainWaitMs: number }
export interface Transition { from: string; to: string; reason: string; at: string; origin: string }

export class Watcher {
  readonly samples: Sample[] = [];
  readonly breaker: BreakerSample[] = [];
  /** Longest time between two answered polls of each port (a stall of the gateway or breaker port). */
  maxGapMs = { gateway: 0, breaker: 0, proc: 0 };
  pollFailures = { gateway: 0, breaker: 0, proc: 0 };
  /** Every gap over 500 ms, with when it ended, to place it in a phase. */
  readonly gaps: { port: string; end: number; ms: number }[] = [];
  /**
   * This script's own event-loop lateness over 100 ms (time, ms): a poll gap while this loop was on time
   * is the platform's, not ours (the machine is shared; our load and polls run on the other core).
   */
  readonly lag: { t: number; ms: number }[] = [];
  /**
   * Every 100 ms: the platform's resident memory, its CPU time (all threads) and the machine's idle and
   * steal time (both cores) from /proc/stat, all in ms. Over a poll gap they tell a process that was busy
   * (its own work: GC, a synchronous loop) from one that was not running (blocked, or its vCPU taken
   * by the hypervisor: steal) — this VM shares its host. The main thread's schedstat splits "not running"
   * into waiting for the CPU (starved by other processes on the core) and sleeping (blocked).
   */
  readonly proc: ProcSample[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private lagTimer?: ReturnType<typeof setInterval>;

  constructor(private readonly gatewayUrl: string, private readonly breakerUrl: string, private readonly service: string, private readonly platformPid: number) {}

  start(): void {
    this.running = true;
    this.loops = [this.poll("gateway", 50, () => this.pollService()), this.poll("breaker", 100, () => this.pollBreaker()), this.poll("proc", 100, async () => this.sampleProc())];
    let due = Date.now() + 20;
    this.lagTimer = setInterval(() => {
      const now = Date.now();
      if (now - due > 100) this.lag.push({ t: now, ms: now - due });
      due = now + 20;
    }, 20);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.lagTimer);
    await Promise.all(this.loops);
  }

  /** Our own worst loop lateness in [from, until] (ms). */
  lagIn(from: number, until: number): number {
    return this.lag.filter((l) => l.t >= from && l.t <= until + 100).reduce((a, l) => Math.max(a, l.ms), 0);
  }

  private async sampleProc(): Promise<void> {
    const files = [`/proc/${this.platformPid}/status`, `/proc/${this.platformPid}/stat`, "/proc/stat", `/proc/${this.platformPid}/schedstat`];
    const [status, stat, all, sched] = await Promise.all(files.map((f) => Bun.file(f).text()));
    // schedstat of the main thread (the event loop): ns on a CPU, ns runnable but waiting for one.
    const [run, wait] = sched.trim().split(" ").map(Number);
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cpu = all.split("\n").find((l) => l.startsWith("cpu "))?.split(/\s+/).map(Number) ?? [];
    // Clock ticks are 10 ms. /proc/stat: cpu (both cores) user nice system idle iowait irq softirq steal …
    this.proc.push({ t: Date.now(), rssMb: kb / 1024, cpuMs: (Number(f[11]) + Number(f[12])) * 10, idleMs: (cpu[4] + cpu[5]) * 10, stealMs: cpu[8] * 10, mainRunMs: run / 1e6, mainWaitMs: wait / 1e6 });
  }

  /** Platform CPU, and the machine's idle and steal, over [from, until] (from the samples around it). */
  procOver(from: number, until: number): { cpuMs: number; idleMs: number; stealMs: number; spanMs: number; mainRunMs: number; mainWaitMs: number } | undefined {
    const a = [...this.proc].reverse().find((x) => x.t <= from);
    const b = this.proc.find((x) => x.t >= until);
    if (!a || !b) return undefined;
    const r = (x: number) => Math.round(x);
    return { cpuMs: b.cpuMs - a.cpuMs, idleMs: b.idleMs - a.idleMs, stealMs: b.stealMs - a.stealMs, spanMs: b.t - a.t, mainRunMs: r(b.mainRunMs - a.mainRunMs), mainWaitMs: r(b.mainWaitMs - a.mainWaitMs) };
  }

  private async poll(port: "gateway" | "breaker" | "proc", everyMs: number, once: () => Promise<void>): Promise<void> {
    let last = Date.now();
    while (this.running) {
      try {
        await once();
        const now = Date.now();
        this.maxGapMs[port] = Math.max(this.maxGapMs[port], now - last);
        if (port !== "proc" && now - last - everyMs > 500) this.gaps.push({ port, end: now, ms: now - last });
        last = now;
      } catch { this.pollFailures[port]++; }
      await Bun.sleep(everyMs);
    }
  }

  private async pollService(): Promise<void> {
    const r = await fetch(`${this.gatewayUrl}/services/${this.service}`, { signal: AbortSignal.timeout(1000) });
    const j = (await r.json()) as { instances: { url: string; available: boolean }[] };
    this.samples.push({ t: Date.now(), available: Object.fromEntries(j.instances.map((i) => [i.url, i.available])) });
  }

  private async pollBreaker(): Promise<void> {
    const j = await this.breakerDetail();
    this.breaker.push({ t: Date.now(), state: j.state });
  }

  async breakerDetail(): Promise<{ state: string; transitions: Transition[]; totals: Record<string, number> }> {
    const r = await fetch(`${this.breakerUrl}/circuit-breakers/${this.service}`, { signal: AbortSignal.timeout(1000) });
    return (await r.json()) as { state: string; transitions: Transition[]; totals: Record<string, number> };
  }

  /** First sample in [from, until] where the instances named are all (un)available; ms after `from`, or NaN. */
  firstWhere(from: number, until: number, urls: string[], want: boolean): number {
    const s = this.samples.find((x) => x.t >= from && x.t <= until && urls.every((u) => x.available[u] === want));
    return s ? s.t - from : NaN;
  }

  /** How often the instance went from available to not in [from, until] (re-ejections of a still-bad instance). */
  ejections(url: string, from: number, until: number): number {
    let n = 0;
    let prev: boolean | undefined;
    for (const x of this.samples) {
      if (x.t < from || x.t > until) continue;
      if (prev === true && x.available[url] === false) n++;
      if (prev === undefined && x.available[url] === false) n++;
      prev = x.available[url];
    }
    return n;
  }

  /** How long the instance was unavailable in [from, until], by the polls (a healthy one: collateral damage). */
  unavailableMs(url: string, from: number, until: number): number {
    let ms = 0;
    let prev: Sample | undefined;
    for (const x of this.samples) {
      if (x.t < from || x.t > until) continue;
      if (prev && prev.available[url] === false) ms += x.t - prev.t;
      prev = x;
    }
    return ms;
  }

  /** Breaker states seen while polling in [from, until], in order, repeats folded: "closed→open→half_open→closed". */
  statesBetween(from: number, until: number): string {
    const seen: string[] = [];
    for (const b of this.breaker) if (b.t >= from && b.t <= until && seen[seen.length - 1] !== b.state) seen.push(b.state);
    return seen.join("→") || "?";
  }
}
