/**
 * `du`: per-directory totals of a subtree.
 *
 * @module
 */

import { joinPath, type Tree, type TreeDir } from "../tree.ts";
import type { AdminBudget } from "./admin_budget.ts";
import { ADMIN_LIMITS } from "./admin_limits.ts";
import { openStart } from "./_start.ts";
import { isFatal, isNoLongerDir, readNames, sizeOf, trimSlashes } from "./_entries.ts";
import type { StreamEnd, UsageEntry } from "./types.ts";

/** Options of {@linkcode diskUsage}. */
export interface DiskUsageOptions {
  /** The deadline and cancellation. */
  budget: AdminBudget;
  /**
   * Report directories down to this depth below the start (0 = the start only).
   * @default {0}
   */
  maxDepth?: number;
  /**
   * Most directories reported besides the start.
   * @default {ADMIN_LIMITS.usageEntries}
   */
  limit?: number;
}

/** Totals of one subtree. */
interface Totals {
  bytes: number;
  files: number;
  dirs: number;
  errors: number;
}

/**
 * Totals a subtree per directory, deepest first: each directory down to `maxDepth` is yielded
 * once its subtree is counted, and the start comes last. Links count as files (their own size)
 * and are never followed; blit's temporaries count too (they take space). Each directory is
 * opened strictly right before it is read (one that became a link meanwhile is skipped); one
 * that cannot be read is counted in `errors` and the walk goes on.
 *
 * Requires `--allow-read` for the tree.
 *
 * @example Usage
 * ```ts ignore
 * import { AdminBudget, diskUsage } from "./mod.ts";
 * import { PlainTree } from "../tree.ts";
 * const budget = new AdminBudget("total", 60_000);
 * for await (const row of diskUsage(new PlainTree("/data"), "", { budget, maxDepth: 1 })) {
 *   console.log(row.path, row.bytes);
 * }
 * ```
 *
 * @param tree The tree.
 * @param rel Path of the subtree (`""` for the root); reported paths are paths of the tree.
 * @param options Depth, cap and budget.
 * @throws {AdminError} `invalid` for a start that is not a directory; `deadline` or
 * `cancelled`.
 * @throws {PathInvalidError} If `rel` is not a valid wire path.
 * @throws {PathEscapeError} If a link on the way leads out of a contained tree.
 * @throws {Deno.errors.NotFound} If the start does not exist.
 * @returns The entries, lazily; the return value tells whether the cap cut the report.
 */
export async function* diskUsage(
  tree: Tree,
  rel: string,
  options: DiskUsageOptions,
): AsyncGenerator<UsageEntry, StreamEnd> {
  const { budget, maxDepth = 0, limit = ADMIN_LIMITS.usageEntries } = options;
  const start = trimSlashes(rel);
  const base = openStart(tree, start, "total");
  let reported = 0;
  let truncated = false;
  const walk = async function* (
    dirRel: string,
    depth: number,
  ): AsyncGenerator<UsageEntry, Totals> {
    budget.check();
    const totals: Totals = { bytes: 0, files: 0, dirs: 0, errors: 0 };
    let dir: TreeDir;
    let names: string[];
    try {
      dir = base.dir(dirRel);
      names = readNames(dir);
    } catch (error) {
      if (isFatal(error)) throw error;
      if (depth === 0 || !isNoLongerDir(error)) totals.errors++;
      return totals;
    }
    for (const name of names) {
      await budget.tick();
      let info;
      try {
        info = dir.stat(name);
      } catch {
        info = null;
      }
      if (info === null) {
        totals.errors++;
        continue;
      }
      if (info.kind === "dir") {
        const sub = yield* walk(joinPath(dirRel, name), depth + 1);
        totals.bytes += sub.bytes;
        totals.files += sub.files;
        totals.dirs += sub.dirs + 1;
        totals.errors += sub.errors;
      } else {
        totals.bytes += sizeOf(info);
        totals.files++;
      }
    }
    if (depth <= maxDepth) {
      if (depth > 0 && reported >= limit) truncated = true;
      else {
        if (depth > 0) reported++;
        yield { path: joinPath(start, dirRel), depth, ...totals };
      }
    }
    return totals;
  };
  const totals = yield* walk("", 0);
  return { truncated, errors: totals.errors };
}
