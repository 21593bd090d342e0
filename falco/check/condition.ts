/**
 * Falco condition syntax: a small recursive-descent reader (and/or/not, parentheses, field checks with
 * comparison, unary and list operators, macro references) that expands macros and lists the way Falco
 * does before it compiles a rule, and finds references to undefined macros. Validating fields and
 * operators is left to libsinsp (engine.ts): this reader only needs to know where a macro or a list may
 * stand. Offsets in issues are into the condition text.
 */
export interface Defs {
  macros: Map<string, string>;
  lists: Map<string, string[]>;
}

export interface Issue {
  kind: "undefined_macro" | "syntax" | "macro_cycle";
  message: string;
  token: string;
  /** Offset in the text it was found in: the rule's condition, or `inMacro`'s. */
  offset: number;
  inMacro?: string;
}

export interface Expanded { text: string; issues: Issue[]; macros: Set<string>; lists: Set<string> }

const BINARY_OPS = new Set(["=", "==", "!=", "<", "<=", ">", ">=", "contains", "icontains", "bcontains", "startswith", "bstartswith", "endswith", "glob", "iglob", "regex"]);
const LIST_OPS = new Set(["in", "intersects", "pmatch"]);
const UNARY_OPS = new Set(["exists"]);
const KEYWORDS = new Set(["and", "or", "not", ...BINARY_OPS, ...LIST_OPS, ...UNARY_OPS]);
const IDENT = /[A-Za-z_][A-Za-z0-9_.\-]*(\[[^\]]*\])?/y;
const SYMBOL_OP = /(==|=|!=|<=|>=|<|>)/y;
const BARE_VALUE = /[^\s()]+/y;
const BARE_ITEM = /[^\s(),]+/y;
const QUOTED = /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/y;

/** A list item as Falco would write it in a condition: bare when safe, else double-quoted. */
export function listItem(v: unknown): string {
  const s = String(v);
  if (/^(".*"|'.*')$/s.test(s)) return s;
  return /^[^\s(),"']+$/.test(s) ? s : JSON.stringify(s);
}

class Reader {
  pos = 0;
  out: string[] = [];
  constructor(readonly src: string, readonly defs: Defs, readonly r: Expanded, readonly stack: string[]) {}

  ws(): void { while (this.pos < this.src.length && /\s/.test(this.src[this.pos])) this.pos++; }
  fail(message: string, token = this.src.slice(this.pos, this.pos + 20)): never {
    throw Object.assign(new Error(message), { issue: { kind: "syntax", message, token, offset: this.pos } satisfies Issue });
  }
  match(re: RegExp): string | undefined {
    this.ws();
    re.lastIndex = this.pos;
    const m = re.exec(this.src);
    if (!m) return undefined;
    this.pos += m[0].length;
    return m[0];
  }
  peekWord(w: string): boolean {
    this.ws();
    const s = this.src.slice(this.pos, this.pos + w.length);
    const after = this.src[this.pos + w.length];
    return s === w && (after === undefined || /[\s(]/.test(after));
  }
  expect(ch: string): void {
    this.ws();
    if (this.src[this.pos] !== ch) this.fail(this.pos >= this.src.length ? `unexpected end of condition, expected "${ch}"` : `expected "${ch}"`);
    this.pos++;
  }

  /**
   * `and` binds tighter than `or` in Falco; the older libsinsp refuses to guess ("mixes 'and' and 'or' in
   * an ambiguous way"), so the expansion writes the parentheses Falco implies: same meaning, both engines.
   */
  expr(): void {
    const segs: [number, number, number][] = [];
    let start = this.out.length;
    let n = this.and();
    segs.push([start, this.out.length, n]);
    while (this.peekWord("or")) {
      this.pos += 2; this.out.push("or");
      start = this.out.length; n = this.and();
      segs.push([start, this.out.length, n]);
    }
    if (segs.length < 2) return;
    for (const [s, e, operands] of segs.reverse()) {
      if (operands < 2) continue;
      this.out.splice(e, 0, ")");
      this.out.splice(s, 0, "(");
    }
  }
  and(): number {
    let n = 1;
    this.not();
    while (this.peekWord("and")) { this.pos += 3; this.out.push("and"); this.not(); n++; }
    return n;
  }
  not(): void {
    if (this.peekWord("not")) { this.pos += 3; this.out.push("not"); this.not(); return; }
    this.primary();
  }
  primary(): void {
    this.ws();
    if (this.pos >= this.src.length) this.fail("unexpected end of condition");
    if (this.src[this.pos] === "(") {
      const open = this.pos;
      this.pos++; this.out.push("("); this.expr();
      this.ws();
      if (this.pos >= this.src.length) { this.pos = open; this.fail('unclosed "(": no matching ")" before the end of the condition', "("); }
      this.expect(")"); this.out.push(")");
      return;
    }
    const start = this.pos;
    let name = this.match(IDENT);
    if (!name) this.fail(`unexpected "${this.src[this.pos]}"`);
    if (KEYWORDS.has(name)) { this.pos = start; this.fail(`unexpected operator "${name}"`, name); }
    // A transformer: tolower(field), b64(field)...: libsinsp judges whether it knows it.
    if (this.src[this.pos] === "(") {
      this.pos++;
      const inner = this.match(IDENT);
      if (!inner) this.fail("expected a field inside the transformer");
      this.expect(")");
      name = `${name}(${inner})`;
    }
    const op = this.operator();
    if (op === undefined) {
      if (name.includes(".") || name.includes("[") || name.includes("(")) this.fail(`a field needs an operator: ${name}`, name);
      this.macro(name, start);
      return;
    }
    this.out.push(name, op);
    if (UNARY_OPS.has(op)) return;
    if (LIST_OPS.has(op)) { this.list(); return; }
    this.value();
  }
  operator(): string | undefined {
    const save = this.pos;
    const sym = this.match(SYMBOL_OP);
    if (sym) return sym;
    this.ws();
    const word = /[a-z]+/y;
    word.lastIndex = this.pos;
    const m = word.exec(this.src);
    if (m && (BINARY_OPS.has(m[0]) || LIST_OPS.has(m[0]) || UNARY_OPS.has(m[0])) && !/[A-Za-z0-9_.]/.test(this.src[this.pos + m[0].length] ?? "")) {
      this.pos += m[0].length;
      return m[0];
    }
    this.pos = save;
    return undefined;
  }
  value(): void {
    const q = this.match(QUOTED);
    if (q) { this.out.push(q); return; }
    this.ws();
    // val(field) / transformer on the right-hand side
    const save = this.pos;
    const fn = this.match(/[a-z0-9_]+\(/y);
    if (fn) {
      const inner = this.match(IDENT);
      if (inner) { this.expect(")"); this.out.push(`${fn}${inner})`); return; }
      this.pos = save;
    }
    const bare = this.match(BARE_VALUE);
    if (!bare) this.fail(this.pos >= this.src.length ? "unexpected end of condition, expected a value" : "expected a value");
    this.out.push(bare);
  }
  list(): void {
    this.expect("(");
    const items: string[] = [];
    this.ws();
    if (this.src[this.pos] !== ")") {
      for (;;) {
        const q = this.match(QUOTED) ?? this.match(BARE_ITEM);
        if (q === undefined) this.fail("expected a list item");
        this.expandItem(q, items, []);
        this.ws();
        if (this.src[this.pos] === ",") { this.pos++; continue; }
        break;
      }
    }
    this.expect(")");
    this.out.push(`(${items.join(", ")})`);
  }
  expandItem(item: string, into: string[], seen: string[]): void {
    const l = this.defs.lists.get(item);
    if (!l || seen.includes(item)) { into.push(item); return; }
    this.r.lists.add(item);
    for (const v of l) this.expandItem(listItem(v), into, [...seen, item]);
  }
  macro(name: string, offset: number): void {
    const body = this.defs.macros.get(name);
    if (body === undefined) {
      this.r.issues.push({ kind: "undefined_macro", message: `undefined macro "${name}"`, token: name, offset, ...(this.stack.length ? { inMacro: this.stack.at(-1) } : {}) });
      this.out.push(name);
      return;
    }
    this.r.macros.add(name);
    if (this.stack.includes(name)) {
      this.r.issues.push({ kind: "macro_cycle", message: `macro "${name}" refers to itself (${[...this.stack, name].join(" → ")})`, token: name, offset });
      return;
    }
    const inner = expandCondition(body, this.defs, [...this.stack, name], this.r);
    this.out.push(`(${inner})`);
  }
}

/** Expand `cond`; issues of macros are reported against the macro's own name (token) at offset -1. */
export function expandCondition(cond: string, defs: Defs, stack: string[] = [], into?: Expanded): string {
  const r: Expanded = into ?? { text: "", issues: [], macros: new Set(), lists: new Set() };
  const reader = new Reader(cond, defs, r, stack);
  try {
    reader.expr();
    reader.ws();
    if (reader.pos < cond.length) reader.fail(cond[reader.pos] === ")" ? 'unbalanced ")"' : `unexpected "${cond.slice(reader.pos, reader.pos + 20)}"`);
  } catch (err) {
    const issue = (err as { issue?: Issue }).issue;
    if (!issue) throw err;
    r.issues.push(stack.length > 0 ? { ...issue, message: `in macro "${stack.at(-1)}": ${issue.message}`, inMacro: stack.at(-1) } : issue);
  }
  return reader.out.join(" ");
}

export function expand(cond: string, defs: Defs): Expanded {
  const r: Expanded = { text: "", issues: [], macros: new Set(), lists: new Set() };
  r.text = expandCondition(cond, defs, [], r);
  return r;
}
