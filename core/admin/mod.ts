/**
 * The admin operations of blit (`ls`, `find`, `du`, `df`, `rm` and path completion) over the
 * {@linkcode Tree} interface of `core/tree.ts`: the daemon runs them on a contained tree per
 * module, `blit-utils` on a plain tree for local paths. They return plain objects (`types.ts`),
 * run under an {@linkcode AdminBudget} (deadline, cancellation, and regular yields to the event
 * loop on long walks), cap what they return ({@linkcode ADMIN_LIMITS}) and fail with an
 * {@linkcode AdminError} whose code says why; no transport is involved.
 *
 * @example Usage
 * ```ts ignore
 * import { AdminBudget, ADMIN_LIMITS, listDirectory } from "./mod.ts";
 * import { PlainTree } from "../tree.ts";
 * const budget = new AdminBudget("list", ADMIN_LIMITS.unaryMs);
 * const listing = await listDirectory(new PlainTree("/data"), "photos", { budget });
 * for (const entry of listing.entries) console.log(entry.name, entry.type, entry.size);
 * ```
 *
 * @module
 */

export * from "./admin_budget.ts";
export * from "./admin_error.ts";
export * from "./admin_limits.ts";
export * from "./compile_find_pattern.ts";
export * from "./complete_entries.ts";
export * from "./disk_usage.ts";
export * from "./filesystem_space.ts";
export * from "./find_entries.ts";
export * from "./guard_nested_exports.ts";
export * from "./list_directory.ts";
export * from "./remove_entry.ts";
export * from "./types.ts";
