/**
 * The routing table: path prefixes compiled once per config into a segment trie, so a lookup costs
 * O(path length) whatever the number of routes. Prefixes match whole segments ("/api" matches "/api"
 * and "/api/x", not "/apix"); the longest matching prefix whose host and method filters accept the
 * request wins. A table is immutable: a reload builds a new one and swaps the reference, so a request
 * keeps the table it started with.
 */

export interface RouteSpec<T> {
  prefix: string;
  /** Exact host ("api.example.com") or a wildcard suffix ("*.example.com"); undefined: any host. */
  host?: string;
  /** Allowed methods, case-sensitive; empty: any. */
  methods: readonly string[];
  target: T;
}

interface Candidate<T> {
  host?: string;
  wildcardSuffix?: string;
  methods?: ReadonlySet<string>;
  target: T;
}

interface Node<T> {
  children: Map<string, Node<T>> | undefined;
  candidates: Candidate<T>[] | undefined;
}

/** Returned when a prefix matched but none of its routes accepts the method (→ 405). */
export const METHOD_MISMATCH: unique symbol = Symbol("method-mismatch");

function newNode<T>(): Node<T> { return { children: undefined, candidates: undefined }; }

function segmentsOf(prefix: string): string[] {
  return prefix.split("/").filter((s) => s.length > 0);
}

export class RouteTable<T> {
  private readonly root: Node<T> = newNode();
  readonly size: number;
  /** True when some route filters on Host (otherwise the caller need not parse the header). */
  readonly hostRoutes: boolean;
  /** Every method some route lists (with the RFC 9110 ones, the methods a 405 rather than a 501 is for). */
  readonly methods: ReadonlySet<string>;

  constructor(routes: readonly RouteSpec<T>[]) {
    for (const r of routes) {
      let node = this.root;
      for (const seg of segmentsOf(r.prefix)) {
        node.children ??= new Map();
        let next = node.children.get(seg);
        if (!next) node.children.set(seg, (next = newNode()));
        node = next;
      }
      const c: Candidate<T> = { target: r.target };
      if (r.host) {
        const h = r.host.toLowerCase();
        if (h.startsWith("*.")) c.wildcardSuffix = h.slice(1); else c.host = h;
      }
      if (r.methods.length > 0) c.methods = new Set(r.methods);
      (node.candidates ??= []).push(c);
      // At one prefix: exact host first, then wildcard hosts, then host-agnostic routes.
      const rank = (c: Candidate<T>) => (c.host !== undefined ? 2 : c.wildcardSuffix !== undefined ? 1 : 0);
      node.candidates.sort((a, b) => rank(b) - rank(a));
    }
    this.size = routes.length;
    this.hostRoutes = routes.some((r) => r.host !== undefined);
    this.methods = new Set(routes.flatMap((r) => r.methods));
  }

  /**
   * The methods allowed where `path` matched but the method did not (the Allow of a 405): the union
   * over the deepest node's routes that accept `host`. Refusal path only: walks the trie again.
   */
  allowedAt(path: string, host: string): string[] {
    const count = this.walk(path);
    let allow: Set<string> | undefined;
    for (let k = 0; k < count; k++) allow = this.methodsAt(this.along[k], host) ?? allow;
    return allow === undefined ? [] : [...allow];
  }

  /** Nodes a lookup passed, root first (reused by every lookup: tables are read by one thread). */
  private readonly along: Node<T>[] = [];

  /** Walk `path` down the trie segment by segment; the nodes passed go to `along`. Returns how many. */
  private walk(path: string): number {
    const along = this.along;
    let node = this.root;
    along[0] = node;
    let count = 1;
    let i = path.charCodeAt(0) === 47 ? 1 : 0;
    const n = path.length;
    while (i < n && node.children) {
      let j = path.indexOf("/", i);
      if (j === -1) j = n;
      if (j > i) {
        const next = node.children.get(path.slice(i, j));
        if (!next) break;
        node = next;
        along[count++] = node;
      }
      i = j + 1;
    }
    return count;
  }

  private methodsAt(node: Node<T>, host: string): Set<string> | undefined {
    let out: Set<string> | undefined;
    for (const c of node.candidates ?? []) {
      if (c.host !== undefined && c.host !== host) continue;
      if (c.wildcardSuffix !== undefined && !host.endsWith(c.wildcardSuffix)) continue;
      if (c.methods !== undefined) for (const m of c.methods) (out ??= new Set()).add(m);
    }
    return out;
  }

  /**
   * Find the route for `path` (no query) given the request's host (lower-case, without port) and method.
   * One walk down the trie; each node that carries routes is tried as it is passed, so the deepest
   * accepting node wins without allocating a stack.
   */
  match(path: string, host: string, method: string): T | typeof METHOD_MISMATCH | undefined {
    const count = this.walk(path);
    let best: T | undefined;
    let mismatch = false;
    for (let k = 0; k < count; k++) {
      const cands = this.along[k].candidates;
      if (cands === undefined) continue;
      const found = this.accept(cands, host, method);
      if (found === METHOD_MISMATCH) mismatch = true; else if (found !== undefined) { best = found; mismatch = false; }
    }
    if (best !== undefined && !mismatch) return best;
    if (mismatch) return METHOD_MISMATCH;
    return best;
  }

  private accept(cands: Candidate<T>[], host: string, method: string): T | typeof METHOD_MISMATCH | undefined {
    let mismatch = false;
    for (let k = 0; k < cands.length; k++) {
      const c = cands[k];
      if (c.host !== undefined && c.host !== host) continue;
      if (c.wildcardSuffix !== undefined && !host.endsWith(c.wildcardSuffix)) continue;
      if (c.methods !== undefined && !c.methods.has(method)) { mismatch = true; continue; }
      return c.target;
    }
    return mismatch ? METHOD_MISMATCH : undefined;
  }
}

/** Host header → lower-case host without port ("Api.Example.com:8000" → "api.example.com"). */
export function hostOnly(hostHeader: string | null): string {
  if (!hostHeader) return "";
  if (hostHeader.charCodeAt(0) === 91 /* [ */) {
    const end = hostHeader.indexOf("]");
    return (end === -1 ? hostHeader : hostHeader.slice(0, end + 1)).toLowerCase();
  }
  const colon = hostHeader.indexOf(":");
  return (colon === -1 ? hostHeader : hostHeader.slice(0, colon)).toLowerCase();
}

/** The path after a whole-segment prefix ("/api/users" minus "/api" → "/users"; equal → "/"). */
export function stripPrefix(path: string, prefix: string): string {
  const p = prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
  if (p.length === 0) return path;
  const rest = path.slice(p.length);
  return rest.length === 0 ? "/" : rest;
}
