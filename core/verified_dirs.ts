/**
 * The directories a contained tree (`core/contained_tree.ts`) has verified in one session,
 * remembered by device and inode, so that opening a directory costs a check of the directory and
 * its parent instead of a walk from the root: a deep tree then costs time linear in its depth,
 * not cubic.
 *
 * Deno has no `openat`, so a verified directory is still reached by its path, and a local user
 * who can rename directories inside the tree can race every check; the checks here make the
 * windows narrow and never let a changed directory be used:
 *
 * - A directory is verified once per session: `lstat` of each component below the deepest one
 *   already verified (a symbolic link is refused, never followed), and its device and inode are
 *   recorded.
 * - Every later use re-checks it: `lstat` of the directory itself and of its parent must still
 *   show the recorded directories. A mismatch is a {@linkcode PathEscapeError} (the directory
 *   changed during the session), never a reason to walk again, except for a directory this
 *   session removed itself ({@linkcode VerifiedDirs.removed}), which is verified afresh.
 * - The identities of entries seen through a verified directory (by `lstat`, right before the
 *   directory was checked again) are recorded too: a directory entered later must be the one that
 *   was listed, and a file opened or removed later must be the one that was seen.
 *
 * @example Usage
 * ```ts
 * import { ok, strictEqual, throws } from "node:assert/strict";
 * import { VerifiedDirs } from "./verified_dirs.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.mkdirSync(`${root}/a/b`, { recursive: true });
 * const dirs = new VerifiedDirs(root);
 * const b = dirs.open("a/b");
 * strictEqual(b.path, `${root}/a/b`);
 * strictEqual(dirs.open("a/b"), b); // checked again, not walked
 * Deno.renameSync(`${root}/a/b`, `${root}/old`);
 * Deno.symlinkSync("/etc", `${root}/a/b`);
 * throws(() => dirs.open("a/b"), /changed during the session/);
 * ok(dirs.open("a").parent === dirs.root);
 * Deno.removeSync(root, { recursive: true });
 * ```
 *
 * @module
 */

import { PathEscapeError, PathInvalidError } from "./errors.ts";
import { utf8Length } from "./paths.ts";
import { lstatOrNull } from "./tree.ts";

/**
 * Longest local path this host accepts, in bytes: Linux `PATH_MAX` (4,096) less the terminating
 * NUL. A longer path is refused by name before the kernel would fail with `ENAMETOOLONG`.
 *
 * @example Usage
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { MAX_LOCAL_PATH_BYTES, VerifiedDirs } from "./verified_dirs.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * const dirs = new VerifiedDirs(root);
 * throws(() => dirs.childPath(dirs.root, "x".repeat(MAX_LOCAL_PATH_BYTES)), /PATH_MAX/);
 * Deno.removeSync(root);
 * ```
 */
export const MAX_LOCAL_PATH_BYTES = 4095;

/** One directory verified in this session. */
export interface VerifiedDir {
  /** Its path in the tree (`""` for the root). */
  readonly rel: string;
  /** Its local path (never shown to a peer). */
  readonly path: string;
  /** UTF-8 length of {@linkcode VerifiedDir.path}. */
  readonly bytes: number;
  /** Device, as `lstat` reported it when the directory was verified. */
  readonly dev: number;
  /** Inode, as `lstat` reported it when the directory was verified. */
  readonly ino: number;
  /** The verified directory that holds it (`null` for the root). */
  readonly parent: VerifiedDir | null;
  /** This session removed it: not to be trusted again (a new one there is verified afresh). */
  removed: boolean;
  /** Inodes of the entries (files, links, directories) seen in it, by name. */
  seen: Map<string, number> | null;
}

/** The local path of `name` in the directory at `path`. */
function below(path: string, name: string): string {
  return path === "/" ? `/${name}` : `${path}/${name}`;
}

/**
 * The verified directories of one contained tree in one session (see the module
 * documentation).
 *
 * @example An entry seen in a directory, then replaced, is told apart
 * ```ts
 * import { notStrictEqual } from "node:assert/strict";
 * import { VerifiedDirs } from "./verified_dirs.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${root}/x`, "first");
 * const dirs = new VerifiedDirs(root);
 * dirs.saw(dirs.root, "x", Deno.lstatSync(`${root}/x`));
 * Deno.writeTextFileSync(`${root}/y`, "second");
 * Deno.renameSync(`${root}/y`, `${root}/x`);
 * notStrictEqual(dirs.seenIno(dirs.root, "x"), Deno.lstatSync(`${root}/x`).ino);
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export class VerifiedDirs {
  /** The tree's root (its real path), verified when this ledger was made. */
  readonly root: VerifiedDir;
  readonly #byRel = new Map<string, VerifiedDir>();

  /**
   * Starts a ledger at a tree's root.
   * @param rootPath The real path of the root (no link in it).
   * @param pinned The root's identity when another ledger verified it (a tree's subtree): the
   * root must still be that directory.
   * @throws {Deno.errors.NotFound} When the root does not exist.
   * @throws {Deno.errors.NotADirectory} When it is not a directory.
   * @throws {PathEscapeError} When it is not the pinned directory.
   */
  constructor(rootPath: string, pinned?: VerifiedDir) {
    const info = Deno.lstatSync(rootPath);
    if (!info.isDirectory) {
      throw new Deno.errors.NotADirectory("Cannot open the tree's root: not a directory");
    }
    if (pinned && (pinned.dev !== info.dev || pinned.ino !== (info.ino ?? 0))) {
      throw new PathEscapeError(
        pinned.rel || ".",
        ".",
        `"${pinned.rel || "."}" changed while it was opened: it is not used`,
      );
    }
    this.root = {
      rel: "",
      path: rootPath,
      bytes: utf8Length(rootPath),
      dev: info.dev,
      ino: info.ino ?? 0,
      parent: null,
      removed: false,
      seen: null,
    };
    this.#byRel.set("", this.root);
  }

  /**
   * A verified directory of the tree: the recorded one, checked again
   * ({@linkcode VerifiedDirs.check}), or, the first time, each component below the deepest
   * verified ancestor checked with `lstat` and recorded.
   *
   * @param rel A checked wire path (`""`: the root).
   * @throws {PathEscapeError} When a component is a symbolic link, or a recorded directory on
   * the way changed during the session.
   * @throws {Deno.errors.NotFound} When a component does not exist.
   * @throws {Deno.errors.NotADirectory} When a component is not a directory.
   * @throws {PathInvalidError} When the local path would be longer than
   * {@linkcode MAX_LOCAL_PATH_BYTES}.
   * @returns The directory.
   */
  open(rel: string): VerifiedDir {
    const known = this.#trusted(rel);
    if (known !== null) {
      this.check(known);
      return known;
    }
    // The deepest verified ancestor, then the missing components one by one.
    let cut = rel.length;
    let base: VerifiedDir | null = null;
    while (base === null) {
      cut = rel.lastIndexOf("/", cut - 1);
      base = cut < 0 ? this.root : this.#trusted(rel.slice(0, cut));
    }
    this.check(base);
    let dir = base;
    for (const name of rel.slice(cut + 1).split("/")) {
      const done = dir.rel === "" ? name : `${dir.rel}/${name}`;
      const path = this.childPath(dir, name, done);
      const info = lstatOrNull(path);
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
      dir = this.#record(dir, name, done, path, info);
    }
    return dir;
  }

  /**
   * Checks that a verified directory and its parent are still the directories recorded:
   * `lstat` of each, same device and inode, still directories.
   *
   * @param dir The directory.
   * @param parent Check its parent too (one more `lstat`).
   * @throws {PathEscapeError} When either changed (became a link, or another directory).
   * @throws {Deno.errors.NotFound} When the directory is gone.
   */
  check(dir: VerifiedDir, parent = true): void {
    this.#same(dir, true);
    if (parent && dir.parent !== null) this.#same(dir.parent, false);
  }

  /**
   * The local path of `name` in `dir`, refused when it would not fit the host's `PATH_MAX`.
   * @param dir The directory.
   * @param name One checked name.
   * @param shown The tree path to name in the error (default: `dir`'s path and `name`).
   * @throws {PathInvalidError} When the local path would be longer than
   * {@linkcode MAX_LOCAL_PATH_BYTES}.
   * @returns The local path.
   */
  childPath(dir: VerifiedDir, name: string, shown?: string): string {
    // A UTF-16 unit is at most 3 UTF-8 bytes: most paths are far enough from the limit not to
    // be counted.
    if (dir.bytes + 1 + 3 * name.length <= MAX_LOCAL_PATH_BYTES) return below(dir.path, name);
    const bytes = dir.bytes + 1 + utf8Length(name);
    if (bytes > MAX_LOCAL_PATH_BYTES) {
      throw new PathInvalidError(
        shown ?? (dir.rel === "" ? name : `${dir.rel}/${name}`),
        `it would be ${bytes} bytes on this host, over the ${MAX_LOCAL_PATH_BYTES} a path may have (PATH_MAX)`,
      );
    }
    return below(dir.path, name);
  }

  /**
   * Records what `lstat` showed of an entry of `dir`, once `dir` was checked again right after:
   * a directory becomes verified (it is entered later only if it is still this one), and any
   * other entry's inode is kept for {@linkcode VerifiedDirs.seenIno}. A directory already
   * recorded keeps its first record (a different one there is a change, refused when used).
   *
   * @param dir The directory the entry was seen in.
   * @param name Its name.
   * @param info What `lstat` showed.
   */
  saw(dir: VerifiedDir, name: string, info: Deno.FileInfo): void {
    const ino = info.ino ?? 0;
    (dir.seen ??= new Map()).set(name, ino);
    if (!info.isDirectory || info.isSymlink) return;
    const rel = dir.rel === "" ? name : `${dir.rel}/${name}`;
    if (this.#trusted(rel) !== null) return;
    this.#record(dir, name, rel, below(dir.path, name), info);
  }

  /**
   * The inode an entry of `dir` had when it was seen ({@linkcode VerifiedDirs.saw}).
   * @param dir The directory.
   * @param name The entry's name.
   * @returns The inode, or `undefined` when it was not seen in this session.
   */
  seenIno(dir: VerifiedDir, name: string): number | undefined {
    return dir.seen?.get(name);
  }

  /**
   * Forgets an entry of `dir` this session removed or replaced: a directory there is verified
   * afresh when it is opened again, and so is everything below it.
   * @param dir The directory.
   * @param name The entry's name.
   */
  removed(dir: VerifiedDir, name: string): void {
    dir.seen?.delete(name);
    if (this.#byRel.size === 1) return; // only the root is recorded
    const rel = dir.rel === "" ? name : `${dir.rel}/${name}`;
    const record = this.#byRel.get(rel);
    if (record === undefined) return;
    record.removed = true;
    this.#byRel.delete(rel);
  }

  /** The recorded directory at `rel` if no directory on its way was removed by this session. */
  #trusted(rel: string): VerifiedDir | null {
    const record = this.#byRel.get(rel);
    if (record === undefined) return null;
    for (let up: VerifiedDir | null = record; up !== null; up = up.parent) {
      if (up.removed) {
        this.#byRel.delete(rel);
        return null;
      }
    }
    return record;
  }

  #record(
    parent: VerifiedDir,
    name: string,
    rel: string,
    path: string,
    info: Deno.FileInfo,
  ): VerifiedDir {
    const dir: VerifiedDir = {
      rel,
      path,
      bytes: parent.bytes + 1 + utf8Length(name),
      dev: info.dev,
      ino: info.ino ?? 0,
      parent,
      removed: false,
      seen: null,
    };
    this.#byRel.set(rel, dir);
    return dir;
  }

  #same(dir: VerifiedDir, self: boolean): void {
    const info = lstatOrNull(dir.path);
    if (info === null && self) {
      throw new Deno.errors.NotFound(`Cannot open directory "${dir.rel || "."}": it is gone`);
    }
    if (
      info === null || info.isSymlink || !info.isDirectory || info.dev !== dir.dev ||
      (info.ino ?? 0) !== dir.ino
    ) {
      const shown = dir.rel || ".";
      throw new PathEscapeError(
        shown,
        ".",
        `"${shown}" changed during the session: it is no longer the directory checked before, and is not used`,
      );
    }
  }
}
