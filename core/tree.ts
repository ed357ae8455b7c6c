/**
 * The file tree interface of the engine (rclone's `Fs` idea, reduced to what blit needs), with two
 * implementations:
 *
 * - {@linkcode PlainTree}: a local directory used as it is. The CLI's trees on a local→local run.
 * - {@linkcode ContainedTree}: a directory that confines every path to itself. Every daemon
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

import { describeError } from "./errors.ts";
import { ContainedRoot, PathEscapeError, PathInvalidError, validateWirePath } from "./paths.ts";
import type { EntryInfo, StatKind } from "./types.ts";

/** Prefix of the temporary siblings blit writes before renaming into place. */
export const TEMP_PREFIX = ".blit-tmp-";

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
  name: string;
  /** Its kind; `other` for sockets, FIFOs and devices. */
  kind: StatKind;
}

/** A temporary sibling created for writing; rename it into place or remove it. */
export interface TempFile {
  /** Its name in the directory. */
  readonly name: string;
  /** The open file (write access). */
  readonly file: Deno.FsFile;
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
  /** Reads a symbolic link's target. */
  readLink(name: string): string;
  /**
   * Opens a regular file for reading; refuses a link or anything that is not a regular file.
   * @throws {Deno.errors.InvalidData} When the entry is not a regular file.
   */
  openRead(name: string): Deno.FsFile;
  /**
   * Creates a new temporary sibling for `name` (exclusive create, never through a link).
   * @param name The final name the temporary stands for.
   * @param mode Permission bits to create it with (the umask applies).
   */
  createTemp(name: string, mode: number): TempFile;
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
   * The local path of an entry, for the copy workers and hashers of a tree with
   * `caps.localPaths`; `null` otherwise.
   */
  localPath(name: string): string | null;
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
  if (info.isSymlink) {
    const linkTarget = readLink();
    return { kind: "symlink", size: linkTarget.length, mtimeMs, mode, linkTarget };
  }
  if (info.isDirectory) return { kind: "dir", size: 0, mtimeMs, mode };
  if (info.isFile) return { kind: "file", size: info.size, mtimeMs, mode };
  return { kind: "other", size: 0, mtimeMs, mode };
}

function noLink(): string {
  return "";
}

function kindOfDirEntry(item: Deno.DirEntry): StatKind {
  return item.isFile ? "file" : item.isDirectory ? "dir" : item.isSymlink ? "symlink" : "other";
}

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** A directory handle over a local path; `check` vets names, `wrap` rewords errors. */
class LocalDir implements TreeDir {
  readonly rel: string;
  readonly #path: string;
  readonly #tree: LocalTreeBase;

  constructor(tree: LocalTreeBase, rel: string, path: string) {
    this.#tree = tree;
    this.rel = rel;
    this.#path = path;
  }

  #at(name: string): string {
    if (name === "") return this.#path;
    this.#tree.checkName(name);
    return this.#path === "/" ? `/${name}` : `${this.#path}/${name}`;
  }

  #guard<T>(name: string, action: () => T): T {
    try {
      return action();
    } catch (error) {
      throw this.#tree.reword(error, this.#path, this.rel, name);
    }
  }

  list(): DirItem[] {
    return this.#guard("", () => {
      const items: DirItem[] = [];
      for (const item of Deno.readDirSync(this.#path)) {
        items.push({ name: item.name, kind: kindOfDirEntry(item) });
      }
      return items;
    });
  }

  stat(name: string): EntryInfo | null {
    // On the hot path of every walk and plan: no closure unless the entry is a link.
    const path = this.#at(name);
    try {
      const info = lstatOrNull(path);
      return info && entryInfoOf(info, info.isSymlink ? () => Deno.readLinkSync(path) : noLink);
    } catch (error) {
      throw this.#tree.reword(error, this.#path, this.rel, name);
    }
  }

  readLink(name: string): string {
    const path = this.#at(name);
    return this.#guard(name, () => Deno.readLinkSync(path));
  }

  openRead(name: string): Deno.FsFile {
    const path = this.#at(name);
    return this.#guard(name, () => {
      if (this.#tree.strict && !Deno.lstatSync(path).isFile) {
        throw new Deno.errors.InvalidData(`Cannot read "${name}": not a regular file`);
      }
      const file = Deno.openSync(path, { read: true });
      if (this.#tree.strict && !file.statSync().isFile) {
        file.close();
        throw new Deno.errors.InvalidData(`Cannot read "${name}": not a regular file`);
      }
      return file;
    });
  }

  createTemp(name: string, mode: number): TempFile {
    this.#at(name);
    const temp = tempName(name);
    const path = this.#at(temp);
    return this.#guard(temp, () => ({
      name: temp,
      file: Deno.openSync(path, { write: true, createNew: true, mode }),
    }));
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
      if (this.#tree.strict && name !== "" && Deno.lstatSync(path).isSymlink) {
        throw new Deno.errors.InvalidData(`Cannot set the time of link "${name}"`);
      }
      Deno.utimeSync(path, mtime, mtime);
    });
  }

  setMode(name: string, mode: number): void {
    const path = this.#at(name);
    this.#guard(name, () => {
      if (this.#tree.strict && name !== "" && Deno.lstatSync(path).isSymlink) {
        throw new Deno.errors.InvalidData(`Cannot set the mode of link "${name}"`);
      }
      Deno.chmodSync(path, mode);
    });
  }

  localPath(name: string): string | null {
    return this.#tree.caps.localPaths ? this.#at(name) : null;
  }
}

/** What the two local trees share: a root path and the name and error policies. */
abstract class LocalTreeBase implements Tree {
  abstract readonly caps: TreeCapabilities;
  /** Whether names are checked, links refused and errors reworded. */
  abstract readonly strict: boolean;
  /** The root's local path. */
  readonly root: string;

  constructor(root: string) {
    this.root = root.length > 1 && root.endsWith("/") ? root.slice(0, -1) : root;
  }

  abstract dir(rel: string): TreeDir;
  abstract mkdirAll(rel: string, mode?: number): void;
  abstract sub(rel: string): Tree;
  abstract probe(rel: string): { exists: boolean; isDirectory: boolean };

  /** The local path of a relative path (no checks). */
  protected pathOf(rel: string): string {
    if (rel === "") return this.root;
    return this.root === "/" ? `/${rel}` : `${this.root}/${rel}`;
  }

  localPath(rel: string): string | null {
    return this.caps.localPaths ? this.pathOf(rel) : null;
  }

  /** Refuses a name that is not one clean component (contained trees only). */
  checkName(name: string): void {
    if (!this.strict) return;
    if (validateWirePath(name).length !== 1) {
      throw new PathInvalidError(name, "it is not a single name");
    }
  }

  /** Rewords an error raised at `path` (contained trees hide their location). */
  reword(error: unknown, _path: string, _rel: string, _name: string): unknown {
    return error;
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
export class PlainTree extends LocalTreeBase {
  /** A plain tree can create links, and its paths are local. */
  readonly caps: TreeCapabilities = { symlinks: true, localPaths: true };
  /** Plain trees do not check names. */
  readonly strict = false;

  /**
   * Creates a plain tree.
   * @param root Absolute local path of the root directory (it need not exist yet).
   */
  constructor(root: string) {
    super(root);
  }

  dir(rel: string): TreeDir {
    return new LocalDir(this, rel, this.pathOf(rel));
  }

  mkdirAll(rel: string, mode = 0o777): void {
    Deno.mkdirSync(this.pathOf(rel), { recursive: true, mode });
  }

  sub(rel: string): Tree {
    const path = this.pathOf(rel);
    let real = path;
    try {
      real = Deno.realPathSync(path);
    } catch { /* not there yet: a dry run plans against nothing */ }
    return new PlainTree(real);
  }

  probe(rel: string): { exists: boolean; isDirectory: boolean } {
    const path = this.pathOf(rel);
    if (lstatOrNull(path) === null) return { exists: false, isDirectory: false };
    try {
      return { exists: true, isDirectory: Deno.statSync(path).isDirectory };
    } catch {
      return { exists: true, isDirectory: false };
    }
  }
}

/** Options of {@linkcode ContainedTree.open}. */
export interface ContainedTreeOptions {
  /**
   * Whether the tree may create symbolic links (a sandboxed daemon may not).
   * @default {true}
   */
  symlinks?: boolean;
}

/**
 * A directory that confines every operation to itself. Directories are opened only when every
 * component below the root is a real directory: a symbolic link on the way is refused
 * ({@linkcode PathEscapeError}), never followed, so a link planted in the tree (or sent by a peer
 * earlier in the session) cannot lead a write or a delete anywhere. Names are checked with
 * `validateWirePath`. Errors name tree-relative paths only.
 *
 * Every daemon module is a contained tree, and so is the destination of a pull.
 *
 * @example Usage
 * ```ts ignore
 * import { ContainedTree } from "./tree.ts";
 * const module = ContainedTree.open("/srv/photos", { symlinks: false });
 * const dir = module.dir("2024/june"); // refused if "2024" is a link
 * ```
 */
export class ContainedTree extends LocalTreeBase {
  /** What this tree can do. */
  readonly caps: TreeCapabilities;
  /** Contained trees check names. */
  readonly strict = true;
  readonly #lenient: ContainedRoot;

  private constructor(lenient: ContainedRoot, caps: TreeCapabilities) {
    super(lenient.path);
    this.#lenient = lenient;
    this.caps = caps;
  }

  /**
   * Opens a contained tree at an existing directory (its real path is taken once).
   * @param root A local directory; it may itself be reached through links.
   * @param options Capabilities.
   * @throws {Deno.errors.NotFound} When `root` does not exist.
   * @throws {Deno.errors.NotADirectory} When it is not a directory.
   * @returns The tree.
   */
  static open(root: string, options: ContainedTreeOptions = {}): ContainedTree {
    const { symlinks = true } = options;
    return new ContainedTree(ContainedRoot.openSync(root), { symlinks, localPaths: false });
  }

  #walk(rel: string, create: number | null): string {
    const parts = validateWirePath(rel);
    let path = this.root;
    let done = "";
    for (const name of parts) {
      path = path === "/" ? `/${name}` : `${path}/${name}`;
      done = joinPath(done, name);
      let info = lstatOrNull(path);
      if (info === null && create !== null) {
        try {
          Deno.mkdirSync(path, { mode: create });
        } catch (error) {
          if (!(error instanceof Deno.errors.AlreadyExists)) {
            throw this.reword(error, path, done, "");
          }
        }
        info = lstatOrNull(path);
      }
      if (info === null) {
        throw new Deno.errors.NotFound(`Cannot open directory "${done}": it does not exist`);
      }
      if (info.isSymlink) {
        throw new PathEscapeError(
          rel,
          ".",
          `"${done}" is a symbolic link, which is never followed`,
        );
      }
      if (!info.isDirectory) {
        throw new Deno.errors.NotADirectory(`Cannot open directory "${done}": not a directory`);
      }
    }
    return path;
  }

  dir(rel: string): TreeDir {
    return new LocalDir(this, rel, this.#walk(rel, null));
  }

  mkdirAll(rel: string, mode = 0o777): void {
    if (rel === "") return;
    try {
      this.#lenient.mkdirContainedSync(rel);
    } catch (error) {
      throw this.reword(error, this.root, "", "");
    }
    void mode;
  }

  /** Opens a directory, creating missing components (strict: links on the way are refused). */
  mkdirStrict(rel: string, mode = 0o777): TreeDir {
    return new LocalDir(this, rel, this.#walk(rel, mode));
  }

  /**
   * A contained tree rooted at `rel`, reached with the lenient rule of `ContainedRoot`: links on
   * the way are followed while they stay inside this tree (an administrator's or a user's own
   * links in a named path); below the new root, the strict rule applies again.
   */
  sub(rel: string): Tree {
    const real = rel === "" ? this.root : this.#lenient.resolveExistingFollowSync(rel);
    if (!Deno.statSync(real).isDirectory) {
      throw new Deno.errors.NotADirectory(`Cannot open directory "${rel}": not a directory`);
    }
    return new ContainedTree(ContainedRoot.openSync(real), this.caps);
  }

  probe(rel: string): { exists: boolean; isDirectory: boolean } {
    if (rel === "") return { exists: true, isDirectory: true };
    try {
      this.#lenient.resolveExistingSync(rel);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return { exists: false, isDirectory: false };
      throw this.reword(error, this.root, "", "");
    }
    try {
      const real = this.#lenient.resolveExistingFollowSync(rel);
      return { exists: true, isDirectory: Deno.statSync(real).isDirectory };
    } catch {
      return { exists: true, isDirectory: false };
    }
  }

  override reword(error: unknown, path: string, rel: string, name: string): unknown {
    if (!(error instanceof Error) || error instanceof PathEscapeError) return error;
    if (error instanceof PathInvalidError) return error;
    const shown = joinPath(rel, name) || ".";
    const message = describeError(error).split(path).join(shown).split(this.root).join(".");
    const Class = error.constructor as new (message: string) => Error;
    try {
      const copy = new Class(message);
      copy.name = error.name;
      return copy;
    } catch {
      return new Error(message);
    }
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
