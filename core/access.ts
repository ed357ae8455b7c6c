/**
 * Who may read or write an export of the daemon: the one access rule, used by transfers,
 * admin calls, listings and the permission sandbox alike.
 *
 * - An anonymous export (no `users`) may be read by anyone, authenticated or not, and written
 *   by anyone only with `anonymous_write = true` and not `read_only`.
 * - An export with `users` may be used only by those users: read-only for `"name:ro"` or when
 *   the export is `read_only`, else read and write. Anyone else (anonymous callers included)
 *   gets nothing.
 *
 * @module
 */

import type { DaemonConfig, ModuleConfig, ModuleUser } from "./config.ts";

/** What a caller may do with an export. */
export type Access = "none" | "read" | "write";

/** The access settings of one export (a module, or the default root). */
export interface AccessRules {
  /** The users who may use it, or `null` for an anonymous export. */
  users: ModuleUser[] | null;
  /** True if nobody may write. */
  readOnly: boolean;
  /** True if anyone may write to an anonymous export (ignored when `users` is set). */
  anonymousWrite: boolean;
}

/**
 * The access a caller has to an export.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { accessOf } from "./access.ts";
 * const anonymous = { users: null, readOnly: false, anonymousWrite: false };
 * strictEqual(accessOf(anonymous, null), "read");
 * strictEqual(accessOf({ ...anonymous, anonymousWrite: true }, null), "write");
 * const private_ = {
 *   users: [{ name: "alice", readOnly: false }, { name: "bob", readOnly: true }],
 *   readOnly: false,
 *   anonymousWrite: false,
 * };
 * strictEqual(accessOf(private_, "alice"), "write");
 * strictEqual(accessOf(private_, "bob"), "read");
 * strictEqual(accessOf(private_, "carol"), "none");
 * strictEqual(accessOf(private_, null), "none");
 * ```
 *
 * @param rules The export's settings.
 * @param user The authenticated user, or `null` for an anonymous caller.
 * @returns `"none"`, `"read"` or `"write"`.
 */
export function accessOf(rules: AccessRules, user: string | null): Access {
  if (rules.users === null) return rules.anonymousWrite && !rules.readOnly ? "write" : "read";
  if (user === null) return "none";
  const entry = rules.users.find((candidate) => candidate.name === user);
  if (entry === undefined) return "none";
  return entry.readOnly || rules.readOnly ? "read" : "write";
}

/**
 * Tells whether anyone at all may write to an export: decides whether the daemon's sandbox
 * grants write permission there.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { anyoneMayWrite } from "./access.ts";
 * strictEqual(anyoneMayWrite({ users: null, readOnly: false, anonymousWrite: false }), false);
 * strictEqual(
 *   anyoneMayWrite({ users: [{ name: "a", readOnly: false }], readOnly: false, anonymousWrite: false }),
 *   true,
 * );
 * strictEqual(
 *   anyoneMayWrite({ users: [{ name: "a", readOnly: true }], readOnly: false, anonymousWrite: false }),
 *   false,
 * );
 * ```
 *
 * @param rules The export's settings.
 * @returns True if some caller (anonymous or a listed user) gets `"write"`.
 */
export function anyoneMayWrite(rules: AccessRules): boolean {
  if (rules.users === null) return accessOf(rules, null) === "write";
  return rules.users.some((user) => accessOf(rules, user.name) === "write");
}

/**
 * The access settings of the default root (`root_users`, `root_read_only`,
 * `root_anonymous_write`).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { parseDaemonConfig } from "./config.ts";
 * import { accessOf, rootRules } from "./access.ts";
 * const config = parseDaemonConfig("[daemon]\nroot = '/srv'\n");
 * strictEqual(accessOf(rootRules(config), null), "read");
 * ```
 *
 * @param config The daemon's configuration.
 * @returns The rules.
 */
export function rootRules(config: DaemonConfig): AccessRules {
  return {
    users: config.rootUsers,
    readOnly: config.rootReadOnly,
    anonymousWrite: config.rootAnonymousWrite,
  };
}

/**
 * The access settings of a module (`users`, `read_only`, `anonymous_write`).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { parseDaemonConfig } from "./config.ts";
 * import { accessOf, moduleRules } from "./access.ts";
 * const config = parseDaemonConfig(
 *   "[[module]]\nname = 'drop'\npath = '/srv/drop'\nanonymous_write = true\n",
 * );
 * for (const module of config.modules) strictEqual(accessOf(moduleRules(module), null), "write");
 * ```
 *
 * @param module The module.
 * @returns The rules.
 */
export function moduleRules(module: ModuleConfig): AccessRules {
  return { users: module.users, readOnly: module.readOnly, anonymousWrite: module.anonymousWrite };
}
