/**
 * GET /openapi.json on every plugin port: an OpenAPI 3.0 document made by @elysiajs/openapi from the
 * TypeBox schemas of the plugin's Elysia routes, plus what it cannot see: routes its generator skips
 * (e.g. /.well-known/...), routes served outside Elysia (instance.docs.routes: fast paths, the
 * gateway's proxied prefixes), and the host's own /health, /metrics, /openapi.json and /docs.
 * The host answers these paths before the plugin, so the gateway's catch-all never proxies them.
 */
import { toOpenAPISchema } from "@elysiajs/openapi";
import type { AnyElysia } from "elysia";
import type { DocRoute, PluginInstance } from "../core/plugin";

const HTTP_METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);

type Operation = Record<string, unknown>;
type PathItem = Record<string, Operation>;

/** Elysia's "/a/:id" and "/a/*" as OpenAPI templates: "/a/{id}", "/a/{path}". */
export function templatePath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)\??/g, "{$1}").replace(/\/\*$/, "/{path}");
}

function paramsOf(path: string): Record<string, unknown>[] {
  return [...path.matchAll(/\{([^}]+)\}/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
}

function opId(method: string, path: string): string {
  return method.toLowerCase() + path.replace(/[{}]/g, "").split(/[^A-Za-z0-9]+/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join("");
}

/** Every error of every plugin has this shape (src/core/errors.ts): one schema, referenced by every operation. */
const ERROR_SCHEMA = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: { code: { type: "string", example: "GW_ERR_VALIDATION" }, message: { type: "string" }, where: { type: "string" } },
    },
  },
};
const ERROR_RESPONSE = { description: "Coded JSON error", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } };

/**
 * OpenAPI 3 requires `responses` on every operation; the generator omits it for routes without a
 * response schema, and hand-listed routes have none. Success is described generically, errors exactly.
 */
function withResponses(op: Operation): Operation {
  const responses = (op.responses ?? {}) as Record<string, unknown>;
  if (Object.keys(responses).some((k) => /^[23]/.test(k))) return { ...op, responses: { default: ERROR_RESPONSE, ...responses } };
  return { ...op, responses: { "200": { description: "Success" }, default: ERROR_RESPONSE, ...responses } };
}

const HOST_ROUTES: DocRoute[] = [
  { method: "GET", path: "/health", summary: "Readiness of this plugin (host-served on every port)", tag: "host" },
  { method: "GET", path: "/metrics", summary: "Prometheus metrics (host-served on every port)", tag: "host" },
  { method: "GET", path: "/openapi.json", summary: "This document (host-served, reserved on every port)", tag: "host" },
  { method: "GET", path: "/docs", summary: "API reference page for this document (host-served, reserved, works offline)", tag: "host" },
];

/** The Elysia-derived part: built once per instance (routes do not change within one). */
const cache = new WeakMap<PluginInstance, { paths: Record<string, PathItem>; schemas: Record<string, unknown> }>();

function fromApps(apps: AnyElysia[]): { paths: Record<string, PathItem>; schemas: Record<string, unknown> } {
  const paths: Record<string, PathItem> = {};
  const schemas: Record<string, unknown> = {};
  for (const app of apps) {
    const doc = toOpenAPISchema(app);
    Object.assign(schemas, doc.components?.schemas ?? {});
    for (const [raw, item] of Object.entries(doc.paths as Record<string, PathItem>)) {
      const p = templatePath(raw);
      if (p !== raw) for (const op of Object.values(item)) op.parameters = paramsOf(p); // "/a/*" is no OpenAPI template
      paths[p] = { ...paths[p], ...item };
    }
    // Whatever the generator skipped still gets an entry (a route without a schema is still a route).
    for (const r of app.routes as { method: string; path: string }[]) {
      const m = r.method.toLowerCase();
      if (!HTTP_METHODS.has(m)) continue;
      const p = templatePath(r.path);
      const item = (paths[p] ??= {});
      item[m] ??= { operationId: opId(m, p), parameters: paramsOf(p) };
    }
  }
  return { paths, schemas };
}

function addRoute(paths: Record<string, PathItem>, r: DocRoute): void {
  const m = r.method.toLowerCase();
  if (!HTTP_METHODS.has(m)) return;
  const item = (paths[r.path] ??= {});
  const op = (item[m] ??= { operationId: opId(m, r.path), parameters: paramsOf(r.path) });
  op.summary ??= r.summary;
  if (r.tag) op.tags ??= [r.tag];
  if (r.body) op.requestBody ??= { required: true, content: { "application/json": { schema: r.body } } };
}

export function openApiDocument(id: string, description: string, version: string, instance: PluginInstance): Record<string, unknown> {
  let base = cache.get(instance);
  if (!base) cache.set(instance, (base = fromApps([instance.app, ...(instance.docs?.apps ?? [])])));
  const paths: Record<string, PathItem> = {};
  for (const [p, item] of Object.entries(base.paths)) paths[p] = { ...item };
  for (const r of instance.docs?.routes?.() ?? []) addRoute(paths, r);
  for (const r of HOST_ROUTES) addRoute(paths, r);
  for (const item of Object.values(paths)) for (const m of Object.keys(item)) item[m] = withResponses(item[m]);
  return {
    openapi: "3.0.3",
    info: { title: `TradPal ${id}`, version, description },
    paths,
    components: { schemas: { ...base.schemas, Error: ERROR_SCHEMA } },
  };
}
