/**
 * The file tree interface of the engine (rclone's `Fs` idea, reduced to what blit needs), with two
 * implementations:
 *
 * - {@linkcode PlainTree}: a local directory used as it is. The CLI's trees on a local→local run.
 * - `ContainedTree` (`core/contained_tree.ts`): a directory that confines every path to itself. Every daemon
 *   module, and the destination of a pull (entries come from a peer), is one. It opens a
 *   directory only when each component below the root is a real directory (a symbolic link on
 *   the way is refused, never followed), checks every name it is given, and words its errors with
 *   tree-relative paths so that a peer never learns where the tree lives.
 *
 * Work happens through {@linkcode TreeDir} handles: a handle is a directory checked once when it
 * is opened (as `openat(2)`-style APIs would hold it), and every operation names one entry of it.
 * Containment is then a property of the handle, not a check each caller must remember. Deno has
 * no `openat`, so a handle holds a checked path: a local user who swaps a directory for a link
 * between the check and the use can race it (see `core/paths.ts` and the README).
 *
 * @example Usage
 * ```ts ignore
 * import { PlainTree } from "./tree.ts";
 * const tree = new PlainTree("/backup");
 * const photos = tree.dir("photos");
 * for (const item of photos.list()) console.log(item.name, item.kind);
 * ```
 *
 * @module
 */

import { finishBeforeExit } from "./pending_work.ts";
import type { EntryInfo, StatKind } from "./types.ts";

/** Prefix of the temporary siblings blit writes before renaming into place. */
export const TEMP_PREFIX = ".blit-tmp-";

/**
 * Prefix of a large file's temporary sibling that an interrupted run leaves for the next one to
 * resume: `.blit-partial-<source size>-<source mtime ms>-<token>-<name>` (numbers in base 36).
 */
export const PARTIAL_PREFIX = ".blit-partial-";

/** The source version a partial file belongs to. */
export interface PartialTag {
  /** The source file's size. */
  size: number;
  /** The source file's modification time, in whole milliseconds. */
  mtimeMs: number;
}

/**
 * Whether a name is one of blit's temporaries (in flight, stale, or a partial file): never a
 * transfer's entry, never a mirror's deletion.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { isTemporaryName } from "./tree.ts";
 * strictEqual(isTemporaryName(".blit-tmp-1-2-a"), true);
 * strictEqual(isTemporaryName(".blit-partial-1-2-abcdef-a"), true);
 * strictEqual(isTemporaryName("a"), false);
 * ```
 *
 * @param name A directory entry's name.
 * @returns `true` for a temporary.
 */
export function isTemporaryName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX) || name.startsWith(PARTIAL_PREFIX);
}

const PARTIAL_NAME_REGEXP =
  /^\.blit-partial-([0-9a-z]{1,11})-([0-9a-z]{1,11})-([0-9a-z]{6})-(.+)$/s;

/**
 * The name of a new resumable temporary for `name` and the source version `tag`, or `null` when
 * it would be longer than a file name may be (or the time is before 1970).
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { parsePartialName, partialName } from "./tree.ts";
 * const partial = partialName("disk.img", { size: 123, mtimeMs: 456 }) as string;
 * deepStrictEqual(parsePartialName(partial), { name: "disk.img", size: 123, mtimeMs: 456 });
 * ```
 *
 * @param name The final name.
 * @param tag The source's size and mtime.
 * @returns The partial name, or `null`.
 */
export function partialName(name: string, tag: PartialTag): string | null {
  const mtime = Math.floor(tag.mtimeMs);
  if (!Number.isSafeInteger(tag.size) || tag.size < 0 || !(mtime >= 0)) return null;
  const token = Math.floor(Math.random() * 36 ** 6).toString(36).padStart(6, "0");
  const partial = `${PARTIAL_PREFIX}${tag.size.toString(36)}-${
    mtime.toString(36)
  }-${token}-${name}`;
  return new TextEncoder().encode(partial).length <= 255 ? partial : null;
}

/**
 * The name of a new temporary sibling for `name`: a partial name for the source version `tag`
 * when one is given and fits (see {@linkcode partialName}), else an ordinary one.
 *
 * @example Usage
 * ```ts
 * import { ok, strictEqual } from "node:assert/strict";
 * import { PARTIAL_PREFIX, TEMP_PREFIX, temporaryName } from "./tree.ts";
 * ok(temporaryName("a", { size: 1, mtimeMs: 2 }).name.startsWith(PARTIAL_PREFIX));
 * ok(temporaryName("a").name.startsWith(TEMP_PREFIX));
 * strictEqual(temporaryName("a").partial, false);
 * ```
 *
 * @param name The final name.
 * @param tag The source version, for a resumable temporary.
 * @returns The name, and whether it is a partial name.
 */
export function temporaryName(name: string, tag?: PartialTag): { name: string; partial: boolean } {
  const partial = tag ? partialName(name, tag) : null;
  return partial === null
    ? { name: tempName(name), partial: false }
    : { name: partial, partial: true };
}

/**
 * Reads a partial file's name: the final name and the source version it belongs to.
 * @param partial A name starting with {@linkcode PARTIAL_PREFIX}.
 * @returns Its parts, or `null` when it is not a partial name.
 */
export function parsePartialName(partial: string): ({ name: string } & PartialTag) | null {
  const match = PARTIAL_NAME_REGEXP.exec(partial);
  if (!match) return null;
  const size = parseInt(match[1]!, 36);
  const mtimeMs = parseInt(match[2]!, 36);
  if (!Number.isSafeInteger(size) || !Number.isSafeInteger(mtimeMs)) return null;
  return { name: match[4]!, size, mtimeMs };
}

/** What {@linkcode TreeDir.inspectTemporary} tells of a temporary. */
export interface TemporaryFacts {
  /** A regular file (else a link or something else: never opened). */
  isFile: boolean;
  /** Its size. */
  size: number;
  /** Its own modification time (its last write). */
  mtimeMs: number;
  /** A running blit holds it (an exclusive lock on the open file): it is in flight. */
  locked: boolean;
}

/** What a tree can do besides the common operations. */
export interface TreeCapabilities {
  /** The tree can create symbolic links (Deno's sandbox forbids it without unscoped write). */
  readonly symlinks: boolean;
  /**
   * Entries are plain local paths that another thread of this process may open directly (the
   * copy workers and the destination look-ahead use them).
   */
  readonly localPaths: boolean;
}

/** One name of a directory listing, with the kind `readdir` reports (no `lstat`). */
export interface DirItem {
  /** The entry's name. */
  readonly name: string;
  /** A regular file. */
  readonly isFile: boolean;
  /** A directory. */
  readonly isDirectory: boolean;
  /** A symbolic link (none of the three: a socket, FIFO or device). */
  readonly isSymlink: boolean;
}

/**
 * The kind of a listed name.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { kindOfItem } from "./tree.ts";
 * strictEqual(kindOfItem({ name: "a", isFile: false, isDirectory: true, isSymlink: false }), "dir");
 * ```
 *
 * @param item A listed name.
 * @returns Its kind; `other` for sockets, FIFOs and devices.
 */
export function kindOfItem(item: DirItem): StatKind {
  return item.isFile ? "file" : item.isDirectory ? "dir" : item.isSymlink ? "symlink" : "other";
}

/** An old version moved to a temporary name by {@linkcode TreeDir.setAside}. */
export interface SetAside {
  /**
   * Gives it its name back (the rename that was to replace it failed); when another entry took
   * the name meanwhile, it stays under its temporary name (the next run removes it).
   */
  putBack(): void;
  /** Removes it, asynchronously (on an I/O thread); errors are ignored. */
  release(): Promise<void>;
  /** Removes it on this thread (a worker's); errors are ignored. */
  releaseSync(): void;
}

/**
 * Renames the regular file `path` to `aside` (a temporary name beside it; see
 * {@linkcode TreeDir.setAside}), and checks what was renamed (see
 * {@linkcode setAsideFound}).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { setAsideAt } from "./tree.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/f`, "old");
 * const old = setAsideAt(`${dir}/f`, `${dir}/f.aside`);
 * strictEqual(Deno.readTextFileSync(`${dir}/f.aside`), "old");
 * old.putBack();
 * strictEqual(Deno.readTextFileSync(`${dir}/f`), "old");
 * Deno.removeSync(dir, { recursive: true });
 * ```
 *
 * @param path The file.
 * @param aside Its temporary name.
 * @returns How to put it back or remove it.
 * @throws {Error} When it cannot be renamed, or it is not a regular file.
 */
export function setAsideAt(path: string, aside: string): SetAside {
  Deno.renameSync(path, aside);
  return setAsideFound(aside, path, lstatOrNull(aside));
}

/**
 * What was renamed from `path` to `aside`, found there as `moved`: a regular file is set aside;
 * anything else (the entry changed since it was seen) is renamed back and refused.
 *
 * @example Usage
 * ```ts
 * import { strictEqual, throws } from "node:assert/strict";
 * import { setAsideFound } from "./tree.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${dir}/d.aside`);
 * throws(() => setAsideFound(`${dir}/d.aside`, `${dir}/d`, Deno.lstatSync(`${dir}/d.aside`)));
 * strictEqual(Deno.statSync(`${dir}/d`).isDirectory, true);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 *
 * @param aside Its temporary name.
 * @param path Its name.
 * @param moved What `lstat` shows at `aside`.
 * @param beforeRelease Runs right before the removal; when it throws, the file stays as it is.
 * @returns How to put it back or remove it.
 * @throws {Error} When it is not a regular file.
 */
export function setAsideFound(
  aside: string,
  path: string,
  moved: Deno.FileInfo | null,
  beforeRelease?: () => void,
): SetAside {
  if (moved === null || !moved.isFile) {
    try {
      Deno.renameSync(aside, path); // a directory cannot be linked back
    } catch { /* it stays under its temporary name */ }
    throw new Deno.errors.InvalidData("Cannot set aside an entry that is not a regular file");
  }
  return {
    putBack: () => putBackAt(aside, path),
    // Finished before a command ends its process (pending_work.ts).
    release: () =>
      finishBeforeExit((async () => {
        try {
          beforeRelease?.();
          await Deno.remove(aside);
        } catch { /* left under its temporary name: the next run removes it */ }
      })()),
    releaseSync: () => {
      try {
        beforeRelease?.();
        Deno.removeSync(aside);
      } catch { /* left under its temporary name: the next run removes it */ }
    },
  };
}

/**
 * Renames a new version into place with the old version set aside first (see
 * {@linkcode TreeDir.setAside}): when the rename fails, the old version gets its name back. The
 * one rule for every writer that replaces a large file; the caller then releases what it returns.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { renameSettingAside, setAsideAt } from "./tree.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/f`, "old");
 * Deno.writeTextFileSync(`${dir}/t`, "new");
 * const old = renameSettingAside(
 *   () => setAsideAt(`${dir}/f`, `${dir}/f.aside`),
 *   () => Deno.renameSync(`${dir}/t`, `${dir}/f`),
 * );
 * old?.releaseSync();
 * strictEqual(Deno.readTextFileSync(`${dir}/f`), "new");
 * strictEqual([...Deno.readDirSync(dir)].length, 1);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 *
 * @param setAside Sets the old version aside, or returns `null` (nothing to set aside, or it
 *   could not be: the rename then replaces it as usual).
 * @param rename Renames the new version into place.
 * @returns The old version set aside, to release, or `null`.
 * @throws What `rename` throws, once the old version is put back.
 */
export function renameSettingAside(
  setAside: () => SetAside | null,
  rename: () => void,
): SetAside | null {
  const old = setAside();
  try {
    rename();
  } catch (error) {
    old?.putBack();
    throw error;
  }
  return old;
}

/** Links `aside` back as `path` unless `path` was taken meanwhile (a link never replaces). */
function putBackAt(aside: string, path: string): void {
  try {
    Deno.linkSync(aside, path);
    Deno.removeSync(aside);
  } catch { /* it stays under its temporary name: kept, not lost */ }
}

/**
 * A temporary sibling created for writing; rename it into place or remove it. It is locked
 * (exclusively) while open, so that no other run takes it for stale.
 */
export interface TempFile {
  /** Its name in the directory. */
  readonly name: string;
  /** The open file (write access). */
  readonly file: Deno.FsFile;
  /** It has a partial name: an interrupted write may leave it for the next run to resume. */
  readonly partial: boolean;
}

/**
 * A directory of a tree, checked when it was opened. Every method takes a single entry name
 * (no `/`); `""` names the directory itself where a method says so.
 */
export interface TreeDir {
  /** Path of the directory relative to its tree (`""` for the tree root). */
  readonly rel: string;
  /**
   * Lists the names in the directory (temporaries included), without `lstat`.
   * @throws {Deno.errors.NotFound} When the directory is gone.
   */
  list(): DirItem[];
  /**
   * Reads an entry's facts without following a final link (`""`: the directory itself).
   * @returns The facts, or `null` when the entry does not exist.
   */
  stat(name: string): EntryInfo | null;
  /**
   * Reads the facts of many entries at once, as {@linkcode TreeDir.stat} would one by one (a
   * contained tree checks the directory once for the whole batch, not once per entry).
   * @param names The entries' names.
   * @param options Where to put each entry's device id, read from the same `lstat`.
   * @returns Per name: the facts, `null` when it does not exist, or the error reading it.
   */
  statMany?(names: readonly string[], options?: StatManyOptions): (EntryInfo | null | Error)[];
  /**
   * The device id of this directory (`Deno.FileInfo.dev`): a contained tree's as it was
   * verified; a plain tree's read with one `stat`.
   */
  device?(): number;
  /** Reads a symbolic link's target. */
  readLink(name: string): string;
  /**
   * Opens a regular file for reading; refuses a link or anything that is not a regular file.
   * @throws {Deno.errors.InvalidData} When the entry is not a regular file.
   */
  openRead(name: string): Deno.FsFile;
  /**
   * Creates a new temporary sibling for `name` (exclusive create, never through a link) and
   * locks it. With `partial`, it gets a partial name (see {@linkcode partialName}) when one fits.
   * @param name The final name the temporary stands for.
   * @param mode Permission bits to create it with (the umask applies).
   * @param options The source version, for a resumable temporary.
   */
  createTemp(name: string, mode: number, options?: { partial?: PartialTag }): TempFile;
  /**
   * Looks at a temporary without following a link: its size, its mtime, and whether a running
   * blit holds its lock.
   * @returns The facts, or `null` when it is gone.
   */
  inspectTemporary(name: string): TemporaryFacts | null;
  /** Renames `from` to `to` inside this directory, replacing `to` (a file or link). */
  rename(from: string, to: string): void;
  /** Removes an entry (a directory only when empty unless `recursive`). */
  remove(name: string, options?: { recursive?: boolean }): void;
  /** Creates a directory (not recursive). */
  mkdir(name: string, mode: number): void;
  /** Creates a symbolic link `name` → `target`. */
  symlink(target: string, name: string): void;
  /** Sets an entry's modification (and access) time (`""`: the directory itself). */
  setTimes(name: string, mtimeMs: number): void;
  /** Sets an entry's permission bits (`""`: the directory itself). */
  setMode(name: string, mode: number): void;
  /**
   * Sets an entry's numeric owner and group (`""`: the directory itself; needs root). Set it
   * before the mode: a change of owner clears setuid and setgid bits.
   */
  setOwner?(name: string, owner: EntryOwner): void;
  /**
   * The local path of an entry, for the copy workers and hashers of a tree with
   * `caps.localPaths`; `null` otherwise.
   */
  localPath(name: string): string | null;
  /**
   * Renames the file `name` to a temporary name and returns it, right before a new version is
   * renamed to `name`. Two costs of replacing a large file leave the calling thread this way:
   * the rename that drops a file's last name frees its blocks on the spot (~0.35 s per GiB
   * here), and ext4 starts writing back a file renamed over another (`auto_da_alloc`: ~0.16 s
   * for 1 GiB just written). The rename into a free name does neither; `release` then frees the
   * old version on an I/O thread. Between the two renames the name is briefly absent. Absent:
   * the tree cannot.
   * @param name The entry (a regular file; a link is not followed).
   * @throws {Error} When it cannot be renamed, or it is not a regular file.
   */
  setAside?(name: string): SetAside;
  /**
   * Where a writer thread may put a new file `name` (through its temporary sibling): the paths,
   * and the identities of the directory and its parent when the tree checks them. The writer
   * checks both right before its create and the directory again right before its rename, as
   * {@linkcode TreeDir.createTemp} and {@linkcode TreeDir.rename} do. `null` (or no method):
   * write through {@linkcode TreeDir.createTemp} on this thread.
   */
  writeTarget?(name: string): WriteTarget | null;
  /** A writer thread replaced `name` (what was seen under it is forgotten). */
  landed?(name: string): void;
  /**
   * Gives the entry `name` (a file or a link, never followed) a second name `as` in the
   * directory `into` (a handle of the same tree, this one included), replacing a file or link of
   * that name there, while `name` keeps its own: a backup that never leaves `name` missing. The
   * link is made under a temporary name and renamed to `as`. Absent: the tree cannot.
   * @throws {Error} When it cannot be linked (a directory, no hard links, another tree).
   */
  linkInto?(name: string, into: TreeDir, as: string): void;
  /**
   * Moves the entry `name` (of any kind) to `as` in the directory `into` (a handle of the same
   * tree, this one included), replacing a file or link of that name there. Absent: the tree
   * cannot.
   * @throws {Error} When it cannot be moved (`as` is a directory, another tree).
   */
  moveInto?(name: string, into: TreeDir, as: string): void;
}

/** A numeric owner and group to give an entry (either may be absent: left as it is). */
export interface EntryOwner {
  /** Numeric user id. */
  uid?: number;
  /** Numeric group id. */
  gid?: number;
}

/** Options of {@linkcode TreeDir.statMany}. */
export interface StatManyOptions {
  /**
   * Receives each entry's device id at the entry's index (`NaN` where nothing was read): what
   * `--one-file-system` compares, at no extra system call.
   */
  devices?: number[];
  /**
   * Receives the inode number of each regular file with more than one name (`nlink > 1`) at
   * its index, `NaN` for every other entry: with `devices`, what hard-link detection (`-H`)
   * groups by, at no extra system call.
   */
  inodes?: number[];
}

/**
 * The inode of a regular file with more than one name, else `NaN` (see
 * {@linkcode StatManyOptions.inodes}).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { sharedInode } from "./tree.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/a`, "x");
 * strictEqual(Number.isNaN(sharedInode(Deno.lstatSync(`${dir}/a`))), true);
 * Deno.linkSync(`${dir}/a`, `${dir}/b`);
 * strictEqual(sharedInode(Deno.lstatSync(`${dir}/b`)), Deno.lstatSync(`${dir}/a`).ino);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 *
 * @param info From `lstat`.
 * @returns The inode number, or `NaN`.
 */
export function sharedInode(info: Deno.FileInfo): number {
  return info.isFile && (info.nlink ?? 1) > 1 && info.ino !== null ? info.ino : NaN;
}

/** See {@linkcode TreeDir.writeTarget}. */
export interface WriteTarget {
  /** Local path of the temporary sibling. */
  tmp: string;
  /** Local path of the final name. */
  dst: string;
  /**
   * The directory to check (and its parent) before the create, and the directory again before
   * the rename; absent: not checked.
   */
  dir?: DirIdentity & { parent?: DirIdentity };
}

/** A directory's local path and its device and inode when it was verified. */
export interface DirIdentity {
  /** Local path. */
  path: string;
  /** Device. */
  dev: number;
  /** Inode. */
  ino: number;
}

/** A file tree the engine reads and writes. */
export interface Tree {
  /** What the tree can do. */
  readonly caps: TreeCapabilities;
  /**
   * Opens a directory of the tree.
   * @param rel Relative POSIX path (`""` for the root).
   * @throws {Deno.errors.NotFound} When it does not exist.
   * @throws {Deno.errors.NotADirectory} When a component is not a directory.
   * @throws {PathEscapeError} In a contained tree, when a component is a symbolic link.
   */
  dir(rel: string): TreeDir;
  /**
   * Creates `rel` and its missing parents as directories. For paths a user or an administrator
   * named: in a contained tree, links on the way are followed while they stay inside it.
   * @param rel Relative POSIX path.
   * @param mode Permission bits of the created directories.
   */
  mkdirAll(rel: string, mode?: number): void;
  /**
   * What is at a path a user named: whether anything exists there (`lstat`) and whether it is a
   * directory (following links; in a contained tree, only links that stay inside it).
   * @param rel Relative POSIX path.
   * @returns The two facts.
   */
  probe(rel: string): { exists: boolean; isDirectory: boolean };
  /**
   * A tree rooted at the directory `rel` of this one (links on the way followed; in a contained
   * tree only while they stay inside it), with the same capabilities. For the paths a user
   * named, once per session.
   * @throws {Deno.errors.NotFound} In a contained tree, when `rel` does not exist.
   */
  sub(rel: string): Tree;
  /** The local path of an entry when `caps.localPaths`, else `null`. */
  localPath(rel: string): string | null;
}

/**
 * {@linkcode TreeDir.inspectTemporary} at a local path: `lstat`, then, for a regular file, an
 * attempt at its lock (released at once).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { inspectTemporaryAt } from "./tree.ts";
 * const path = await Deno.makeTempFile();
 * using held = await Deno.open(path, { write: true });
 * held.lockSync(true);
 * strictEqual(inspectTemporaryAt(path)?.locked, true);
 * held.unlockSync();
 * strictEqual(inspectTemporaryAt(path)?.locked, false);
 * await Deno.remove(path);
 * ```
 *
 * @param path The temporary's local path.
 * @returns The facts, or `null` when it is gone.
 */
export function inspectTemporaryAt(path: string): TemporaryFacts | null {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  const facts = { size: info.size, mtimeMs: info.mtime?.getTime() ?? 0 };
  if (!info.isFile) return { isFile: false, locked: false, ...facts };
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  try {
    const free = file.tryLockSync(true);
    return { isFile: true, locked: !free, ...facts };
  } finally {
    file.close();
  }
}

let tempCounter = 0;

/**
 * The name of a fresh temporary sibling for `name`: the prefix, this process, a counter and the
 * (shortened) name, so that listing a directory tells a temporary from anything else.
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { TEMP_PREFIX, tempName } from "./tree.ts";
 * ok(tempName("a.txt").startsWith(TEMP_PREFIX));
 * ok(tempName("a.txt").endsWith("-a.txt"));
 * ```
 *
 * @param name The final name.
 * @returns A name no other running blit uses.
 */
export function tempName(name: string): string {
  const base = name.length > 150 ? name.slice(0, 150) : name;
  tempCounter = (tempCounter + 1) % 1_000_000_000;
  return `${TEMP_PREFIX}${Deno.pid}-${tempCounter}-${base}`;
}

/**
 * Splits a relative path into its parent directory and its last name.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { splitPath } from "./tree.ts";
 * deepStrictEqual(splitPath("a/b/c"), ["a/b", "c"]);
 * deepStrictEqual(splitPath("c"), ["", "c"]);
 * ```
 *
 * @param rel A relative POSIX path.
 * @returns `[parent, name]`; the parent of a top-level name is `""`.
 */
export function splitPath(rel: string): [string, string] {
  const slash = rel.lastIndexOf("/");
  return slash < 0 ? ["", rel] : [rel.slice(0, slash), rel.slice(slash + 1)];
}

/**
 * Joins two relative POSIX paths, either of which may be `""`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { joinPath } from "./tree.ts";
 * strictEqual(joinPath("a", "b/c"), "a/b/c");
 * strictEqual(joinPath("", "b"), "b");
 * strictEqual(joinPath("a", ""), "a");
 * ```
 *
 * @param a The first path.
 * @param b The second path.
 * @returns The joined path.
 */
export function joinPath(a: string, b: string): string {
  return a === "" ? b : b === "" ? a : `${a}/${b}`;
}

/**
 * Reads the facts the engine keeps from Deno's file information.
 *
 * @param info From `lstat`.
 * @param readLink Reads the link's target when `info` is a link.
 * @returns The facts.
 */
export function entryInfoOf(info: Deno.FileInfo, readLink: () => string): EntryInfo {
  const mtimeMs = info.mtime?.getTime() ?? 0;
  const mode = (info.mode ?? 0o644) & 0o7777;
  const kind = info.isSymlink
    ? "symlink"
    : info.isDirectory
    ? "dir"
    : info.isFile
    ? "file"
    : "other";
  // Every entry of a walk becomes a manifest item: the object is made with their slots (`id`,
  // `path`) already in place, so that filling them in adds no object and no hidden class.
  const facts: EntryInfo & { id: number; path: string } = {
    id: 0,
    path: "",
    kind,
    size: kind === "file" ? info.size : 0,
    mtimeMs,
    mode,
    // Always in place (one shape for every entry); a walk that does not keep owners clears them.
    uid: info.uid ?? undefined,
    gid: info.gid ?? undefined,
  };
  if (kind === "symlink") {
    facts.linkTarget = readLink();
    facts.size = facts.linkTarget.length;
  }
  return facts;
}

function noLink(): string {
  return "";
}

/**
 * `lstat`, or `null` when nothing is there.
 *
 * @param path A local path.
 * @returns The information, or `null`.
 */
export function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * How a local tree's directory handles behave: the one difference between a plain tree and a
 * contained one (`core/contained_tree.ts`).
 */
export interface DirPolicy {
  /** Check names, refuse links where a file or directory is expected, reword errors. */
  readonly strict: boolean;
  /** What the tree can do. */
  readonly caps: TreeCapabilities;
  /** Refuses a name that is not one clean component (strict trees). */
  checkName(name: string): void;
  /** Rewords an error raised at `path` (strict trees hide their location). */
  reword(error: unknown, path: string, rel: string, name: string): unknown;
}

/**
 * The local path of `rel` under `root`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { childPath } from "./tree.ts";
 * strictEqual(childPath("/", "a"), "/a");
 * strictEqual(childPath("/r", ""), "/r");
 * ```
 *
 * @param root A local directory.
 * @param rel A relative POSIX path (`""`: the root).
 * @returns The joined path.
 */
export function childPath(root: string, rel: string): string {
  if (rel === "") return root;
  return root === "/" ? `/${rel}` : `${root}/${rel}`;
}

/**
 * A root path without a trailing slash.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { trimRoot } from "./tree.ts";
 * strictEqual(trimRoot("/a/"), "/a");
 * strictEqual(trimRoot("/"), "/");
 * ```
 *
 * @param root A local directory path.
 * @returns It without a trailing slash.
 */
export function trimRoot(root: string): string {
  return root.length > 1 && root.endsWith("/") ? root.slice(0, -1) : root;
}

/**
 * A directory handle over a checked local path (for tree implementations).
 *
 * @param policy How the handle checks names and words errors.
 * @param rel The directory's path in its tree.
 * @param path Its local path, already checked by the tree.
 * @returns The handle.
 */
export function localDir(policy: DirPolicy, rel: string, path: string): TreeDir {
  return new LocalDir(policy, rel, path);
}

/** A directory handle over a local path, checked by its tree's policy. */
class LocalDir implements TreeDir {
  readonly rel: string;
  readonly #path: string;
  /** `#path` with a final `/`, to append names to. */
  readonly #prefix: string;
  readonly #tree: DirPolicy;
  readonly #strict: boolean;

  constructor(tree: DirPolicy, rel: string, path: string) {
    this.#tree = tree;
    this.#strict = tree.strict;
    this.rel = rel;
    this.#path = path;
    this.#prefix = path === "/" ? "/" : `${path}/`;
  }

  #at(name: string): string {
    if (name === "") return this.#path;
    if (this.#strict) this.#tree.checkName(name);
    return this.#prefix + name;
  }

  #guard<T>(name: string, action: () => T): T {
    try {
      return action();
    } catch (error) {
      throw this.#tree.reword(error, this.#path, this.rel, name);
    }
  }

  list(): DirItem[] {
    // Deno's own entries, as they come (no object per name: this runs for every directory).
    try {
      return Array.from(Deno.readDirSync(this.#path));
    } catch (error) {
      throw this.#tree.reword(error, this.#path, this.rel, "");
    }
  }

  stat(name: string): EntryInfo | null {
    return this.#stat(name, null, null, 0);
  }

  /**
   * `stat`, with the device id put at `devices[index]` and the shared inode (see
   * {@linkcode sharedInode}) at `inodes[index]` when asked for.
   */
  #stat(
    name: string,
    devices: number[] | null,
    inodes: number[] | null,
    index: number,
  ): EntryInfo | null {
    // On the hot path of every walk and plan: kept flat, no closure unless it is a link.
    const path = this.#at(name);
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw this.#tree.reword(error, this.#path, this.rel, name);
    }
    if (devices !== null) devices[index] = info.dev;
    if (inodes !== null) inodes[index] = sharedInode(info);
    try {
      return entryInfoOf(info, info.isSymlink ? () => Deno.readLinkSync(path) : noLink);
    } catch (error) {
      throw this.#tree.reword(error, this.#path, this.rel, name);
    }
  }

  device(): number {
    return this.#guard("", () => Deno.statSync(this.#path).dev);
  }

  readLink(name: string): string {
    const path = this.#at(name);
    return this.#guard(name, () => Deno.readLinkSync(path));
  }

  openRead(name: string): Deno.FsFile {
    const path = this.#at(name);
    return this.#guard(name, () => {
      if (this.#strict && !Deno.lstatSync(path).isFile) {
        throw new Deno.errors.InvalidData(`Cannot read "${name}": not a regular file`);
      }
      const file = Deno.openSync(path, { read: true });
      if (this.#strict && !file.statSync().isFile) {
        file.close();
        throw new Deno.errors.InvalidData(`Cannot read "${name}": not a regular file`);
      }
      return file;
    });
  }

  createTemp(name: string, mode: number, options: { partial?: PartialTag } = {}): TempFile {
    this.#at(name);
    const { name: temp, partial } = temporaryName(name, options.partial);
    const path = this.#at(temp);
    return this.#guard(temp, () => {
      const file = Deno.openSync(path, { write: true, createNew: true, mode });
      file.lockSync(true);
      return { name: temp, file, partial };
    });
  }

  inspectTemporary(name: string): TemporaryFacts | null {
    const path = this.#at(name);
    return this.#guard(name, () => inspectTemporaryAt(path));
  }

  rename(from: string, to: string): void {
    const a = this.#at(from);
    const b = this.#at(to);
    this.#guard(to, () => Deno.renameSync(a, b));
  }

  remove(name: string, options: { recursive?: boolean } = {}): void {
    const path = this.#at(name);
    this.#guard(name, () => Deno.removeSync(path, { recursive: options.recursive ?? false }));
  }

  mkdir(name: string, mode: number): void {
    const path = this.#at(name);
    this.#guard(name, () => Deno.mkdirSync(path, { mode }));
  }

  symlink(target: string, name: string): void {
    const path = this.#at(name);
    this.#guard(name, () => Deno.symlinkSync(target, path));
  }

  setTimes(name: string, mtimeMs: number): void {
    const path = this.#at(name);
    const mtime = new Date(mtimeMs);
    this.#guard(name, () => {
      if (this.#strict && name !== "" && Deno.lstatSync(path).isSymlink) {
        throw new Deno.errors.InvalidData(`Cannot set the time of link "${name}"`);
      }
      Deno.utimeSync(path, mtime, mtime);
    });
  }

  setMode(name: string, mode: number): void {
    const path = this.#at(name);
    this.#guard(name, () => {
      if (this.#strict && name !== "" && Deno.lstatSync(path).isSymlink) {
        throw new Deno.errors.InvalidData(`Cannot set the mode of link "${name}"`);
      }
      Deno.chmodSync(path, mode);
    });
  }

  setOwner(name: string, owner: EntryOwner): void {
    const path = this.#at(name);
    this.#guard(name, () => {
      if (this.#strict && name !== "" && Deno.lstatSync(path).isSymlink) {
        throw new Deno.errors.InvalidData(`Cannot set the owner of link "${name}"`);
      }
      Deno.chownSync(path, owner.uid ?? null, owner.gid ?? null);
    });
  }

  localPath(name: string): string | null {
    return this.#tree.caps.localPaths ? this.#at(name) : null;
  }

  setAside(name: string): SetAside {
    return this.#guard(name, () => setAsideAt(this.#at(name), this.#at(tempName(name))));
  }

  statMany(names: readonly string[], options: StatManyOptions = {}): (EntryInfo | null | Error)[] {
    const devices = options.devices ?? null;
    const inodes = options.inodes ?? null;
    if (devices !== null) devices.length = 0;
    if (inodes !== null) inodes.length = 0;
    return names.map((name, i) => {
      if (devices !== null) devices[i] = NaN;
      if (inodes !== null) inodes[i] = NaN;
      try {
        return this.#stat(name, devices, inodes, i);
      } catch (error) {
        return error instanceof Error ? error : new Error(String(error));
      }
    });
  }

  writeTarget(name: string): WriteTarget | null {
    if (this.#strict) return null;
    return { tmp: this.#at(tempName(name)), dst: this.#at(name) };
  }

  linkInto(name: string, into: TreeDir, as: string): void {
    const target = this.#peer(into);
    const from = this.#at(name);
    const to = target.#at(as);
    const temp = target.#at(tempName(as));
    this.#guard(name, () => {
      Deno.linkSync(from, temp);
      try {
        Deno.renameSync(temp, to);
      } catch (error) {
        try {
          Deno.removeSync(temp);
        } catch { /* already gone */ }
        throw error;
      }
    });
  }

  moveInto(name: string, into: TreeDir, as: string): void {
    const target = this.#peer(into);
    const from = this.#at(name);
    const to = target.#at(as);
    this.#guard(name, () => Deno.renameSync(from, to));
  }

  /** `into` as a handle of this same tree, or a refusal. */
  #peer(into: TreeDir): LocalDir {
    if (!(into instanceof LocalDir) || into.#tree !== this.#tree) {
      throw new Deno.errors.NotSupported(
        "Cannot keep a backup in another tree: backups stay in the destination's own tree",
      );
    }
    return into;
  }
}

/**
 * A local directory used as it is: paths are joined, links are neither checked nor followed on
 * purpose (the engine lists with `lstat` and never opens a link). The CLI's trees on a
 * local→local run.
 *
 * @example Usage
 * ```ts ignore
 * import { PlainTree } from "./tree.ts";
 * const tree = new PlainTree("/home/me/src");
 * console.log(tree.dir("").list().length);
 * ```
 */
export class PlainTree implements Tree {
  /** A plain tree can create links, and its paths are local. */
  readonly caps: TreeCapabilities = { symlinks: true, localPaths: true };
  /** The root's local path. */
  readonly root: string;
  static readonly #policy: DirPolicy = {
    strict: false,
    caps: { symlinks: true, localPaths: true },
    checkName: () => {},
    reword: (error) => error,
  };

  /**
   * Creates a plain tree.
   * @param root Absolute local path of the root directory (it need not exist yet).
   */
  constructor(root: string) {
    this.root = trimRoot(root);
  }

  /** Opens a directory (no checks: a plain tree trusts its paths). */
  dir(rel: string): TreeDir {
    return new LocalDir(PlainTree.#policy, rel, childPath(this.root, rel));
  }

  /** Creates `rel` and its missing parents (`mkdir -p`). */
  mkdirAll(rel: string, mode = 0o777): void {
    Deno.mkdirSync(childPath(this.root, rel), { recursive: true, mode });
  }

  /** A plain tree at the real path of `rel` (or at `rel` itself while it does not exist). */
  sub(rel: string): Tree {
    const path = childPath(this.root, rel);
    let real = path;
    try {
      real = Deno.realPathSync(path);
    } catch { /* not there yet: a dry run plans against nothing */ }
    return new PlainTree(real);
  }

  /** What is at `rel`: `lstat` for existence, `stat` for being a directory. */
  probe(rel: string): { exists: boolean; isDirectory: boolean } {
    const path = childPath(this.root, rel);
    if (lstatOrNull(path) === null) return { exists: false, isDirectory: false };
    try {
      return { exists: true, isDirectory: Deno.statSync(path).isDirectory };
    } catch {
      return { exists: true, isDirectory: false };
    }
  }

  /** The local path of `rel`. */
  localPath(rel: string): string {
    return childPath(this.root, rel);
  }
}

/**
 * A tree with nothing in it and no way to add anything: what a dry run plans against when the
 * destination's directory does not exist yet. Opening anything fails with `NotFound`.
 */
export const ABSENT_TREE: Tree = {
  caps: { symlinks: true, localPaths: false },
  dir(rel: string): TreeDir {
    throw new Deno.errors.NotFound(`Cannot open directory "${rel}": it does not exist`);
  },
  mkdirAll(rel: string): void {
    throw new Deno.errors.NotFound(`Cannot create directory "${rel}" in an absent tree`);
  },
  sub(rel: string): Tree {
    throw new Deno.errors.NotFound(`Cannot open directory "${rel}": it does not exist`);
  },
  probe(): { exists: boolean; isDirectory: boolean } {
    return { exists: false, isDirectory: false };
  },
  localPath(): string | null {
    return null;
  },
};
