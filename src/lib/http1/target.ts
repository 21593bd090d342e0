/**
 * Splitting a request-target (or an absolute URL) into path and query: the one definition the
 * proxy lanes use, so "/a?b" and "http://h/a?b" split alike.
 */

/** Where the query of `target` begins (its "?"), or target.length when there is none. */
export function queryAt(target: string, from = 0): number {
  const q = target.indexOf("?", from);
  return q === -1 ? target.length : q;
}

/** Where the path of an absolute URL ("scheme://authority/path?query") begins. */
export function pathAt(url: string): number {
  return url.indexOf("/", url.indexOf("//") + 2);
}
