/**
 * Start-up side of the user store: with no `users:` in config and no store file yet, create `admin`
 * with a random password and print it once in the start-up log (as the security plugin reports its
 * admin token on first start); then open the directory /auth/login reads, and say which config
 * users shadow stored ones.
 */
import type { PluginContext } from "../../../src/core/plugin";
import type { Logger } from "../../../src/core/log";
import type { EdgeRoute } from "../edge-policy/contract";
import type { UserEntry } from "./settings";
import { FIRST_ADMIN, UserDirectory, ensureFirstAdmin, userStoreFile } from "./user-store";

/** `admin` (every admin endpoint) plus every scope a configured route asks for, so the first login reaches them all. */
export function firstAdminScopes(routes: readonly EdgeRoute[]): string[] {
  const scopes = new Set<string>(["admin"]);
  for (const r of routes) for (const s of r.scopes) scopes.add(s);
  return [...scopes];
}

export async function openUserDirectory(configUsers: readonly UserEntry[], routes: readonly EdgeRoute[], ctx: PluginContext, log: Logger): Promise<{ directory: UserDirectory; inUse: boolean }> {
  const file = userStoreFile(ctx.host.data_dir);
  if (configUsers.length === 0) {
    // Shared pool: a reload's provision must not race the first one into a second admin. The password
    // is dropped from memory once printed.
    const created = await ctx.shared.getOrCreate(`gateway:edge:first-admin:${file}`, async () => ({ password: await ensureFirstAdmin(file, firstAdminScopes(routes)) }));
    if (created.password !== undefined) {
      log.warn("first start: created the login user \"admin\" (password shown once; change it with: bun run users passwd admin)", { username: FIRST_ADMIN, password: created.password, file });
      created.password = undefined;
    }
  }
  const directory = new UserDirectory(new Map(configUsers.map((u) => [u.name, u])), file, (msg, fields) => log.warn(msg, fields));
  const clashes = directory.clashes();
  if (clashes.length) log.warn("users defined in config and in the user store: the config entry wins", { users: clashes, file });
  if (directory.storedCount) log.info("user store", { file, users: directory.storedCount });
  return { directory, inUse: directory.storedCount > 0 || configUsers.length > 0 };
}
