/**
 * `du`: per-directory totals of a subtree.
 *
 * @module
 */

import { joinPath, type Tree } from "../tree.ts";
import type { AdminBudget } from "./admin_budget.ts";
import { ADMIN_LIMITS } from "./admin_limits.ts";
import { openStart } from "./_start.ts";
import { sizeOf, trimSlashes } from "./_entries.ts";
import { walkSubtree } from "./_walk.ts";
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
type Totals = Omit<UsageEntry, "path" | "depth">;

function noTotals(): Totals {
  return { bytes: 0, files: 0, dirs: 0, errors: 0 };
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
  // The totals of the directories being read; the first one gathers the start's.
  const open: Totals[] = [noTotals()];
  for await (const step of walkSubtree(base, "", { budget, temporaries: true })) {
    const current = open[open.length - 1] as Totals;
    if (step.type === "enter") open.push(noTotals());
    else if (step.type === "problem") current.errors++;
    else if (step.type === "unreadable" && !step.gone) current.errors++;
    else if (step.type === "entry") {
      if (step.info.kind === "dir") current.dirs++; // its contents come with its `leave`
      else {
        current.bytes += sizeOf(step.info);
        current.files++;
      }
    } else if (step.type === "leave") {
      open.pop();
      const parent = open[open.length - 1] as Totals;
      parent.bytes += current.bytes;
      parent.files += current.files;
      parent.dirs += current.dirs;
      parent.errors += current.errors;
      if (step.depth > maxDepth) continue;
      if (step.depth > 0 && reported >= limit) truncated = true;
      else {
        if (step.depth > 0) reported++;
        yield { path: joinPath(start, step.path), depth: step.depth, ...current };
      }
    }
  }
  return { truncated, errors: (open[0] as Totals).errors };
}
