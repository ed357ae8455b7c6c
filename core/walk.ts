/**
 * The SOURCE side's enumeration: a depth-first walk over a {@linkcode Tree} that yields one
 * group per directory.
 *
 * @module
 */

import { describeError } from "./errors.ts";
import type { EntryFilter } from "./filter.ts";
import { joinPath, TEMP_PREFIX, type Tree } from "./tree.ts";
import type { Entry } from "./types.ts";

/**
 * One directory of the walk: the directory's relative path and its children, sorted by name.
 * The DESTINATION can decide what to delete in `dir` from `entries` alone, provided `complete`.
 */
export interface WalkGroup {
  /** Relative path of the directory (`""` for the walk's root). */
  dir: string;
  /** The children of `dir` that passed the filter, sorted by name. */
  entries: Entry[];
  /** False when the directory could not be listed completely. */
  complete: boolean;
}

/** Options for {@linkcode walkTree}. */
export interface WalkOptions {
  /** Which entries take part; excluded directories are not entered. */
  filter: EntryFilter;
  /** Called for every entry or directory that cannot be read. */
  onError: (path: string, message: string) => void;
  /** Stops the walk between directories. */
  signal?: AbortSignal;
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Walks a tree depth first from its root and yields one {@linkcode WalkGroup} per directory,
 * parents before children. Symlinks are reported, never followed; a directory is entered through
 * a fresh `tree.dir()` handle (a contained tree refuses one that became a link meanwhile).
 * Entries other than files, directories and links (sockets, FIFOs, devices) are skipped with an
 * error, which makes the group incomplete. Temporary siblings of blit runs are skipped.
 *
 * @example Usage
 * ```ts ignore
 * import { PlainTree } from "./tree.ts";
 * import { walkTree } from "./walk.ts";
 * const walk = walkTree(new PlainTree("/srv/src"), { filter: () => true, onError: console.error });
 * for await (const group of walk) console.log(group.dir, group.entries.length);
 * ```
 *
 * @param tree The tree; its root is the walk's root.
 * @param options Filter, error sink and abort signal.
 * @returns The groups, lazily.
 */
export async function* walkTree(tree: Tree, options: WalkOptions): AsyncGenerator<WalkGroup> {
  const { filter, onError, signal } = options;
  const stack: string[] = [""];
  while (stack.length > 0) {
    if (signal?.aborted) return;
    const dir = stack.pop() as string;
    const group = listGroup(tree, dir, filter, onError);
    yield group;
    for (let i = group.entries.length - 1; i >= 0; i--) {
      const entry = group.entries[i] as Entry;
      if (entry.kind === "dir") stack.push(entry.path);
    }
  }
}

function listGroup(
  tree: Tree,
  dir: string,
  filter: EntryFilter,
  onError: (path: string, message: string) => void,
): WalkGroup {
  let handle;
  let items;
  try {
    handle = tree.dir(dir);
    items = handle.list().sort(byName);
  } catch (error) {
    onError(dir === "" ? "." : dir, `Cannot list directory: ${describeError(error)}`);
    return { dir, entries: [], complete: false };
  }
  const entries: Entry[] = [];
  let complete = true;
  for (const item of items) {
    if (item.name.startsWith(TEMP_PREFIX)) continue;
    const rel = joinPath(dir, item.name);
    if (!filter(rel, item.kind === "dir")) continue;
    if (item.kind === "other") {
      onError(rel, "Cannot copy a special file (socket, fifo or device): skipped");
      complete = false;
      continue;
    }
    try {
      const info = handle.stat(item.name);
      if (info === null) continue; // gone since the listing
      if (info.kind === "other") {
        onError(rel, "Cannot copy a special file (socket, fifo or device): skipped");
        complete = false;
        continue;
      }
      entries.push({ ...info, kind: info.kind, path: rel });
    } catch (error) {
      onError(rel, `Cannot read: ${describeError(error)}`);
      complete = false;
    }
  }
  return { dir, entries, complete };
}
