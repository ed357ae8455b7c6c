/**
 * Resolves where a transfer reads and writes, following rsync's trailing-slash rules.
 *
 * @module
 */

import { UsageError } from "./errors.ts";
import type { EntryKind, TransferOperation } from "./types.ts";

/** The resolved roots of a local transfer. */
export interface TransferRoots {
  /** Absolute path of the source root (a directory or a single file or link). */
  source: string;
  /** Kind of the source root. */
  sourceKind: EntryKind;
  /** Absolute path the source root maps to (the directory to fill, or the target file). */
  target: string;
  /** True for `SRC/`: the contents of SRC are transferred, not SRC itself. */
  contentsOnly: boolean;
}

/**
 * Makes a path absolute against the current directory and removes `.`/`..` segments and
 * duplicate or trailing slashes (lexically).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { absolutePath } from "./target.ts";
 * strictEqual(absolutePath("/a/./b/../c/"), "/a/c");
 * ```
 *
 * @param path A local path.
 * @returns The normalised absolute path.
 */
export function absolutePath(path: string): string {
  const joined = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  const parts: string[] = [];
  for (const part of joined.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** Real path of `path`, or of its deepest existing ancestor joined with the missing rest. */
function realish(path: string): string {
  const missing: string[] = [];
  let current = path;
  while (true) {
    try {
      const real = Deno.realPathSync(current);
      return missing.length === 0 ? real : `${real === "/" ? "" : real}/${missing.join("/")}`;
    } catch {
      if (current === "/") return path;
      missing.unshift(basename(current));
      current = current.slice(0, current.lastIndexOf("/")) || "/";
    }
  }
}

function isInside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent === "/" ? "/" : `${parent}/`);
}

/**
 * Resolves the source and target of a local transfer.
 *
 * - `SRC/` (a directory with a trailing slash): the contents of SRC go into DST.
 * - `SRC` without a slash: DST/<basename of SRC> when DST is an existing directory or ends with
 *   `/`; otherwise DST itself is the target (file-to-file copy, or a rename of the tree root).
 *
 * @param operation The verb, for the overlap rules.
 * @param source The source as given.
 * @param destination The destination as given.
 * @throws {UsageError} When the source is missing, or source and target overlap.
 * @returns The resolved roots.
 */
export function resolveRoots(
  operation: TransferOperation,
  source: string,
  destination: string,
): TransferRoots {
  if (source === "") throw new UsageError("Cannot transfer: the source path is empty");
  if (destination === "") throw new UsageError("Cannot transfer: the destination path is empty");
  const sourceAbs = absolutePath(source);
  let info: Deno.FileInfo | null;
  try {
    info = lstatOrNull(sourceAbs);
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n", 1)[0] : String(error);
    throw new UsageError(`Cannot read source "${source}": ${reason}`);
  }
  if (!info) throw new UsageError(`Cannot find source "${source}": check the path`);
  const slash = source.endsWith("/");
  // A trailing slash on a link to a directory means "the directory it points to".
  if (slash && info.isSymlink) {
    try {
      info = Deno.statSync(sourceAbs);
    } catch {
      throw new UsageError(`Cannot read source "${source}": the link's target is missing`);
    }
  }
  const sourceKind: EntryKind = info.isDirectory ? "dir" : info.isSymlink ? "symlink" : "file";
  if (slash && sourceKind !== "dir") {
    throw new UsageError(`Cannot copy the contents of "${source}": it is not a directory`);
  }
  const contentsOnly = slash && sourceKind === "dir";
  const sourceRoot = contentsOnly ? realish(sourceAbs) : sourceAbs;
  if (!contentsOnly && sourceAbs === "/") {
    throw new UsageError(`Cannot transfer "/" itself: give "/" with a trailing slash as SRC/`);
  }
  const destAbs = absolutePath(destination);
  let destInfo: Deno.FileInfo | null = null;
  try {
    destInfo = Deno.statSync(destAbs);
  } catch { /* missing or dangling: the exact target */ }
  const intoDir = !contentsOnly && (destination.endsWith("/") || destInfo?.isDirectory === true);
  const target = intoDir ? `${destAbs === "/" ? "" : destAbs}/${basename(sourceAbs)}` : destAbs;
  if (sourceKind === "dir") {
    const realSource = realish(sourceRoot);
    const realTarget = realish(target);
    if (realSource === realTarget) {
      throw new UsageError(
        `Cannot transfer "${source}" onto itself: choose a destination outside the source`,
      );
    }
    if (isInside(realTarget, realSource)) {
      throw new UsageError(
        `Cannot transfer "${source}" into "${destination}": the destination is inside the source`,
      );
    }
    if (operation === "mirror" && isInside(realSource, realTarget)) {
      throw new UsageError(
        `Cannot mirror "${source}" into "${destination}": the source is inside the destination and would be deleted`,
      );
    }
  } else if (realish(sourceAbs) === realish(target)) {
    throw new UsageError(`Cannot transfer "${source}" onto itself: choose another destination`);
  }
  return { source: sourceRoot, sourceKind, target, contentsOnly };
}
