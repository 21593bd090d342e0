/**
 * /secrets/<path>: PUT { data, cas? } writes a version; GET reads the latest (?version=N a given one,
 * ?metadata=true the version list, ?list=true the keys under a folder); DELETE soft-deletes the latest
 * (?versions=1,2 given ones, ?all=true every version and the metadata). GET goes through fast-path.ts.
 */
import { Elysia } from "elysia";
import { SecErrors } from "../errors";
import { decodePathParam } from "../paths";
import type { SecretRead } from "../secrets/store";
import { authenticate, rid, type Credentials, type Deps } from "./deps";
import { checkedPath, pathFromRaw, opDeleteAll, opList, opMetadata, opRead, opVersions, opWrite, parseVersion, parseVersions } from "./secret-ops";

const PREFIX = "/secrets/";

/** The raw (still percent-encoded) secret path of a /secrets/... URL. */
export function rawSecretPath(url: string): string {
  const start = url.indexOf(PREFIX, url.indexOf("//") + 2) + PREFIX.length;
  const q = url.indexOf("?", start);
  return url.slice(start, q === -1 ? undefined : q);
}

/**
 * GET /secrets/<raw>: the answer's JSON text. Without a promise when the store holds its versions in
 * memory; errors are thrown (or rejected) as coded errors.
 */
export function readSecretJson(d: Deps, who: Credentials, raw: string, query: URLSearchParams | undefined, requestId: string): string | Promise<string> {
  const p = authenticate(d, who, { action: "secret.read", target: raw.slice(0, 256), requestId });
  if (query?.get("list") === "true" || query?.get("list") === "1") {
    const prefix = raw === "" ? "" : checkedPath(d, decodePathParam(raw));
    return opList(d, p, prefix, requestId).then((keys) => JSON.stringify({ path: prefix, keys }));
  }
  const path = pathFromRaw(d, raw);
  if (query?.get("metadata") === "true") return opMetadata(d, p, path, requestId).then((metadata) => JSON.stringify({ path, metadata }));
  const got = opRead(d, p, path, parseVersion(query?.get("version")), requestId);
  const memo = d.store.peek !== undefined;
  return got instanceof Promise ? got.then((g) => readAnswer(path, g, memo)) : readAnswer(path, got, memo);
}

/**
 * Answer texts by lookup, for stores that hand out one frozen lookup per unchanged version (peek): a
 * changed, deleted or destroyed version is a new lookup, so no change is ever answered stale; the read
 * is still authorised and audited first, every time. Serialising was ~4 % of a read's CPU.
 */
const answers = new WeakMap<SecretRead, string>();
function readAnswer(path: string, got: SecretRead, memo: boolean): string {
  let text = memo ? answers.get(got) : undefined;
  if (text === undefined) {
    text = JSON.stringify({ path, data: got.data, metadata: got.metadata });
    if (memo) answers.set(got, text);
  }
  return text;
}

export function secretRoutes(d: Deps) {
  return new Elysia({ name: "security:secrets" })
    .put("/secrets/*", async ({ request, body, set }) => {
      const requestId = rid(set, request);
      const p = authenticate(d, request, { action: "secret.write", target: rawSecretPath(request.url).slice(0, 256), requestId });
      const path = checkedPath(d, decodePathParam(rawSecretPath(request.url)));
      if (!body || typeof body !== "object" || Array.isArray(body)) throw SecErrors.SEC_ERR_BAD_BODY("body must be { data: {...}, cas?: number }", "body");
      const b = body as Record<string, unknown>;
      for (const k of Object.keys(b)) if (k !== "data" && k !== "cas" && k !== "options") throw SecErrors.SEC_ERR_BAD_BODY(`unknown field ${k.slice(0, 32)}`, `body.${k.slice(0, 32)}`);
      const cas = b.cas ?? (b.options as { cas?: unknown } | undefined)?.cas;
      const meta = await opWrite(d, p, path, b.data, cas, requestId);
      return { path, ...meta };
    })
    .delete("/secrets/*", async ({ request, set }) => {
      const requestId = rid(set, request);
      const p = authenticate(d, request, { action: "secret.delete", target: rawSecretPath(request.url).slice(0, 256), requestId });
      const path = checkedPath(d, decodePathParam(rawSecretPath(request.url)));
      const q = new URL(request.url).searchParams;
      if (q.get("all") === "true") await opDeleteAll(d, p, path, requestId);
      else await opVersions(d, p, path, "delete", q.has("versions") ? parseVersions(q.get("versions"), "query.versions") : undefined, requestId);
      set.status = 204;
      return "";
    });
}
