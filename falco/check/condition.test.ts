import { test, expect } from "bun:test";
import { expand } from "./condition";

const defs = {
  macros: new Map([["spawned", "evt.type in (execve, execveat)"], ["shells", "proc.name in (shell_binaries)"], ["loop", "loop and x.y = 1"]]),
  lists: new Map([["shell_binaries", ["bash", "sh", "busybox_list"]], ["busybox_list", ["busybox"]], ["odd", ['"(systemd)"', "a b"]]]),
};

test("macros and lists (also lists in lists) expand as Falco does", () => {
  const r = expand("spawned and shells and not proc.pname in (odd)", defs);
  expect(r.issues).toEqual([]);
  expect(r.text).toBe('(evt.type in (execve, execveat)) and (proc.name in (bash, sh, busybox)) and not proc.pname in ("(systemd)", "a b")');
  expect([...r.macros].sort()).toEqual(["shells", "spawned"]);
});

test("operators, quoted values, bare values with slashes and <NA>, exists, transformers", () => {
  const r = expand("(fd.name startswith /etc/ or proc.name = <NA>) and proc.cmdline contains \"a b\" and k8s.ns.name exists and tolower(proc.name) = bash and proc.aname[2] = sh", defs);
  expect(r.issues).toEqual([]);
});

test("undefined macro, syntax errors and cycles are issues with their offset", () => {
  expect(expand("spawned and not_defined", defs).issues).toEqual([{ kind: "undefined_macro", message: 'undefined macro "not_defined"', token: "not_defined", offset: 12 }]);
  expect(expand("x.y = 1 and (proc.name = bash", defs).issues[0]).toMatchObject({ kind: "syntax", message: 'unclosed "(": no matching ")" before the end of the condition', offset: 12 });
  expect(expand("proc.name = bash)", defs).issues[0]).toMatchObject({ kind: "syntax", message: 'unbalanced ")"', offset: 16 });
  expect(expand("proc.name and x", defs).issues[0]).toMatchObject({ kind: "syntax", message: "a field needs an operator: proc.name" });
  expect(expand("loop", defs).issues.some((i) => i.kind === "macro_cycle")).toBe(true);
});
