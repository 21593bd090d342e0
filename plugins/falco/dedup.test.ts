import { test, expect } from "bun:test";
import { Deduplicator, type Group, type NoticeKind } from "./dedup";
import type { Alert } from "./alert";
import type { Priority } from "./priority";

let seq = 0;
const alert = (priority: Priority = "warning", fields: Record<string, string> = {}, rule = "Shell in container"): Alert => ({
  seq: ++seq, uuid: `u${seq}`, rule, priority, output: "x", time: 0, received: 0, source: "syscall", tags: [],
  fields: { "container.id": "c1", "user.name": "root", "proc.name": "bash", ...fields },
});

function setup(over: Partial<ConstructorParameters<typeof Deduplicator>[0]> = {}) {
  const sent: { kind: NoticeKind; count: number; priority: Priority; id: string }[] = [];
  const d = new Deduplicator({ windowMs: 10_000, groupWaitMs: 500, keyFields: ["proc.name"], perRule: {}, maxGroups: 100, ...over },
    (g: Group, kind) => sent.push({ kind, count: g.count, priority: g.priority, id: g.id }));
  return { d, sent };
}

test("a burst of 1,000 identical alerts is one notification carrying its count", () => {
  const { d, sent } = setup();
  for (let i = 0; i < 1000; i++) d.offer(alert(), 1000 + i / 10);
  expect(sent).toHaveLength(0); // still inside group_wait
  d.tick(1600);
  expect(sent).toEqual([{ kind: "new", count: 1000, priority: "warning", id: expect.any(String) }]);
  d.tick(11_001); // window over: nothing new arrived since, nothing more is sent
  expect(sent).toHaveLength(1);
  expect(d.folded).toBe(999);
});

test("a higher priority inside the burst is announced at once, before group_wait", () => {
  const { d, sent } = setup();
  for (let i = 0; i < 400; i++) d.offer(alert(), 1000);
  d.offer(alert("critical"), 1001);
  expect(sent).toEqual([{ kind: "escalation", count: 401, priority: "critical", id: expect.any(String) }]);
  for (let i = 0; i < 599; i++) d.offer(alert(), 1002);
  d.tick(1600);
  expect(sent).toHaveLength(1); // lower ones fold into the announced critical group
  d.tick(11_001);
  expect(sent[1]).toMatchObject({ kind: "update", count: 1000, priority: "critical" });
});

test("an escalation after the first announcement is announced again at once", () => {
  const { d, sent } = setup({ groupWaitMs: 0 });
  d.offer(alert("notice"), 1);
  d.offer(alert("notice"), 2);
  d.offer(alert("error"), 3);
  d.offer(alert("warning"), 4);
  expect(sent.map((s) => [s.kind, s.priority, s.count])).toEqual([["new", "notice", 1], ["escalation", "error", 3]]);
});

test("a new container or a new user breaks the fold even when the rule's key fields leave them out", () => {
  const { d, sent } = setup({ groupWaitMs: 0, perRule: { "Shell in container": ["proc.name"] } });
  d.offer(alert(), 1);
  d.offer(alert(), 2);
  d.offer(alert("warning", { "container.id": "c2" }), 3);
  d.offer(alert("warning", { "user.name": "mallory" }), 4);
  d.offer(alert("warning", { "fd.name": "/other" }), 5); // not a key field here: folds
  expect(sent.map((s) => s.kind)).toEqual(["new", "new", "new"]);
  expect(new Set(sent.map((s) => s.id)).size).toBe(3);
});

test("different key fields, rules or an expired window open new groups; max_groups closes the oldest", () => {
  const { d, sent } = setup({ groupWaitMs: 0, maxGroups: 2 });
  d.offer(alert("warning", { "proc.name": "sh" }), 1);
  d.offer(alert("warning", {}, "Other rule"), 2);
  expect(d.open.size).toBe(2);
  d.offer(alert("warning", { "proc.name": "zsh" }), 3); // evicts the first group
  expect(d.open.size).toBe(2);
  d.offer(alert("warning", { "proc.name": "zsh" }), 20_000); // window expired: a new group
  expect(sent.filter((s) => s.kind === "new")).toHaveLength(4);
});
