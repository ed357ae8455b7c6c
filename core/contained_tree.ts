/**
 * The contained tree: a directory that confines every operation to itself (every daemon module,
 * and the destination of a pull). See `core/tree.ts` for the interface and the plain tree.
 *
 * @module
 */

import { describeError, PathEscapeError, PathInvalidError } from "./errors.ts";
import { ContainedRoot, validateWirePath } from "./paths.ts";
import {
  type DirPolicy,
  joinPath,
  localDir,
  lstatOrNull,
  type Tree,
  type TreeCapabilities,
  type TreeDir,
  trimRoot,
} from "./tree.ts";

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
  readonly #policy: DirPolicy;

  private constructor(lenient: ContainedRoot, caps: TreeCapabilities) {
    this.root = trimRoot(lenient.path);
    this.#lenient = lenient;
    this.caps = caps;
    this.#policy = {
      strict: true,
      caps,
      checkName: (name) => {
        if (validateWirePath(name).length !== 1) {
          throw new PathInvalidError(name, "it is not a single name");
        }
      },
      reword: (error, path, rel, name) => this.#reword(error, path, rel, name),
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
            throw this.#reword(error, path, done, "");
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

  /** Opens a directory whose every component is a real directory (links refused). */
  dir(rel: string): TreeDir {
    return localDir(this.#policy, rel, this.#walk(rel, null));
  }

  /** Creates `rel` and its missing parents; links on the way are followed while inside. */
  mkdirAll(rel: string): void {
    if (rel === "") return;
    try {
      this.#lenient.mkdirContainedSync(rel);
    } catch (error) {
      throw this.#reword(error, this.root, "", "");
    }
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

  /** What is at `rel`, reached with the lenient rule (links that stay inside followed). */
  probe(rel: string): { exists: boolean; isDirectory: boolean } {
    if (rel === "") return { exists: true, isDirectory: true };
    try {
      this.#lenient.resolveExistingSync(rel);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return { exists: false, isDirectory: false };
      throw this.#reword(error, this.root, "", "");
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
  #reword(error: unknown, path: string, rel: string, name: string): unknown {
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
