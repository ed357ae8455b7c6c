/**
 * Internal helper of the walking admin operations: opening the directory a user named.
 *
 * @module
 */

import { validateWirePath } from "../paths.ts";
import type { Tree } from "../tree.ts";
import { AdminError } from "./admin_error.ts";

/**
 * Opens the start of a walk: the directory `path` names, reached with {@linkcode Tree.sub} (in
 * a contained tree, links on the way are followed while they stay inside it).
 *
 * @param tree The tree.
 * @param path A wire path without trailing slashes (`""` for the root).
 * @param verb The operation, for the message ("search", "total").
 * @throws {PathInvalidError} If `path` is not a valid wire path.
 * @throws {AdminError} `invalid` when `path` names something that is not a directory.
 * @throws {Deno.errors.NotFound} When the path (or, for the root, the tree) does not exist.
 * @throws {Deno.errors.NotADirectory} When the tree's root is not a directory.
 * @returns A tree rooted at the directory.
 */
export function openStart(tree: Tree, path: string, verb: string): Tree {
  validateWirePath(path);
  let start: Tree;
  try {
    start = path === "" ? tree : tree.sub(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotADirectory) notADirectory(tree, path, verb);
    throw error;
  }
  const { exists, isDirectory } = start.probe("");
  if (!exists) throw new Deno.errors.NotFound(`Cannot ${verb} ${JSON.stringify(path)}`);
  if (!isDirectory) {
    if (path !== "") notADirectory(tree, path, verb);
    throw new Deno.errors.NotADirectory(`Cannot ${verb} ${JSON.stringify(path)}: not a directory`);
  }
  return start;
}

/** Throws the "not a directory" refusal when `path` exists and is not a directory. */
function notADirectory(tree: Tree, path: string, verb: string): void {
  const { exists, isDirectory } = tree.probe(path);
  if (exists && !isDirectory) {
    throw new AdminError(
      "invalid",
      `Cannot ${verb} ${JSON.stringify(path)}: it is not a directory`,
    );
  }
}
