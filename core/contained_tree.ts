/**
 * The contained tree: a directory that confines every operation to itself (every daemon module,
 * and the destination of a pull). See `core/tree.ts` for the interface and the plain tree.
 *
 * @module
 */

import { ContainedDir, type Reword } from "./contained_dir.ts";
import { describeError, PathEscapeError, PathInvalidError } from "./errors.ts";
import { ContainedRoot, validateWirePath } from "./paths.ts";
import { joinPath, type Tree, type TreeCapabilities, type TreeDir, trimRoot } from "./tree.ts";
import { type VerifiedDir, VerifiedDirs } from "./verified_dirs.ts";

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
 * `validateWirePath`, and local paths longer than the host's `PATH_MAX` are refused by name.
 * Errors name tree-relative paths only.
 *
 * A tree remembers the directories it verified ({@linkcode VerifiedDirs}, by device and inode),
 * so opening one again checks it and its parent instead of walking from the root; every
 * operation of its handles ({@linkcode ContainedDir}) checks again at the use. Open one tree per
 * session: what it remembers is that session's.
 *
 * Every daemon module is a contained tree, and so is the destination of a pull.
 *
 * @example Usage
 * ```ts ignore
 * import { ContainedTree } from "./contained_tree.ts";
 * const module = ContainedTree.open("/srv/photos", { symlinks: false });
 * const dir = module.dir("2024/june"); // refused if "2024" is a link
 * ```
 */
export class ContainedTree implements Tree {
  /** What this tree can do. */
  readonly caps: TreeCapabilities;
  /** The real path of the root (never shown to a peer). */
  readonly root: string;
  readonly #lenient: ContainedRoot;
  readonly #dirs: VerifiedDirs;
  readonly #handles: { caps: TreeCapabilities; reword: Reword; temporaries: Set<string> };

  private constructor(lenient: ContainedRoot, caps: TreeCapabilities, pinned?: VerifiedDir) {
    this.root = trimRoot(lenient.path);
    this.#lenient = lenient;
    this.caps = caps;
    this.#dirs = new VerifiedDirs(this.root, pinned);
    this.#handles = {
      caps,
      reword: (error, path, rel, name) => this.#rewordError(error, path, rel, name),
      temporaries: new Set(),
    };
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

  /**
   * Opens a directory whose every component is a real directory (links refused): verified
   * component by component the first time in this tree, checked again (it and its parent, by
   * device and inode) every later time.
   */
  dir(rel: string): TreeDir {
    validateWirePath(rel);
    let verified;
    try {
      verified = this.#dirs.open(rel);
    } catch (error) {
      throw this.#rewordError(error, this.root, "", "");
    }
    return new ContainedDir(this.#dirs, verified, this.#handles);
  }

  /** Creates `rel` and its missing parents; links on the way are followed while inside. */
  mkdirAll(rel: string): void {
    if (rel === "") return;
    try {
      this.#lenient.mkdirContainedSync(rel);
    } catch (error) {
      throw this.#rewordError(error, this.root, "", "");
    }
  }

  /**
   * A contained tree rooted at `rel`, reached with the lenient rule of `ContainedRoot`: links on
   * the way are followed while they stay inside this tree (an administrator's or a user's own
   * links in a named path); below the new root, the strict rule applies again. The directory
   * reached is then verified in this tree (each component a real directory, by device and
   * inode) and the new tree is pinned to it: the kernel is never asked for a real path again,
   * which a local user could race to lead outside.
   */
  sub(rel: string): Tree {
    if (rel === "") return new ContainedTree(this.#lenient, this.caps);
    const real = this.#lenient.resolveExistingFollowSync(rel);
    const inner = real === this.root
      ? ""
      : real.slice(this.root === "/" ? 1 : this.root.length + 1);
    let verified: VerifiedDir;
    try {
      verified = this.#dirs.open(inner);
    } catch (error) {
      if (error instanceof Deno.errors.NotADirectory) {
        throw new Deno.errors.NotADirectory(`Cannot open directory "${rel}": not a directory`);
      }
      throw this.#rewordError(error, this.root, "", "");
    }
    return new ContainedTree(ContainedRoot.atRealPath(real), this.caps, verified);
  }

  /** What is at `rel`, reached with the lenient rule (links that stay inside followed). */
  probe(rel: string): { exists: boolean; isDirectory: boolean } {
    if (rel === "") return { exists: true, isDirectory: true };
    try {
      this.#lenient.resolveExistingSync(rel);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return { exists: false, isDirectory: false };
      throw this.#rewordError(error, this.root, "", "");
    }
    try {
      const real = this.#lenient.resolveExistingFollowSync(rel);
      return { exists: true, isDirectory: Deno.statSync(real).isDirectory };
    } catch {
      return { exists: true, isDirectory: false };
    }
  }

  /** A contained tree has no local paths to give out. */
  localPath(): null {
    return null;
  }

  /** Rewords an operating-system error so that it names tree-relative paths only. */
  #rewordError(error: unknown, path: string, rel: string, name: string): unknown {
    if (!(error instanceof Error) || error instanceof PathEscapeError) return error;
    if (error instanceof PathInvalidError) return error;
    const shown = joinPath(rel, name) || ".";
    let message = describeError(error).split(path).join(shown);
    if (this.root !== "/") message = message.split(this.root).join(".");
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
