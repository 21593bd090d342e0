/**
 * Folding repeated alerts without hiding an escalation (the "happened N times" falcosecurity/falco#1456
 * asks for). Alerts with the same rule and key-field values within `window` of a group's first alert
 * fold into that group and are counted. A group is announced once after `groupWait` (so a burst arrives
 * as one notification with its count), at once when an alert of higher priority than announced joins it
 * (an escalation never waits), and once more at the end of the window when more arrived since. A new
 * container or a new user is a new group by construction: container.id and user.name are always key fields.
 * Pure: the caller passes `now` and receives notifications through `notify`.
 */
import type { Alert, FieldValue } from "./alert";
import { rank, type Priority } from "./priority";

export const ALWAYS_KEYED = ["container.id", "user.name"] as const;

export type NoticeKind = "new" | "escalation" | "update";

export interface Group {
  id: string;
  rule: string;
  key: Record<string, string>;
  /** Highest priority seen in this group. */
  priority: Priority;
  /** Highest priority announced so far (undefined: not announced yet). */
  announced?: Priority;
  count: number;
  announcedCount: number;
  notifications: number;
  first: number;
  last: number;
  windowEnd: number;
  /** When the pending first announcement is due (0: none pending). */
  flushAt: number;
  /** The latest alert at the group's priority: its output and fields represent the group. */
  sample: Alert;
  service?: string;
  closed: boolean;
}

export interface DedupSettings {
  windowMs: number;
  groupWaitMs: number;
  keyFields: readonly string[];
  perRule: Readonly<Record<string, readonly string[]>>;
  maxGroups: number;
}

export type Notify = (group: Group, kind: NoticeKind) => void;

export class Deduplicator {
  readonly open = new Map<string, Group>();
  private readonly keysOf = new Map<string, readonly string[]>();
  private nextId = 1;
  folded = 0;

  constructor(private s: DedupSettings, private readonly notify: Notify, private readonly onCreate: (g: Group) => void = () => {}) {}

  private fieldsFor(rule: string): readonly string[] {
    let f = this.keysOf.get(rule);
    if (!f) {
      const base = this.s.perRule[rule] ?? this.s.keyFields;
      f = [...ALWAYS_KEYED, ...base.filter((k) => !(ALWAYS_KEYED as readonly string[]).includes(k))];
      if (this.keysOf.size < 10_000) this.keysOf.set(rule, f);
    }
    return f;
  }

  /** Count one alert; returns its group. */
  offer(alert: Alert, now: number): Group {
    const names = this.fieldsFor(alert.rule);
    let k = alert.rule;
    for (const n of names) k += "\u0000" + keyPart(alert.fields[n]);
    let g = this.open.get(k);
    if (g && now >= g.windowEnd) { this.close(k, g); g = undefined; }
    if (!g) {
      g = this.create(k, alert, names, now);
      return g;
    }
    g.count++;
    g.last = now;
    this.folded++;
    const escalated = rank(alert.priority) > rank(g.priority);
    if (escalated || alert.priority === g.priority) { g.priority = alert.priority; g.sample = alert; }
    // An escalation goes out now, whatever the pending wait: folding must never delay a worse alert.
    if (escalated) this.flush(g, "escalation");
    return g;
  }

  private create(k: string, alert: Alert, names: readonly string[], now: number): Group {
    if (this.open.size >= this.s.maxGroups) {
      const oldest = this.open.entries().next().value as [string, Group];
      this.close(oldest[0], oldest[1]);
    }
    const key: Record<string, string> = {};
    for (const n of names) key[n] = keyPart(alert.fields[n]);
    const g: Group = {
      id: `g${Date.now().toString(36)}-${(this.nextId++).toString(36)}`,
      rule: alert.rule, key, priority: alert.priority, count: 1, announcedCount: 0, notifications: 0,
      first: now, last: now, windowEnd: now + this.s.windowMs, flushAt: now + this.s.groupWaitMs,
      sample: alert, service: alert.service, closed: false,
    };
    this.open.set(k, g);
    this.onCreate(g);
    if (this.s.groupWaitMs <= 0) this.flush(g, "new");
    return g;
  }

  private flush(g: Group, kind: NoticeKind): void {
    g.flushAt = 0;
    g.announced = g.priority;
    g.announcedCount = g.count;
    g.notifications++;
    this.notify(g, kind);
  }

  private close(k: string, g: Group): void {
    this.open.delete(k);
    if (g.flushAt > 0) this.flush(g, "new");
    else if (g.count > g.announcedCount) this.flush(g, "update");
    g.closed = true;
  }

  /** Announce groups whose wait is over; close groups whose window ended. Call often (every ~100 ms). */
  tick(now: number): void {
    for (const [k, g] of this.open) {
      if (g.flushAt > 0 && now >= g.flushAt) this.flush(g, "new");
      if (now >= g.windowEnd) this.close(k, g);
    }
  }

  /** Announce and close everything (stop). */
  drain(): void {
    for (const [k, g] of this.open) this.close(k, g);
  }
}

function keyPart(v: FieldValue | undefined): string {
  return v === undefined || v === null ? "" : String(v);
}
