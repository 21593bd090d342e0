/** Start order: dependencies first (Kahn's algorithm, config order breaks ties); a cycle is an error. */

export function dependencyOrder<T extends { id: string; dependsOn?: readonly string[] }>(items: readonly T[]): T[] {
  const byId = new Map(items.map((i) => [i.id, i]));
  const done = new Set<string>();
  const visiting = new Set<string>();
  const out: T[] = [];
  const visit = (item: T, trail: string[]) => {
    if (done.has(item.id)) return;
    if (visiting.has(item.id)) throw new Error(`plugin dependency cycle: ${[...trail, item.id].join(" → ")}`);
    visiting.add(item.id);
    for (const dep of item.dependsOn ?? []) {
      const d = byId.get(dep);
      if (d) visit(d, [...trail, item.id]); // a dependency hosted elsewhere (--only) is not ours to start
    }
    visiting.delete(item.id);
    done.add(item.id);
    out.push(item);
  };
  for (const item of items) visit(item, []);
  return out;
}
