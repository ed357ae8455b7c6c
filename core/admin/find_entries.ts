/**
 * `find`: entries of a subtree whose name matches a glob.
 *
 * @module
 */

import { joinPath, type Tree } from "../tree.ts";
import type { AdminBudget } from "./admin_budget.ts";
import { ADMIN_LIMITS } from "./admin_limits.ts";
import { compileFindPattern } from "./compile_find_pattern.ts";
import { openStart } from "./_start.ts";
import { mtimeOf, sizeOf, trimSlashes } from "./_entries.ts";
import { walkSubtree } from "./_walk.ts";
import type { FindScope, FoundEntry, StreamEnd } from "./types.ts";

/** Options of {@linkcode findEntries}. */
export interface FindOptions {
  /** The deadline and cancellation. */
  budget: AdminBudget;
  /**
   * Glob matched against entry names (see {@linkcode compileFindPattern}); `""` matches all.
   * @default {""}
   */
  pattern?: string;
  /**
   * Which kinds to report (`files` includes links and other non-directories).
   * @default {"all"}
   */
  kind?: FindScope;
  /**
   * Match case-insensitively.
   * @default {false}
   */
  caseInsensitive?: boolean;
  /**
   * Most results.
   * @default {ADMIN_LIMITS.findResults}
   */
  limit?: number;
}

/**
 * Searches a subtree by name, depth first (a directory, then its contents), each directory's
 * entries sorted by name, blit's temporaries left out. Links are reported and never followed;
 * the start itself is not reported. Each directory is opened strictly (a directory that became
 * a link meanwhile is skipped, never followed) right before it is read; a directory that cannot
 * be read is counted and the walk goes on.
 *
 * Requires `--allow-read` for the tree.
 *
 * @example Usage
 * ```ts ignore
 * import { AdminBudget, findEntries } from "./mod.ts";
 * import { PlainTree } from "../tree.ts";
 * const budget = new AdminBudget("search", 60_000);
 * for await (const hit of findEntries(new PlainTree("/data"), "", { budget, pattern: "*.jpg" })) {
 *   console.log(hit.path);
 * }
 * ```
 *
 * @param tree The tree.
 * @param rel Path of the subtree (`""` for the root); results are paths of the tree.
 * @param options Pattern, kinds, cap and budget.
 * @throws {AdminError} `invalid` for a bad pattern or a start that is not a directory;
 * `deadline` or `cancelled`.
 * @throws {PathInvalidError} If `rel` is not a valid wire path.
 * @throws {PathEscapeError} If a link on the way leads out of a contained tree.
 * @throws {Deno.errors.NotFound} If the start does not exist.
 * @returns The matches, lazily; the generator's return value tells how the walk ended.
 */
export async function* findEntries(
  tree: Tree,
  rel: string,
  options: FindOptions,
): AsyncGenerator<FoundEntry, StreamEnd> {
  const {
    budget,
    pattern = "",
    kind = "all",
    caseInsensitive = false,
    limit = ADMIN_LIMITS.findResults,
  } = options;
  const matches = compileFindPattern(pattern, caseInsensitive);
  const start = trimSlashes(rel);
  const base = openStart(tree, start, "search");
  let found = 0;
  let errors = 0;
  let truncated = false;
  for await (const step of walkSubtree(base, "", { budget })) {
    if (step.type === "problem" || (step.type === "unreadable" && !step.gone)) errors++;
    if (step.type !== "entry") continue;
    const isDir = step.info.kind === "dir";
    const wanted = kind === "dirs" ? isDir : kind === "files" ? !isDir : true;
    if (!wanted || !matches(step.name)) continue;
    if (found >= limit) {
      truncated = true;
      break;
    }
    found++;
    yield {
      path: joinPath(start, step.path),
      type: step.info.kind,
      size: sizeOf(step.info),
      mtime: mtimeOf(step.info),
    };
  }
  return { truncated, errors };
}
