/**
 * Shell completion of a path inside a tree.
 *
 * @module
 */

import { joinPath, type Tree } from "../tree.ts";
import type { AdminBudget } from "./admin_budget.ts";
import { ADMIN_LIMITS } from "./admin_limits.ts";
import { openStart } from "./_start.ts";
import { readAdminDirectory, trimSlashes } from "./_entries.ts";
import { AdminError } from "./admin_error.ts";

/** Options of {@linkcode completeEntries}. */
export interface CompleteOptions {
  /** The deadline and cancellation. */
  budget: AdminBudget;
  /**
   * Offer directories only.
   * @default {false}
   */
  dirsOnly?: boolean;
  /**
   * Most candidates.
   * @default {ADMIN_LIMITS.completions}
   */
  limit?: number;
}

/**
 * Completes the last segment of a path inside a tree: the names in `dir` that start with
 * `partial` (dot names only when `partial` starts with a dot, blit's temporaries never),
 * directories (and links to directories of the tree) marked with a final `/`. A `dir` that is
 * not a directory has no candidates.
 *
 * Requires `--allow-read` for the tree.
 *
 * @example Usage
 * ```ts ignore
 * import { AdminBudget, completeEntries } from "./mod.ts";
 * import { ContainedTree } from "../contained_tree.ts";
 * const tree = ContainedTree.open("/srv/photos", { symlinks: false });
 * const budget = new AdminBudget("complete", 15_000);
 * const candidates = await completeEntries(tree, "2024", "ju", { budget });
 * console.log(candidates); // ["2024/july/", "2024/june/"]
 * ```
 *
 * @param tree The tree.
 * @param dir Path of the directory to look in (`""` for the root).
 * @param partial The typed start of the name.
 * @param options Kinds, cap and budget.
 * @throws {PathInvalidError} If `dir` is not a valid wire path.
 * @throws {PathEscapeError} If a link on the way leads out of a contained tree.
 * @throws {Deno.errors.NotFound} If `dir` does not exist.
 * @throws {AdminError} `too-large` for a huge directory; `deadline` or `cancelled`.
 * @returns Candidate paths of the tree, sorted (`dir/name`, `dir/sub/`).
 */
export async function completeEntries(
  tree: Tree,
  dir: string,
  partial: string,
  options: CompleteOptions,
): Promise<string[]> {
  const { budget, dirsOnly = false, limit = ADMIN_LIMITS.completions } = options;
  const path = trimSlashes(dir);
  let base: Tree;
  try {
    base = openStart(tree, path, "complete");
  } catch (error) {
    if (error instanceof AdminError && error.code === "invalid") return []; // not a directory
    throw error;
  }
  const { handle, items } = readAdminDirectory(base, "");
  budget.check();
  const out: string[] = [];
  for (const { name } of items) {
    if (!name.startsWith(partial) || (name.startsWith(".") && !partial.startsWith("."))) continue;
    if (out.length >= limit) break;
    await budget.tick();
    let isDir = false;
    try {
      const child = handle.stat(name);
      isDir = child?.kind === "dir";
      if (child?.kind === "symlink") isDir = tree.probe(joinPath(path, name)).isDirectory;
    } catch { /* vanished, unnamable or leaving the tree: offer it as a plain name */ }
    if (dirsOnly && !isDir) continue;
    out.push(`${joinPath(path, name)}${isDir ? "/" : ""}`);
  }
  return out;
}
