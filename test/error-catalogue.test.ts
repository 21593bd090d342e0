/**
 * A closed error catalogue (issue 17 item 5): every code the code can send is a literal in a catalogue
 * (defineErrors in the plugin's errors.ts, HostErrors for the host), every catalogued code is sent
 * somewhere, and every catalogued code is in the manuals, so a code a client sees can be found by grep
 * both ways.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { HostErrors } from "../src/core/errors";
import { GatewayErrors } from "../plugins/gateway/errors";
import { EventErrors } from "../plugins/events/errors";
import { SecErrors } from "../plugins/security/errors";
import { BreakerErrors } from "../plugins/breaker/errors";
import { FalcoErrors } from "../plugins/falco/errors";

const ROOT = join(import.meta.dir, "..");
const CATALOGUES = { HostErrors, GatewayErrors, EventErrors, SecErrors, BreakerErrors, FalcoErrors };
const CODE = /\b[A-Z]+_ERR_[A-Z0-9_]+\b/g;
/** Client-side codes: thrown by the typed clients to their caller, never sent by a server. */
const CLIENT_SIDE = /^CLIENT_ERR_/;
/** The codes Elysia's own failures map to (src/core/http.ts conventionCodes): sent through the catalogue, by suffix. */
const CONVENTION = /_ERR_(VALIDATION|PARSE|NOT_FOUND|INTERNAL|REQUEST)$/;

function files(dir: string, ext: RegExp, out: string[] = []): string[] {
  for (const f of readdirSync(dir)) {
    if (f === "node_modules" || f.startsWith(".")) continue;
    const p = join(dir, f);
    if (statSync(p).isDirectory()) files(p, ext, out);
    else if (ext.test(f)) out.push(p);
  }
  return out;
}

const defined = new Map<string, string>();
for (const [name, cat] of Object.entries(CATALOGUES)) for (const code of Object.keys(cat.specs)) {
  expect(defined.has(code)).toBe(false); // one definition of each code
  defined.set(code, name);
}
const source = [...files(join(ROOT, "src"), /\.ts$/), ...files(join(ROOT, "plugins"), /\.ts$/)].filter((f) => !/\.test\.ts$|\/test\//.test(f));
const docs = [join(ROOT, "README.md"), ...files(join(ROOT, "plugins"), /^README\.md$/)];
/** code → files that mention it outside a catalogue's own definition line. */
const uses = new Map<string, Set<string>>();
for (const f of source) {
  for (const line of readFileSync(f, "utf8").split("\n")) {
    if (/^\s+[A-Z]+_ERR_[A-Z0-9_]+: \{ status:/.test(line)) continue; // a definition, not a use
    if (/^\s*(\*|\/\/|\/\*\*)/.test(line)) continue; // a comment mentions a code; it sends none
    for (const m of line.matchAll(CODE)) (uses.get(m[0]) ?? uses.set(m[0], new Set()).get(m[0])!).add(relative(ROOT, f));
  }
}
const documented = new Set(docs.flatMap((f) => [...readFileSync(f, "utf8").matchAll(CODE)].map((m) => m[0])));

describe("error catalogue", () => {
  test("every code the source sends is defined in a catalogue", () => {
    const unknown = [...uses.keys()].filter((c) => !defined.has(c) && !CLIENT_SIDE.test(c)).map((c) => `${c} (${[...uses.get(c)!].join(", ")})`);
    expect(unknown).toEqual([]);
  });

  test("every catalogued code is sent somewhere", () => {
    // The convention codes of plugin catalogues are sent through httpConventions (by suffix); the host's are not.
    const unused = [...defined.keys()].filter((c) => !uses.has(c) && !(CONVENTION.test(c) && defined.get(c) !== "HostErrors"));
    expect(unused).toEqual([]);
  });

  test("every catalogued code is in the manuals, and every documented code exists", () => {
    expect([...defined.keys()].filter((c) => !documented.has(c))).toEqual([]);
    expect([...documented].filter((c) => !defined.has(c) && !CLIENT_SIDE.test(c))).toEqual([]);
  });

  test("a renamed code fails the check (the scan sees literals, not a catalogue import)", () => {
    const line = '  return jsonError(500, "EV_ERR_INTERNL", "internal error");';
    const found = [...line.matchAll(CODE)].map((m) => m[0]);
    expect(found.filter((c) => !defined.has(c))).toEqual(["EV_ERR_INTERNL"]);
  });
});
