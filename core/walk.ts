/**
 * The SOURCE side's enumeration: a depth-first walk that yields one group per directory.
 *
 * @module
 */

import { describeError } from "./errors.ts";
import type { EntryFilter } from "./filter.ts";
import type { Entry } from "./types.ts";

/**
 * One directory of the source manifest: the directory's relative path and its children, sorted
 * by name. The DESTINATION can decide what to delete in `dir` from `entries` alone, provided
 * `complete` is true.
 */
export interface ManifestGroup {
  /** Relative path of the directory (`""` for the transfer root). */
  dir: string;
  /** The children of `dir` that passed the filter, sorted by name. */
  entries: Entry[];
  /** False when the directory could not be listed completely. */
  complete: boolean;
}

/** Prefix of the temporary siblings blit writes before renaming into place. */
export const TEMP_PREFIX = ".blit-tmp-";

/** Options for {@linkcode walkTree}. */
export interface WalkOptions {
  /** Which entries take part; excluded directories are not entered. */
  filter: EntryFilter;
  /** Called for every entry or directory that cannot be read. */
  onError: (path: string, message: string) => void;
  /** Stops the walk between directories. */
  signal?: AbortSignal;
}

/**
 * Reads the facts of one path without following a final symlink.
 *
 * @param absPath Absolute path.
 * @param rel The entry's relative path in the manifest.
 * @returns The manifest entry.
 */
export function statEntry(absPath: string, rel: string): Entry {
  const info = Deno.lstatSync(absPath);
  const mtimeMs = info.mtime?.getTime() ?? 0;
  const mode = (info.mode ?? 0o644) & 0o7777;
  if (info.isSymlink) {
    const target = Deno.readLinkSync(absPath);
    return { path: rel, kind: "symlink", size: target.length, mtimeMs, mode, linkTarget: target };
  }
  if (info.isDirectory) return { path: rel, kind: "dir", size: 0, mtimeMs, mode };
  return { path: rel, kind: "file", size: info.size, mtimeMs, mode };
}

function byName(a: Deno.DirEntry, b: Deno.DirEntry): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Walks the directory `root` depth first and yields one {@linkcode ManifestGroup} per directory,
 * parents before children. Symlinks are reported, never followed. Entries other than files,
 * directories and links (sockets, fifos, devices) are skipped with an error. Temporary siblings
 * left by an interrupted blit run are skipped.
 *
 * @param root Absolute path of the source directory.
 * @param options Filter, error sink and abort signal.
 * @returns The groups, lazily.
 */
export async function* walkTree(root: string, options: WalkOptions): AsyncGenerator<ManifestGroup> {
  const { filter, onError, signal } = options;
  const stack: string[] = [""];
  while (stack.length > 0) {
    if (signal?.aborted) return;
    const dir = stack.pop() as string;
    const absDir = dir === "" ? root : `${root}/${dir}`;
    let names: Deno.DirEntry[];
    let complete = true;
    try {
      names = Array.from(Deno.readDirSync(absDir)).sort(byName);
    } catch (error) {
      onError(dir === "" ? "." : dir, `Cannot list directory: ${describeError(error)}`);
      yield { dir, entries: [], complete: false };
      continue;
    }
    const entries: Entry[] = [];
    const subdirs: string[] = [];
    for (const item of names) {
      if (item.name.startsWith(TEMP_PREFIX)) continue;
      const rel = dir === "" ? item.name : `${dir}/${item.name}`;
      if (!filter(rel, item.isDirectory)) continue;
      if (!item.isFile && !item.isDirectory && !item.isSymlink) {
        onError(rel, "Cannot copy a special file (socket, fifo or device): skipped");
        complete = false;
        continue;
      }
      try {
        const entry = statEntry(`${absDir}/${item.name}`, rel);
        entries.push(entry);
        if (entry.kind === "dir") subdirs.push(rel);
      } catch (error) {
        onError(rel, `Cannot read: ${describeError(error)}`);
        complete = false;
      }
    }
    yield { dir, entries, complete };
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i] as string);
  }
}
