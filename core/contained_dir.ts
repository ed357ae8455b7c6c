/**
 * The directory handle of a contained tree (`core/contained_tree.ts`): a directory verified in
 * this session ({@linkcode VerifiedDirs}), checked again at every use, with each operation's
 * check placed at the use itself rather than at planning time:
 *
 * - listing and `lstat`: the directory is checked again right after, and only then is what was
 *   seen recorded;
 * - reading a file: `lstat` shows a regular file (the one seen earlier in the session, when it
 *   was), the file is opened, `fstat` of the open file must show that same file, and the
 *   directory must still be the verified one — otherwise the file is closed and refused;
 * - writing: the directory is checked right before a temporary is created and again right after
 *   (the temporary must be found in it), and right before the rename into place;
 * - removing: the directory is checked, the entry must be the one seen in it earlier, and it is
 *   renamed aside to a name of the session's own and deleted by that name only once it was found,
 *   unchanged, in the directory checked again (an unlink cannot be led elsewhere);
 * - every directory opened through the tree is checked again (`lstat` of it and of its parent).
 *
 * Without `openat` these checks narrow the window of a local user's rename race; they do not
 * close it (see the README: the daemon's mount namespace does).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { ContainedTree } from "./contained_tree.ts";
 * const root = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${root}/a`);
 * Deno.writeTextFileSync(`${root}/a/x.txt`, "hello");
 * const dir = ContainedTree.open(root).dir("a"); // a ContainedDir
 * strictEqual(dir.stat("x.txt")?.size, 5);
 * using file = dir.openRead("x.txt");
 * strictEqual(file.statSync().size, 5);
 * Deno.removeSync(root, { recursive: true });
 * ```
 *
 * @module
 */

import { PathEscapeError, PathInvalidError } from "./errors.ts";
import { removeOwnName, retried } from "./own_name.ts";
import { validateWirePath } from "./paths.ts";
import {
  type DirItem,
  entryInfoOf,
  type EntryOwner,
  lstatOrNull,
  type PartialTag,
  type SetAside,
  setAsideFound,
  sharedInode,
  type StatManyOptions,
  type TempFile,
  tempName,
  type TemporaryFacts,
  temporaryName,
  type TreeCapabilities,
  type TreeDir,
  type WriteTarget,
} from "./tree.ts";
import type { EntryInfo } from "./types.ts";
import type { VerifiedDir, VerifiedDirs } from "./verified_dirs.ts";

/**
 * Rewords an error raised at the local `path` so that it names tree-relative paths only.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import type { Reword } from "./contained_dir.ts";
 * const reword: Reword = (error, path, rel, name) =>
 *   new Error(String((error as Error).message).replace(path, `${rel}/${name}`));
 * strictEqual((reword(new Error("open /srv/m/a/x"), "/srv/m/a/x", "a", "x") as Error).message, "open a/x");
 * ```
 */
export type Reword = (error: unknown, path: string, rel: string, name: string) => unknown;

function noLink(): string {
  return "";
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Prefix of the names entries are renamed to right before they are deleted. */
const ASIDE_PREFIX = ".blit-rm-";
let asideCounter = 0;

/** A name no other entry has: this process, a counter and random bits. */
function asideName(): string {
  asideCounter = (asideCounter + 1) % 1_000_000_000;
  const random = crypto.getRandomValues(new Uint32Array(1))[0] ?? 0;
  return `${ASIDE_PREFIX}${Deno.pid}-${asideCounter}-${random.toString(36)}`;
}

/**
 * A directory of a contained tree (see the module documentation). Made by
 * `ContainedTree.dir()`, never directly.
 *
 * @example A directory exchanged for a link is refused at its next use
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { ContainedTree } from "./contained_tree.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.mkdirSync(`${root}/a`);
 * Deno.writeTextFileSync(`${root}/a/x.txt`, "inside");
 * const dir = ContainedTree.open(root).dir("a");
 * dir.stat("x.txt");
 * Deno.renameSync(`${root}/a`, `${root}/moved`);
 * Deno.symlinkSync(`${root}/moved`, `${root}/a`);
 * throws(() => dir.openRead("x.txt"), /changed during the session/);
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export class ContainedDir implements TreeDir {
  /** Path of the directory relative to its tree. */
  readonly rel: string;
  readonly #dirs: VerifiedDirs;
  readonly #dir: VerifiedDir;
  readonly #caps: TreeCapabilities;
  readonly #reword: Reword;
  readonly #temporaries: Set<string>;
  /**
   * The directory was checked when this handle was made, and nothing else ran since: the first
   * operation, in the same synchronous run, needs no check before it (one after does).
   */
  #fresh = true;

  /**
   * Wraps a verified directory.
   * @param dirs The tree's ledger of verified directories.
   * @param dir The directory, just verified.
   * @param tree What the tree can do, how it words errors, and the local paths of the
   * temporaries it created in this session (shared by its handles).
   */
  constructor(
    dirs: VerifiedDirs,
    dir: VerifiedDir,
    tree: { caps: TreeCapabilities; reword: Reword; temporaries: Set<string> },
  ) {
    this.#dirs = dirs;
    this.#dir = dir;
    this.#caps = tree.caps;
    this.#reword = tree.reword;
    this.#temporaries = tree.temporaries;
    this.rel = dir.rel;
    queueMicrotask(() => {
      this.#fresh = false;
    });
  }

  /** The local path of an entry (`""`: the directory), after the name and length checks. */
  #at(name: string): string {
    if (name === "") return this.#dir.path;
    if (validateWirePath(name).length !== 1) {
      throw new PathInvalidError(name, "it is not a single name");
    }
    return this.#dirs.childPath(this.#dir, name);
  }

  #shown(name: string): string {
    return name === "" ? this.rel || "." : this.rel === "" ? name : `${this.rel}/${name}`;
  }

  #guard<T>(name: string, path: string, action: () => T): T {
    try {
      return action();
    } catch (error) {
      throw this.#reword(error, path, this.rel, name);
    }
  }

  /** Checks that this directory (and its parent) are still the verified ones, after a use. */
  #check(): void {
    this.#fresh = false;
    this.#dirs.check(this.#dir);
  }

  /**
   * The directory alone checked again between two steps of one operation (one `lstat`: a
   * directory on its way exchanged since the step before shows another inode here).
   */
  #checkBetween(): void {
    this.#dirs.check(this.#dir, false);
  }

  /** The same right before a use, unless the handle was made in this synchronous run. */
  #checkBefore(): void {
    if (this.#fresh) this.#fresh = false;
    else this.#dirs.check(this.#dir);
  }

  /** Refuses an entry that is not the one seen earlier in this session, when it was seen. */
  #sameAsSeen(name: string, info: Deno.FileInfo, doing: string): void {
    const seen = this.#dirs.seenIno(this.#dir, name);
    if (seen !== undefined && seen !== (info.ino ?? 0)) {
      throw new PathEscapeError(
        this.#shown(name),
        ".",
        `it changed since it was listed (another entry took its place); not ${doing}`,
      );
    }
  }

  /** Lists the names (the directory was verified when opened, and is checked again after). */
  list(): DirItem[] {
    const path = this.#dir.path;
    return this.#guard("", path, () => {
      const items = Array.from(Deno.readDirSync(path));
      this.#check();
      return items;
    });
  }

  /** `lstat` of an entry; what it shows is recorded once the directory is checked again. */
  stat(name: string): EntryInfo | null {
    const path = this.#at(name);
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw this.#reword(error, path, this.rel, name);
    }
    return this.#guard(name, path, () => {
      if (name === "") {
        // The directory itself: the one verified, or a refusal (never another entry's facts).
        this.#check();
        if (info.isSymlink || info.dev !== this.#dir.dev || (info.ino ?? 0) !== this.#dir.ino) {
          throw new PathEscapeError(this.rel || ".", ".", "it changed while it was read");
        }
        return entryInfoOf(info, noLink);
      }
      const facts = entryInfoOf(info, info.isSymlink ? () => Deno.readLinkSync(path) : noLink);
      // On the hot path of every walk and plan: the directory alone is checked again (one
      // `lstat`), and its parent too before a directory is recorded as verified.
      this.#fresh = false;
      this.#dirs.check(this.#dir, info.isDirectory);
      this.#dirs.saw(this.#dir, name, info);
      return facts;
    });
  }

  /**
   * `lstat` of many entries, then the directory checked once (and its parent, when one of them
   * is a directory) before anything is recorded: a directory exchanged during the batch fails
   * the whole batch, as it would fail the next single `stat`.
   */
  statMany(names: readonly string[], options: StatManyOptions = {}): (EntryInfo | null | Error)[] {
    const results: (EntryInfo | null | Error)[] = [];
    const seen: [string, Deno.FileInfo][] = [];
    const devices = options.devices ?? null;
    const inodes = options.inodes ?? null;
    if (devices !== null) devices.length = 0;
    if (inodes !== null) inodes.length = 0;
    let anyDir = false;
    for (const name of names) {
      devices?.push(NaN);
      inodes?.push(NaN);
      if (name === "") {
        results.push(new PathInvalidError(this.rel || ".", "an entry of a batch needs a name"));
        continue;
      }
      const path = this.#at(name);
      try {
        const info = Deno.lstatSync(path);
        results.push(entryInfoOf(info, info.isSymlink ? () => Deno.readLinkSync(path) : noLink));
        if (devices !== null) devices[results.length - 1] = info.dev;
        if (inodes !== null) inodes[results.length - 1] = sharedInode(info);
        seen.push([name, info]);
        anyDir ||= info.isDirectory;
      } catch (error) {
        results.push(
          error instanceof Deno.errors.NotFound
            ? null
            : asError(this.#reword(error, path, this.rel, name)),
        );
      }
    }
    this.#guard("", this.#dir.path, () => {
      this.#fresh = false;
      this.#dirs.check(this.#dir, anyDir);
    });
    for (const [name, info] of seen) this.#dirs.saw(this.#dir, name, info);
    return results;
  }

  /** The device id of this directory, as it was verified (no system call). */
  device(): number {
    return this.#dir.dev;
  }

  /** Reads a link's target (refused when the directory changed meanwhile). */
  readLink(name: string): string {
    const path = this.#at(name);
    return this.#guard(name, path, () => {
      const target = Deno.readLinkSync(path);
      this.#check();
      return target;
    });
  }

  /**
   * Opens a regular file: `lstat` (a regular file, the one seen earlier), the directory checked,
   * open, `fstat` of the open file (the same device and inode), and the directory checked again.
   */
  openRead(name: string): Deno.FsFile {
    const path = this.#at(name);
    return this.#guard(name, path, () => {
      const before = Deno.lstatSync(path);
      if (!before.isFile) {
        throw new Deno.errors.InvalidData(`Cannot read "${name}": not a regular file`);
      }
      this.#sameAsSeen(name, before, "read");
      this.#checkBetween();
      const file = Deno.openSync(path, { read: true });
      try {
        const opened = file.statSync();
        if (!opened.isFile || opened.dev !== before.dev || opened.ino !== before.ino) {
          throw new PathEscapeError(
            this.#shown(name),
            ".",
            "it was replaced while it was opened; not read",
          );
        }
        this.#checkBetween();
      } catch (error) {
        file.close();
        throw error;
      }
      return file;
    });
  }

  /**
   * Creates a temporary sibling (exclusive, never through a link) in the directory checked right
   * before; the temporary must then be found in the directory, checked again.
   */
  createTemp(name: string, mode: number, options: { partial?: PartialTag } = {}): TempFile {
    this.#at(name);
    const { name: temp, partial } = temporaryName(name, options.partial);
    const path = this.#at(temp);
    return this.#guard(temp, path, () => {
      this.#checkBefore();
      const file = Deno.openSync(path, { write: true, createNew: true, mode });
      file.lockSync(true);
      this.#temporaries.add(path);
      try {
        if (!(Deno.lstatSync(path).isFile)) {
          throw new Deno.errors.InvalidData(`Cannot create "${temp}": not a regular file`);
        }
        this.#checkBetween();
      } catch (error) {
        file.close();
        try {
          this.#removeOwn(path);
        } catch { /* the error that matters is the one below */ }
        throw error instanceof Deno.errors.NotFound
          ? new PathEscapeError(
            this.#shown(name),
            ".",
            `"${this.rel || "."}" changed while a file was created in it; not written`,
          )
          : error;
      }
      return { name: temp, file, partial };
    });
  }

  /** Looks at a temporary through the checked calls: `stat`, then `openRead` for its lock. */
  inspectTemporary(name: string): TemporaryFacts | null {
    const info = this.stat(name);
    if (info === null) return null;
    const facts = { size: info.size, mtimeMs: info.mtimeMs };
    if (info.kind !== "file") return { isFile: false, locked: false, ...facts };
    let file: Deno.FsFile;
    try {
      file = this.openRead(name);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
    try {
      return { isFile: true, locked: !file.tryLockSync(true), ...facts };
    } finally {
      file.close();
    }
  }

  /**
   * Removes an entry under a name of this session's own (a temporary, or an entry set aside),
   * wherever its name leads now (a directory on its way may be exchanged back and forth): a name
   * made by this session and created exclusively is its alone, so nothing else can be removed by
   * it.
   * @returns Whether it was removed (`false`: it was not found).
   * @throws Any other error of the removal (a directory not empty, no permission).
   */
  #removeOwn(path: string, recursive = false): boolean {
    this.#temporaries.delete(path);
    return removeOwnName(path, recursive);
  }

  /**
   * Renames inside the directory, checked right before (itself: a directory on its way exchanged
   * since shows another inode here; its parent was checked when it was opened).
   */
  rename(from: string, to: string): void {
    const a = this.#at(from);
    const b = this.#at(to);
    this.#guard(to, b, () => {
      if (this.#fresh) this.#fresh = false;
      else this.#checkBetween();
      Deno.renameSync(a, b);
      this.#temporaries.delete(a);
      this.#dirs.removed(this.#dir, to);
    });
  }

  /**
   * Removes an entry: the directory checked right before, the entry the one seen earlier. A
   * file, a link or a directory removed with its contents is first renamed aside, to a name of
   * this session's own in the same directory; only when what was set aside is that entry, in
   * this directory (checked again), is it deleted — by a name nothing else has, so that the
   * deletion itself cannot be led elsewhere. When the entry was not found there, it is put back
   * where it came from; when another entry took its place, it is left as it is (never deleted),
   * and the removal is refused either way. An empty directory is removed as it is (`rmdir`
   * removes nothing else).
   */
  remove(name: string, options: { recursive?: boolean } = {}): void {
    if (name === "") {
      throw new PathInvalidError(this.rel || ".", "a directory cannot remove itself");
    }
    const path = this.#at(name);
    const recursive = options.recursive ?? false;
    this.#guard(name, path, () => {
      if (this.#temporaries.has(path)) {
        if (!this.#removeOwn(path)) throw new Deno.errors.NotFound(`Cannot find "${name}"`);
        return;
      }
      this.#checkBefore();
      const info = Deno.lstatSync(path);
      this.#sameAsSeen(name, info, "removed");
      this.#checkBetween();
      if (info.isDirectory && !recursive) {
        Deno.removeSync(path);
        this.#dirs.removed(this.#dir, name);
        return;
      }
      const aside = this.#dirs.childPath(this.#dir, asideName());
      const changed = (detail: string): PathEscapeError =>
        new PathEscapeError(this.#shown(name), ".", `${detail}; not removed`);
      const moved = this.#renameChecked(
        name,
        aside,
        this,
        (dir) => changed(`"${dir}" changed while an entry was removed from it`),
      );
      if (moved.dev !== info.dev || moved.ino !== info.ino) {
        throw changed(
          `another entry took its place while it was removed (it is left as "${
            aside.slice(aside.lastIndexOf("/") + 1)
          }")`,
        );
      }
      try {
        this.#check();
        if (!this.#removeOwn(aside, recursive)) throw changed("it vanished while it was removed");
      } catch (error) {
        this.#putBack(aside, path);
        throw error;
      }
    });
  }

  /** Renames an entry set aside back to its name, wherever the name of its directory leads. */
  #putBack(aside: string, path: string): void {
    retried(() => {
      try {
        Deno.renameSync(aside, path);
        return true;
      } catch (error) {
        return !(error instanceof Deno.errors.NotFound);
      }
    });
  }

  /** Creates a directory in the directory checked right before, and records it. */
  mkdir(name: string, mode: number): void {
    const path = this.#at(name);
    this.#guard(name, path, () => {
      this.#checkBefore();
      Deno.mkdirSync(path, { mode });
      this.#dirs.removed(this.#dir, name);
      const info = Deno.lstatSync(path);
      this.#dirs.check(this.#dir, false);
      this.#dirs.saw(this.#dir, name, info);
    });
  }

  /** Creates a symbolic link in the directory checked right before. */
  symlink(target: string, name: string): void {
    const path = this.#at(name);
    this.#guard(name, path, () => {
      this.#checkBefore();
      Deno.symlinkSync(target, path);
    });
  }

  /** Sets a time; an entry must not be a link, and must be the one seen earlier. */
  setTimes(name: string, mtimeMs: number): void {
    const path = this.#at(name);
    const mtime = new Date(mtimeMs);
    this.#guard(name, path, () => {
      this.#checkTarget(name, path, "time");
      Deno.utimeSync(path, mtime, mtime);
    });
  }

  /** Sets permission bits; an entry must not be a link, and must be the one seen earlier. */
  setMode(name: string, mode: number): void {
    const path = this.#at(name);
    this.#guard(name, path, () => {
      this.#checkTarget(name, path, "mode");
      Deno.chmodSync(path, mode);
    });
  }

  setOwner(name: string, owner: EntryOwner): void {
    const path = this.#at(name);
    this.#guard(name, path, () => {
      this.#checkTarget(name, path, "owner");
      Deno.chownSync(path, owner.uid ?? null, owner.gid ?? null);
    });
  }

  /** Right before a time or mode change (which follow links): the directory, then the entry. */
  #checkTarget(name: string, path: string, what: string): void {
    this.#checkBefore();
    if (name === "") return;
    const info = Deno.lstatSync(path);
    if (info.isSymlink) {
      throw new Deno.errors.InvalidData(`Cannot set the ${what} of link "${name}"`);
    }
    this.#sameAsSeen(name, info, "changed");
  }

  /**
   * The paths of a new file and its temporary, and the identities of this directory and its
   * parent, which the writer checks right before its create (both) and its rename (this one).
   */
  writeTarget(name: string): WriteTarget {
    const dst = this.#at(name);
    const tmp = this.#at(tempName(name));
    const { path, dev, ino, parent } = this.#dir;
    return {
      tmp,
      dst,
      dir: {
        path,
        dev,
        ino,
        ...(parent === null
          ? {}
          : { parent: { path: parent.path, dev: parent.dev, ino: parent.ino } }),
      },
    };
  }

  /** A writer replaced `name`: what was seen under it is forgotten. */
  landed(name: string): void {
    this.#dirs.removed(this.#dir, name);
  }

  /** A contained tree gives out no local paths (unless its capabilities say so). */
  localPath(name: string): string | null {
    return this.#caps.localPaths ? this.#at(name) : null;
  }

  /**
   * Links an entry under a second name in `into` (a handle of this tree): both directories
   * checked before, the entry the one seen earlier, the link made under a temporary name that
   * must then be found, as that same entry, in `into` checked again, and only then renamed to
   * `as`.
   */
  linkInto(name: string, into: TreeDir, as: string): void {
    const target = this.#peer(into);
    const path = this.#at(name);
    const to = target.#at(as);
    const temp = target.#at(tempName(as));
    this.#guard(name, path, () => {
      this.#checkBefore();
      const info = Deno.lstatSync(path);
      this.#sameAsSeen(name, info, "kept");
      this.#checkBetween();
      target.#checkBefore();
      Deno.linkSync(path, temp);
      target.#temporaries.add(temp);
      try {
        target.#checkBetween();
        const linked = lstatOrNull(temp);
        if (linked === null || linked.dev !== info.dev || linked.ino !== info.ino) {
          throw new PathEscapeError(
            this.#shown(name),
            ".",
            "it changed while its backup was made; not kept",
          );
        }
        Deno.renameSync(temp, to);
        target.#temporaries.delete(temp);
        target.#dirs.removed(target.#dir, as);
      } catch (error) {
        try {
          target.#removeOwn(temp);
        } catch { /* the error that matters is this one */ }
        throw error;
      }
    });
  }

  /**
   * Moves an entry to `as` in `into` (a handle of this tree): both directories checked before,
   * the entry the one seen earlier; the entry must then be found at `as`, in `into` checked
   * again (when it is not, it is put back).
   */
  moveInto(name: string, into: TreeDir, as: string): void {
    const target = this.#peer(into);
    const path = this.#at(name);
    const to = target.#at(as);
    this.#guard(name, path, () => {
      this.#checkBefore();
      const info = Deno.lstatSync(path);
      this.#sameAsSeen(name, info, "moved");
      this.#checkBetween();
      target.#checkBefore();
      target.#dirs.removed(target.#dir, as);
      this.#renameChecked(name, to, target, (dir) =>
        new PathEscapeError(
          this.#shown(name),
          ".",
          `"${dir}" changed while a backup was moved into it; not moved`,
        ));
    });
  }

  /**
   * Renames this directory's entry `name` to the local path `to` in `target` (this directory or
   * another of the tree) and checks that it arrived: `target` checked again, the entry found at
   * `to`. When it is not there (a directory exchanged meanwhile: the rename went through the
   * other one) it is put back, through the same names, and `refuse` names the directory.
   * @returns What is at `to` now, for the caller's identity check.
   */
  #renameChecked(
    name: string,
    to: string,
    target: ContainedDir,
    refuse: (dir: string) => PathEscapeError,
  ): Deno.FileInfo {
    const path = this.#at(name);
    Deno.renameSync(path, to);
    this.#dirs.removed(this.#dir, name);
    let moved: Deno.FileInfo | null;
    try {
      target.#checkBetween();
      moved = lstatOrNull(to);
    } catch (error) {
      this.#putBack(to, path);
      throw error;
    }
    if (moved === null) {
      this.#putBack(to, path);
      throw refuse(target.rel || ".");
    }
    return moved;
  }

  /** `into` as a handle of this same tree, or a refusal. */
  #peer(into: TreeDir): ContainedDir {
    if (!(into instanceof ContainedDir) || into.#dirs !== this.#dirs) {
      throw new PathInvalidError(
        this.rel || ".",
        "a backup stays in the destination's own tree",
      );
    }
    return into;
  }

  /**
   * Renames a file aside before a new version takes its name: the directory checked right
   * before, the entry the one seen earlier, then found at its temporary name in the directory
   * checked again (else put back and refused). The removal, later, checks the directory once
   * more and removes the file by a name only this run made.
   */
  setAside(name: string): SetAside {
    const path = this.#at(name);
    const aside = this.#at(tempName(name));
    return this.#guard(name, path, () => {
      this.#checkBefore();
      const info = Deno.lstatSync(path);
      this.#sameAsSeen(name, info, "replaced");
      this.#checkBetween();
      const moved = this.#renameChecked(name, aside, this, (dir) =>
        new PathEscapeError(
          this.#shown(name),
          ".",
          `"${dir}" changed while an old version was set aside; not replaced`,
        ));
      if (moved.dev !== info.dev || moved.ino !== info.ino) {
        this.#putBack(aside, path);
        throw new PathEscapeError(
          this.#shown(name),
          ".",
          "another entry took its place while it was set aside; not replaced",
        );
      }
      return setAsideFound(aside, path, moved, () => this.#check());
    });
  }
}
