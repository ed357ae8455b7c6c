/**
 * `ls`: one directory of a tree, or one entry.
 *
 * @module
 */

import { PathInvalidError, validateWirePath } from "../paths.ts";
import { splitPath, type Tree } from "../tree.ts";
import type { AdminBudget } from "./admin_budget.ts";
import { ADMIN_LIMITS } from "./admin_limits.ts";
import { listedEntryOf, readAdminDirectory, trimSlashes } from "./_entries.ts";
import type { ListedEntry, Listing } from "./types.ts";

/** Options of {@linkcode listDirectory}. */
export interface ListDirectoryOptions {
  /** The deadline and cancellation. */
  budget: AdminBudget;
  /**
   * Most entries returned.
   * @default {ADMIN_LIMITS.listEntries}
   */
  limit?: number;
}

/**
 * Lists one directory of a tree, sorted by name, hiding blit's temporaries. A path naming a
 * file, or a link that does not lead to a directory of the tree (dangling, or leaving a contained
 * tree), lists that entry alone, as `ls` does; the link's target is only read as text.
 *
 * Requires `--allow-read` for the tree.
 *
 * @example Usage
 * ```ts ignore
 * import { AdminBudget, listDirectory } from "./mod.ts";
 * import { ContainedTree } from "../contained_tree.ts";
 * const tree = ContainedTree.open("/srv/photos", { symlinks: false });
 * const listing = await listDirectory(tree, "2024", { budget: new AdminBudget("list", 15_000) });
 * for (const entry of listing.entries) console.log(entry.name, entry.type);
 * ```
 *
 * @param tree The tree.
 * @param rel Path of the directory in the tree (`""` for the root; trailing slashes ignored).
 * @param options Budget and cap.
 * @throws {PathInvalidError} If `rel` is not a valid wire path.
 * @throws {PathEscapeError} If a link on the way leads out of a contained tree.
 * @throws {Deno.errors.NotFound} If the path does not exist.
 * @throws {AdminError} `too-large` for a huge directory; `deadline` or `cancelled`.
 * @returns The entries and whether the cap cut them.
 */
export async function listDirectory(
  tree: Tree,
  rel: string,
  options: ListDirectoryOptions,
): Promise<Listing> {
  const { budget, limit = ADMIN_LIMITS.listEntries } = options;
  const path = trimSlashes(rel);
  validateWirePath(path);
  if (path !== "") {
    const { exists, isDirectory } = tree.probe(path);
    if (!exists) throw new Deno.errors.NotFound(`Cannot list ${JSON.stringify(path)}`);
    if (!isDirectory) {
      const [parent, name] = splitPath(path);
      const info = tree.sub(parent).dir("").stat(name);
      if (info === null) throw new Deno.errors.NotFound(`Cannot list ${JSON.stringify(path)}`);
      return { entries: [listedEntryOf(name, info)], truncated: false };
    }
  }
  const { handle, items } = readAdminDirectory(path === "" ? tree : tree.sub(path), "");
  budget.check();
  const entries: ListedEntry[] = [];
  for (const { name } of items.slice(0, limit)) {
    await budget.tick();
    let info;
    try {
      info = handle.stat(name);
    } catch (error) {
      // A name the tree cannot address (a backslash in a contained tree) is left out.
      if (error instanceof PathInvalidError) continue;
      throw error;
    }
    if (info !== null) entries.push(listedEntryOf(name, info)); // else: removed meanwhile
  }
  return { entries, truncated: items.length > limit };
}
