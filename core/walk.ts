/**
 * Reading a {@linkcode Tree}'s directories: {@linkcode readDirectory}, the one directory reader
 * of the transfer walk and of the admin operations (`core/admin/`), and {@linkcode walkTree}, the
 * SOURCE side's enumeration: a depth-first walk that yields one group per directory.
 *
 * @module
 */

import { describeError } from "./errors.ts";
import type { EntryFilter } from "./filter.ts";
import {
  type DirItem,
  isTemporaryName,
  type StatManyOptions,
  type Tree,
  type TreeDir,
} from "./tree.ts";
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
  /**
   * With `oneFileSystem`: the directories of `entries` on another file system than the walk's
   * root (mount points). They are announced but never entered, so no group of theirs follows:
   * a destination creates them empty and keeps whatever it holds under them. Absent when none.
   */
  mountPoints?: string[];
}

/** Options for {@linkcode walkTree}. */
export interface WalkOptions {
  /** Which entries take part; excluded directories are not entered. */
  filter: EntryFilter;
  /** Called for every entry or directory that cannot be read. */
  onError: (path: string, message: string) => void;
  /** Stops the walk between directories. */
  signal?: AbortSignal;
  /**
   * Do not enter directories on another file system than the root's (`-x`): their device id
   * (from the `lstat` the walk makes anyway) differs from the root directory's. Such a
   * directory is still an entry of its parent's group, listed in its `mountPoints`; it is not a
   * failure and leaves the group complete. Needs a tree whose handles tell devices
   * (`device` and `statMany`, as both of blit's trees do); others are walked whole.
   * @default {false}
   */
  oneFileSystem?: boolean;
  /**
   * Keep the entries' numeric owners (`uid`, `gid`, read by the same `lstat`); otherwise they
   * are cleared, so that they never travel.
   * @default {false}
   */
  keepOwner?: boolean;
  /**
   * Find hard links (`-H`): a regular file with more than one name whose device and inode an
   * earlier file of the walk had gets that file's path as its `hardLink` (read from the same
   * `lstat`). Needs a tree whose handles tell devices and inodes (`statMany`, as both of blit's
   * trees do); others are walked without.
   * @default {false}
   */
  hardLinks?: boolean;
}

/** Options for {@linkcode readDirectory}. */
export interface ReadDirectoryOptions {
  /**
   * Keep blit's temporary siblings (in-flight and partial files, see `isTemporaryName`).
   * @default {false}
   */
  temporaries?: boolean;
  /**
   * Refuse a directory holding more names than this (temporaries included), before sorting.
   * @default {Infinity}
   */
  maxNames?: number;
}

/** A directory opened and read by {@linkcode readDirectory}. */
export interface DirectoryListing {
  /** The open directory: stat, read or remove its entries by name. */
  handle: TreeDir;
  /** Its names with the kinds `readdir` reports, sorted by name (UTF-16 code units). */
  items: DirItem[];
}

function byName(a: DirItem, b: DirItem): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Opens a directory of a tree and reads its names: the one directory reader of the transfer walk
 * and of the admin operations. The directory is opened strictly with {@linkcode Tree.dir} (in a
 * contained tree, a link on the way is refused, never followed); blit's temporaries are left out
 * unless asked for; the names are sorted by UTF-16 code units. Nothing is `lstat`ed: the caller
 * reads the facts it needs through `handle`, one entry at a time.
 *
 * Requires `--allow-read` for the tree.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * import { PlainTree, TEMP_PREFIX } from "./tree.ts";
 * import { readDirectory } from "./walk.ts";
 * const root = Deno.makeTempDirSync();
 * for (const name of ["b.txt", "a.txt", `${TEMP_PREFIX}1-c.txt`]) {
 *   Deno.writeTextFileSync(`${root}/${name}`, "");
 * }
 * const tree = new PlainTree(root);
 * const { handle, items } = readDirectory(tree, "");
 * assertEquals(items.map((item) => item.name), ["a.txt", "b.txt"]);
 * assertEquals(handle.stat("a.txt")?.kind, "file");
 * assertEquals(readDirectory(tree, "", { temporaries: true }).items.length, 3);
 * Deno.removeSync(root, { recursive: true });
 * ```
 *
 * @param tree The tree.
 * @param rel Relative path of the directory (`""` for the tree's root).
 * @param options Whether temporaries are kept, and the most names accepted.
 * @throws {RangeError} When the directory holds more than `maxNames` names.
 * @throws {Deno.errors.NotFound} When the directory does not exist.
 * @throws {Deno.errors.NotADirectory} When a component is not a directory.
 * @throws {PathEscapeError} In a contained tree, when a component is a symbolic link.
 * @returns The open directory and its sorted names.
 */
export function readDirectory(
  tree: Tree,
  rel: string,
  options: ReadDirectoryOptions = {},
): DirectoryListing {
  const { temporaries = false, maxNames = Infinity } = options;
  const handle = tree.dir(rel);
  const items = handle.list();
  if (items.length > maxNames) {
    throw new RangeError(`Cannot read a directory of more than ${maxNames} entries`);
  }
  if (!temporaries) {
    // In place: the transfer walk reads every directory of a copy through here.
    let kept = 0;
    for (const item of items) {
      if (!isTemporaryName(item.name)) items[kept++] = item;
    }
    items.length = kept;
  }
  return { handle, items: items.sort(byName) };
}

/**
 * Walks a tree depth first from its root and yields one {@linkcode WalkGroup} per directory,
 * parents before children. Symlinks are reported, never followed; a directory is entered through
 * a fresh `tree.dir()` handle (a contained tree refuses one that became a link meanwhile).
 * Entries other than files, directories and links (sockets, FIFOs, devices) are skipped with an
 * error, which makes the group incomplete. Temporary siblings of blit runs are skipped. With
 * `oneFileSystem`, directories on another file system than the root's are not entered (see
 * {@linkcode WalkGroup.mountPoints}).
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
 * @param options Filter, error sink, abort signal, and whether to stay on one file system.
 * @returns The groups, lazily.
 */
export async function* walkTree(tree: Tree, options: WalkOptions): AsyncGenerator<WalkGroup> {
  const { signal } = options;
  const devices: DeviceRule | null = options.oneFileSystem ? { root: NaN, found: [] } : null;
  const links: LinkRule | null = options.hardLinks
    ? { firstNames: new Map(), devices: [], inodes: [] }
    : null;
  const stack: string[] = [""];
  while (stack.length > 0) {
    if (signal?.aborted) return;
    const dir = stack.pop() as string;
    const group = listGroup(tree, dir, options, devices, links);
    yield group;
    const stayOut = group.mountPoints;
    for (let i = group.entries.length - 1; i >= 0; i--) {
      const entry = group.entries[i] as Entry;
      if (entry.kind !== "dir") continue;
      if (stayOut !== undefined && stayOut.includes(entry.path)) continue;
      stack.push(entry.path);
    }
  }
}

/** The device check of a walk that stays on one file system. */
interface DeviceRule {
  /** The root directory's device id (`NaN` until the root is listed, or when unknown). */
  root: number;
  /** Scratch: the device ids of the entries of the directory being read. */
  found: number[];
}

/** The hard-link detection of a walk that keeps hard links. */
interface LinkRule {
  /** `device:inode` of each file with several names met so far → the path it was first met at. */
  firstNames: Map<string, string>;
  /** Scratch: the device ids of the entries of the directory being read. */
  devices: number[];
  /** Scratch: their shared inodes (`NaN`: not a file with several names). */
  inodes: number[];
}

/** Gives `entry` the path of an earlier name of the same file, or makes it the first name. */
function noteHardLink(links: LinkRule, entry: Entry, device: number, inode: number): void {
  if (Number.isNaN(inode) || Number.isNaN(device)) return;
  const key = `${device}:${inode}`;
  const first = links.firstNames.get(key);
  if (first === undefined) links.firstNames.set(key, entry.path);
  else entry.hardLink = first;
}

function listGroup(
  tree: Tree,
  dir: string,
  options: WalkOptions,
  devices: DeviceRule | null,
  links: LinkRule | null,
): WalkGroup {
  const { filter, onError } = options;
  let listing;
  try {
    listing = readDirectory(tree, dir);
    if (devices !== null && dir === "") devices.root = listing.handle.device?.() ?? NaN;
  } catch (error) {
    onError(dir === "" ? "." : dir, `Cannot list directory: ${describeError(error)}`);
    return { dir, entries: [], complete: false };
  }
  const { handle, items } = listing;
  const entries: Entry[] = [];
  const prefix = dir === "" ? "" : `${dir}/`;
  let complete = true;
  const wanted: string[] = [];
  for (const item of items) {
    const rel = prefix + item.name;
    if (!filter(rel, item.isDirectory)) continue;
    if (!item.isFile && !item.isDirectory && !item.isSymlink) {
      onError(rel, "Cannot copy a special file (socket, fifo or device): skipped");
      complete = false;
      continue;
    }
    wanted.push(item.name);
  }
  // All at once when the tree can (a contained tree then checks the directory once).
  const deviceSink = devices !== null && !Number.isNaN(devices.root) ? devices.found : undefined;
  const statOptions: StatManyOptions = {};
  if (deviceSink !== undefined) statOptions.devices = deviceSink;
  if (links !== null) {
    statOptions.devices ??= links.devices;
    statOptions.inodes = links.inodes;
  }
  let facts: ReturnType<NonNullable<typeof handle.statMany>> | null;
  try {
    facts = handle.statMany?.(wanted, statOptions) ?? null;
  } catch (error) {
    onError(dir === "" ? "." : dir, `Cannot list directory: ${describeError(error)}`);
    return { dir, entries: [], complete: false };
  }
  let mountPoints: string[] | undefined;
  for (const [i, name] of wanted.entries()) {
    const rel = prefix + name;
    try {
      const found = facts === null ? handle.stat(name) : facts[i];
      if (found instanceof Error) throw found;
      const info = found ?? null;
      if (info === null) continue; // gone since the listing
      if (info.kind === "other") {
        onError(rel, "Cannot copy a special file (socket, fifo or device): skipped");
        complete = false;
        continue;
      }
      // The facts object becomes the entry: `entryInfoOf` made it with a `path` slot.
      const entry = info as Entry;
      entry.path = rel;
      if (!options.keepOwner) entry.uid = entry.gid = undefined;
      if (links !== null && facts !== null && entry.kind === "file") {
        noteHardLink(links, entry, statOptions.devices?.[i] ?? NaN, links.inodes[i] ?? NaN);
      }
      entries.push(entry);
      if (entry.kind === "dir" && facts !== null && deviceSink !== undefined) {
        const device = deviceSink[i];
        if (device !== undefined && !Number.isNaN(device) && device !== devices?.root) {
          (mountPoints ??= []).push(rel);
        }
      }
    } catch (error) {
      onError(rel, `Cannot read: ${describeError(error)}`);
      complete = false;
    }
  }
  return mountPoints === undefined
    ? { dir, entries, complete }
    : { dir, entries, complete, mountPoints };
}
