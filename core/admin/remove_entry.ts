/**
 * `rm`: one entry of a tree, recursively for a directory.
 *
 * @module
 */

import { PathEscapeError, validateWirePath } from "../paths.ts";
import { joinPath, splitPath, type Tree, type TreeDir } from "../tree.ts";
import type { AdminBudget } from "./admin_budget.ts";
import { AdminError, toAdminError } from "./admin_error.ts";
import { trimSlashes } from "./_entries.ts";
import { walkSubtree } from "./_walk.ts";

/** Options of {@linkcode removeEntry}. */
export interface RemoveOptions {
  /** The deadline and cancellation. */
  budget: AdminBudget;
  /**
   * Count what would be removed, remove nothing.
   * @default {false}
   */
  dryRun?: boolean;
}

/**
 * Removes one entry of a tree, recursively for a directory: in each directory its files and
 * links first, then its subdirectories (deepest first), then the directory itself once empty. A
 * link is removed, never followed. The entry is reached with {@linkcode Tree.sub} on its parent
 * (links that stay inside a contained tree are followed there, as for any path a user names);
 * below it every directory is opened strictly with {@linkcode Tree.dir} right before it is read,
 * so one that became a link meanwhile is refused (counted as a failure), not followed. In a
 * contained tree a directory entered must still be the one its parent's listing showed (device
 * and inode), and each removal checks its directory again and removes only the entry that was
 * listed (`core/contained_dir.ts`): nothing is removed through a directory that changed. Failures
 * are counted and the walk goes on; they are reported together at the end.
 *
 * Requires `--allow-read` and `--allow-write` for the tree.
 *
 * @example Usage
 * ```ts ignore
 * import { AdminBudget, removeEntry } from "./mod.ts";
 * import { ContainedTree } from "../contained_tree.ts";
 * const tree = ContainedTree.open("/srv/scratch", { symlinks: false });
 * const budget = new AdminBudget("remove", 120_000);
 * const removed = await removeEntry(tree, "old/builds", { budget });
 * ```
 *
 * @param tree The tree (writable).
 * @param rel Path of the entry; `""` (the root) is refused.
 * @param options Dry run and budget.
 * @throws {AdminError} `invalid` for the root; `deadline`, `cancelled` or `too-large`; or,
 * when some entries could not be removed, the first failure's code with the count.
 * @throws {PathInvalidError} If `rel` is not a valid wire path.
 * @throws {PathEscapeError} If a link on the way leads out of a contained tree.
 * @throws {Deno.errors.NotFound} If the entry does not exist.
 * @returns The entries removed (or that would be), the entry itself included.
 */
export async function removeEntry(
  tree: Tree,
  rel: string,
  options: RemoveOptions,
): Promise<number> {
  const { budget, dryRun = false } = options;
  const path = trimSlashes(rel);
  if (path === "") {
    throw new AdminError(
      "invalid",
      "Cannot remove the root of a module: name an entry inside it",
    );
  }
  validateWirePath(path);
  const [parent, name] = splitPath(path);
  const base = tree.sub(parent);
  const info = base.dir("").stat(name);
  if (info === null) {
    throw new Deno.errors.NotFound(`Cannot remove ${JSON.stringify(path)}: it does not exist`);
  }
  let removed = 0;
  let failed = 0;
  let firstFailure: unknown = null;
  const fail = (error: unknown): void => {
    if (error instanceof AdminError) throw error;
    failed++;
    firstFailure ??= error;
  };
  const drop = (dir: TreeDir, entry: string): void => {
    try {
      if (!dryRun) dir.remove(entry);
      removed++;
    } catch (error) {
      fail(error);
    }
  };
  // Once a directory's contents are done: it is opened again (strictly) through its parent.
  const dropDirectory = (dirRel: string): void => {
    const [up, last] = splitPath(dirRel);
    let holder: TreeDir;
    try {
      holder = base.dir(up);
      const again = holder.stat(last);
      if (again === null) return; // gone meanwhile
      if (again.kind !== "dir") {
        throw new PathEscapeError(joinPath(parent, dirRel), ".", "it is no longer a directory");
      }
    } catch (error) {
      fail(error);
      return;
    }
    drop(holder, last);
  };
  if (info.kind !== "dir") drop(base.dir(""), name);
  else {
    const walk = walkSubtree(base, name, { budget, temporaries: true, subdirsLast: true });
    for await (const step of walk) {
      if (step.type === "entry" && step.info.kind !== "dir") drop(step.handle, step.name);
      else if (step.type === "problem") {
        fail(step.error ?? new Deno.errors.NotFound(`Cannot remove ${step.name}: it is gone`));
      } else if (step.type === "unreadable") fail(step.error);
      else if (step.type === "leave") dropDirectory(step.path);
    }
  }
  if (failed > 0) {
    const reason = toAdminError(firstFailure, "remove", path, "the module");
    throw new AdminError(
      reason.code,
      `Cannot remove ${failed} entr${failed === 1 ? "y" : "ies"} under ${
        JSON.stringify(path)
      } (${removed} removed): ${reason.message}`,
    );
  }
  return removed;
}
