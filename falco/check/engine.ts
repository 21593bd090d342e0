/**
 * Semantic check with the filter engine Falco runs: libsinsp, as Debian ships it in sysdig. `sysdig -r
 * <file> '<filter>'` compiles the filter before it opens the capture file, so with a file that does not
 * exist a valid filter fails only on the file ("can't open file"), and an invalid one names the problem
 * ("unrecognized field X", a position). Fields, operators and transformers newer than Debian's libsinsp are
 * swapped for stand-ins of the same type before compiling, but only those listed in falco/newer-fields.yaml.
 */
import { readFileSync } from "node:fs";
import type { CompiledRule } from "./structure";
import { keyLine, wordLine, type Problem } from "./load";

export interface NewerSyntax {
  fields: { name: string; type: "string" | "number" | "bool" | "list" | "ipaddr" | "ipnet"; source: string }[];
  operators: { name: string; stand_in: string; source: string }[];
  transformers: { name: string; source: string }[];
  /** Quoted-string forms the newer parser accepts: "lenient_escapes" (\<any>), "nested_quotes" (' inside "..."). */
  strings: { name: "lenient_escapes" | "nested_quotes"; source: string }[];
}

/** A field of each type that sysdig 0.29 knows, to stand in for a newer field in a compiled filter. */
const STAND_IN: Record<NewerSyntax["fields"][number]["type"], string> = {
  string: "proc.name", number: "proc.pid", bool: "container.privileged", list: "proc.name", ipaddr: "fd.sip", ipnet: "fd.snet",
};

export function loadNewerSyntax(file: string): NewerSyntax {
  const doc = Bun.YAML.parse(readFileSync(file, "utf8")) as Partial<NewerSyntax>;
  return { fields: doc.fields ?? [], operators: doc.operators ?? [], transformers: doc.transformers ?? [], strings: doc.strings ?? [] };
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Rewrite a filter for the old engine; returns the listed items it used. */
export function standIn(filter: string, newer: NewerSyntax): { text: string; used: string[] } {
  const used: string[] = [];
  let text = filter;
  for (const t of newer.transformers) {
    const re = new RegExp(`(^|[\\s(!=])${esc(t.name)}\\(([A-Za-z0-9_.\\[\\]]+)\\)`, "g");
    text = text.replace(re, (_m, pre, inner) => { used.push(t.name + "()"); return pre + inner; });
  }
  for (const f of newer.fields) {
    const re = new RegExp(`(^|[\\s(!%])${esc(f.name)}(\\[[^\\]]*\\])?(?=[\\s=<>!),]|$)`, "g");
    text = text.replace(re, (_m, pre) => { used.push(f.name); return pre + STAND_IN[f.type]; });
  }
  for (const o of newer.operators) {
    const re = new RegExp(`(\\s)${esc(o.name)}(?=[\\s(])`, "g");
    text = text.replace(re, (_m, pre) => { used.push(o.name); return pre + o.stand_in; });
  }
  const lenient = newer.strings.some((x) => x.name === "lenient_escapes");
  const nested = newer.strings.some((x) => x.name === "nested_quotes");
  if (lenient || nested) {
    text = text.replace(/"(?:[^"\\]|\\.)*"/g, (q) => {
      let inner = q.slice(1, -1);
      if (lenient) inner = inner.replace(/\\([^"\\])/g, (_m, c) => { used.push("lenient_escapes"); return c; });
      if (nested && inner.includes("'")) { used.push("nested_quotes"); inner = inner.replaceAll("'", " "); }
      return `"${inner}"`;
    });
    // A bare backslash value (`endswith \`): the old parser reads it as an escape of what follows.
    if (lenient) text = text.replace(/(?<=\s)\\(?=\s|$)/g, () => { used.push("lenient_escapes"); return '"\\\\"'; });
  }
  return { text, used: [...new Set(used)] };
}

export function sysdigAvailable(): string | null {
  return Bun.which("sysdig");
}

const MISSING = "/nonexistent/tradpal-falco-check.scap";

/** Compile one filter (and an output format, -p); undefined when libsinsp accepts both, else its message. */
export async function compile(filter: string, format?: string): Promise<string | undefined> {
  const args = format === undefined ? ["sysdig", "-r", MISSING, filter] : ["sysdig", "-r", MISSING, "-p", format, filter];
  const p = Bun.spawn(args, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  await p.exited;
  const text = (out + err).trim();
  if (text.includes("can't open file")) return undefined;
  return text || `sysdig exited ${p.exitCode} without a message`;
}

/**
 * A rule's output as a sysdig -p format: %container.info is Falco's own placeholder (replaced before
 * formatting), newer fields get their stand-ins, and a leading "*" (sysdig: print every event) is escaped.
 */
export function outputFormat(output: string, newer: NewerSyntax, used: string[]): string | undefined {
  if (!output.includes("%")) return undefined;
  let f = output.replace(/\s+/g, " ").trim().replaceAll("%container.info", "%container.name");
  const { text, used: u } = standIn(f, { ...newer, operators: [], transformers: [], strings: [] });
  used.push(...u);
  f = text;
  return f.startsWith("*") ? " " + f : f;
}

export interface EngineResult { compiled: number; skipped: { rule: string; source: string }[]; newerUsed: Map<string, number> }

/** Compile every rule (syscall source) with a few sysdig processes at a time; problems get file:line. */
export async function checkSemantics(rules: CompiledRule[], newer: NewerSyntax, problems: Problem[], concurrency = 4): Promise<EngineResult> {
  const result: EngineResult = { compiled: 0, skipped: [], newerUsed: new Map() };
  const queue = rules.filter((r) => {
    if (r.source === "syscall" || r.source === "syscalls") return true;
    result.skipped.push({ rule: r.name, source: r.source });
    return false;
  });
  const work = async () => {
    for (let r = queue.shift(); r; r = queue.shift()) {
      const { text, used } = standIn(r.filter, newer);
      let format = outputFormat(r.output, newer, used);
      for (const u of new Set(used)) result.newerUsed.set(u, (result.newerUsed.get(u) ?? 0) + 1);
      let msg = await compile(text, format);
      result.compiled++;
      // sysdig checks the format first and names one bad token: report it, stand it in, go on (at most 20).
      for (let n = 0; msg !== undefined && n < 20; n++) {
        const badToken = /invalid formatting token ([^\s]+)/.exec(msg)?.[1];
        if (badToken === undefined || format === undefined) break;
        const out = keyLine(r.item, "output");
        problems.push({ file: r.file, line: wordLine(r.item, out, badToken), message: `rule "${r.name}": unknown field "%${badToken}" in output; if Falco knows it, list it in falco/newer-fields.yaml with its source`, kind: "error" });
        format = format.replaceAll(`%${badToken}`, "%proc.name");
        msg = await compile(text, format);
      }
      if (msg === undefined) continue;
      const field = /unrecognized field ([^\s]+)/.exec(msg)?.[1];
      const line = field ? wordLine(r.item, r.conditionLine, field) : r.conditionLine;
      const why = field ? `unknown field "${field}" (libsinsp: ${msg.split("\n")[0]}); if Falco knows it, list it in falco/newer-fields.yaml with its source` : `condition does not compile (libsinsp: ${msg.split("\n")[0]})`;
      problems.push({ file: r.file, line, message: `rule "${r.name}": ${why}`, kind: "error" });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, work));
  return result;
}
