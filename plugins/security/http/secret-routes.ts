/**
 * /secrets/<path>: PUT { data, cas? } writes a version; GET reads the latest (?version=N a given one,
 * ?metadata=true the version list, ?list=true the keys under a folder); DELETE soft-deletes the latest
 * (?versions=1,2 given ones, ?all=true every version and the metadata). GET goes through fast-path.ts.
 */
import { Elysia } from "elysia";
import { SecErrors } from "../errors";
import { decodePathParam } from "../paths";
import { authenticate, rid, type Credentials, type Deps } from "./deps";
import { checkedPath, pathFromRaw, opDeleteAll, opList, opMetadata, opRead, opVersions, opWrite, parseVersion, parseVersions } from "./secret-ops";

const PREFIX = "/secrets/";

/** The raw (still percent-encoded) secret path of a /secrets/... URL. */
export function rawSecretPath(url: string): string {
  const start = url.indexOf(PREFIX, url.indexOf("//") + 2) + PREFIX.length;
  const q = url.indexOf("?", start);
  return url.slice(start, q === -1 ? undefined : q);
}

export async function readSecret(d: Deps, who: Credentials, raw: string, query: URLSearchParams | undefined, requestId: string) {
  const p = authenticate(d, who, { action: "secret.read", target: raw.slice(0, 256), requestId });
  if (query?.get("list") === "true" || query?.get("list") === "1") {
    const prefix = raw === "" ? "" : checkedPath(d, decodePathParam(raw));
    return { path: prefix, keys: await opList(d, p, prefix, requestId) };
  }
  const path = pathFromRaw(d, raw);
  if (query?.get("metadata") === "true") return { path, metadata: await opMetadata(d, p, path, requestId) };
  const got = await opRead(d, p, path, parseVersion(query?.get("version")), requestId);
  return { path, data: got.data, metadata: got.metadata };
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
