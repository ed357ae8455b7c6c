/**
 * Internal helper of the walking admin operations (`find`, `du`, `rm`): one depth-first walk
 * over `readDirectory` (`core/walk.ts`), paced by an {@linkcode AdminBudget}.
 *
 * @module
 */

import { PathEscapeError } from "../paths.ts";
import { type DirItem, joinPath, type Tree, type TreeDir } from "../tree.ts";
import type { EntryInfo } from "../types.ts";
import type { AdminBudget } from "./admin_budget.ts";
import { readAdminDirectory } from "./_entries.ts";

/**
 * One step of {@linkcode walkSubtree}; every `path` is relative to the walked tree.
 *
 * - `enter`: a directory was opened and read; its entries follow, then its `leave`.
 * - `entry`: an entry of the directory being read, with its facts; `handle` is that directory.
 * - `problem`: an entry whose facts could not be read (`error`), or that is gone since the
 *   listing (`error` is `null`).
 * - `unreadable`: a directory that could not be opened or read (no `enter`, no `leave`); `gone`
 *   when it is below the start and no longer a directory (it became a file or a link since it
 *   was seen, and was not followed).
 * - `leave`: the directory's entries and subdirectories are done.
 */
export type WalkStep =
  | { type: "enter"; path: string; depth: number }
  | { type: "entry"; path: string; name: string; info: EntryInfo; handle: TreeDir }
  | { type: "problem"; path: string; name: string; error: unknown }
  | { type: "unreadable"; path: string; depth: number; error: unknown; gone: boolean }
  | { type: "leave"; path: string; depth: number };

/** Options of {@linkcode walkSubtree}. */
export interface WalkSubtreeOptions {
  /** Checked before each directory is opened; ticked once per entry. */
  budget: AdminBudget;
  /**
   * Report blit's temporaries too.
   * @default {false}
   */
  temporaries?: boolean;
  /**
   * Enter a directory's subdirectories once all its entries are reported (for `rm`: files
   * first); otherwise each one right after its own entry (pre-order).
   * @default {false}
   */
  subdirsLast?: boolean;
}

/** A directory being read. */
interface Frame {
  path: string;
  depth: number;
  handle: TreeDir;
  items: DirItem[];
  next: number;
  /** Subdirectories held back until the entries are done (`subdirsLast`). */
  later: string[];
  nextLater: number;
}

/**
 * Walks the subtree at `start` depth first, each directory's entries in name order. Every
 * directory is opened strictly (a link on the way is refused, never followed) right before it is
 * read, after a {@linkcode AdminBudget.check}; every entry is ticked
 * ({@linkcode AdminBudget.tick}) and then `lstat`ed. Links are reported, never entered. The walk
 * keeps its own stack (no recursion): a step costs the same however deep it is.
 *
 * @example Counting the files of a subtree
 * ```ts ignore
 * import { AdminBudget } from "./admin_budget.ts";
 * import { walkSubtree } from "./_walk.ts";
 * import { PlainTree } from "../tree.ts";
 * let files = 0;
 * const budget = new AdminBudget("count", 60_000);
 * for await (const step of walkSubtree(new PlainTree("/data"), "photos", { budget })) {
 *   if (step.type === "entry" && step.info.kind === "file") files++;
 * }
 * ```
 *
 * @param tree The tree.
 * @param start Path of the directory to walk (depth 0).
 * @param options Budget, temporaries and order.
 * @throws {AdminError} `deadline` or `cancelled`, from the budget.
 * @returns The steps, lazily.
 */
export async function* walkSubtree(
  tree: Tree,
  start: string,
  options: WalkSubtreeOptions,
): AsyncGenerator<WalkStep, void> {
  const { budget, temporaries = false, subdirsLast = false } = options;
  const frames: Frame[] = [];
  let enter: string | null = start;
  for (;;) {
    if (enter !== null) {
      const path = enter;
      const depth = frames.length;
      enter = null;
      budget.check();
      let listing;
      try {
        listing = readAdminDirectory(tree, path, { temporaries });
      } catch (error) {
        yield { type: "unreadable", path, depth, error, gone: depth > 0 && isNoLongerDir(error) };
        continue;
      }
      frames.push({ path, depth, ...listing, next: 0, later: [], nextLater: 0 });
      yield { type: "enter", path, depth };
    }
    const frame = frames[frames.length - 1];
    if (frame === undefined) return;
    const item = frame.items[frame.next];
    if (item !== undefined) {
      frame.next++;
      await budget.tick();
      const { name } = item;
      const path = joinPath(frame.path, name);
      let info;
      try {
        info = frame.handle.stat(name);
      } catch (error) {
        yield { type: "problem", path, name, error };
        continue;
      }
      if (info === null) {
        yield { type: "problem", path, name, error: null };
        continue;
      }
      yield { type: "entry", path, name, info, handle: frame.handle };
      if (info.kind === "dir") {
        if (subdirsLast) frame.later.push(path);
        else enter = path;
      }
      continue;
    }
    const later = frame.later[frame.nextLater];
    if (later !== undefined) {
      frame.nextLater++;
      enter = later;
      continue;
    }
    frames.pop();
    yield { type: "leave", path: frame.path, depth: frame.depth };
  }
}

/**
 * Whether an error opening a directory of a walk says it is no longer one (it became a file or
 * a link).
 */
function isNoLongerDir(error: unknown): boolean {
  return error instanceof Deno.errors.NotADirectory || error instanceof PathEscapeError;
}
