/**
 * The read-only admin verbs on local paths (`ls`, `find`, `du`): the operations of
 * `core/admin/` over a {@linkcode PlainTree} rooted at the named directory. Messages name the
 * path as the user typed it.
 *
 * @module
 */

import {
  AdminBudget,
  diskUsage,
  findEntries,
  type FindScope,
  type FoundEntry,
  listDirectory,
  type Listing,
  type StreamEnd,
  toAdminError,
  type UsageEntry,
} from "../core/admin/mod.ts";
import { PlainTree } from "../core/tree.ts";

/** How long a local walk may run, in milliseconds (a day: the user can press Ctrl-C). */
const LOCAL_WALK_MS = 86_400_000;

/** A plain tree rooted at a local path as typed (made absolute, not normalised). */
function treeAt(path: string): PlainTree {
  return new PlainTree(path.startsWith("/") ? path : `${Deno.cwd()}/${path}`);
}

/** Splits a local path into the directory to open and the name inside it. */
function split(path: string): { dir: string; name: string } {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  const cut = trimmed.lastIndexOf("/");
  if (cut < 0) return { dir: ".", name: trimmed };
  return { dir: cut === 0 ? "/" : trimmed.slice(0, cut), name: trimmed.slice(cut + 1) };
}

/**
 * Lists a local directory, or shows one entry when `path` is not a directory.
 *
 * Requires `--allow-read` for `path`.
 *
 * @param path The local path.
 * @throws {AdminError} When the path cannot be listed (named as typed).
 * @returns The listing.
 */
export async function listLocal(path: string): Promise<Listing> {
  const budget = new AdminBudget(`list "${path}"`, LOCAL_WALK_MS);
  try {
    const info = await Deno.stat(path).catch(() => null);
    if (info?.isDirectory) {
      return await listDirectory(treeAt(path), "", { budget, limit: Number.MAX_SAFE_INTEGER });
    }
    const { dir, name } = split(path);
    if (name === "" || name === "." || name === "..") {
      throw new Deno.errors.NotFound(`Cannot list "${path}"`);
    }
    return await listDirectory(treeAt(dir), name, { budget });
  } catch (error) {
    throw toAdminError(error, "list", path, "");
  }
}

/** A local find query. */
export interface LocalFindQuery {
  /** Glob matched against names. */
  pattern: string;
  /** Which kinds to report. */
  kind: FindScope;
  /** Match case-insensitively. */
  caseInsensitive: boolean;
  /** Most results (0 = no limit). */
  limit: number;
}

/** Re-throws the errors of a walk as {@linkcode AdminError}s naming the path as typed. */
async function* worded<T>(
  action: string,
  path: string,
  open: () => AsyncGenerator<T, StreamEnd>,
): AsyncGenerator<T, StreamEnd> {
  try {
    return yield* open();
  } catch (error) {
    throw toAdminError(error, action, path, "");
  }
}

/**
 * Searches a local directory by name; paths are relative to it.
 *
 * Requires `--allow-read` for `path`.
 *
 * @param path The local directory.
 * @param query Pattern, kinds and limit.
 * @throws {AdminError} When the search cannot run (named as typed).
 * @returns The matches; the return value tells how the walk ended.
 */
export function findLocal(
  path: string,
  query: LocalFindQuery,
): AsyncGenerator<FoundEntry, StreamEnd> {
  return worded("search", path, () =>
    findEntries(treeAt(path), "", {
      budget: new AdminBudget(`search "${path}"`, LOCAL_WALK_MS),
      pattern: query.pattern,
      kind: query.kind,
      caseInsensitive: query.caseInsensitive,
      limit: query.limit === 0 ? Number.MAX_SAFE_INTEGER : query.limit,
    }));
}

/**
 * Totals a local directory per subdirectory, deepest first; paths are relative to it.
 *
 * Requires `--allow-read` for `path`.
 *
 * @param path The local directory.
 * @param maxDepth Report directories down to this depth.
 * @throws {AdminError} When the walk cannot run (named as typed).
 * @returns The entries; the return value tells how the walk ended.
 */
export function usageLocal(path: string, maxDepth: number): AsyncGenerator<UsageEntry, StreamEnd> {
  return worded("total", path, () =>
    diskUsage(treeAt(path), "", {
      budget: new AdminBudget(`total "${path}"`, LOCAL_WALK_MS),
      maxDepth,
      limit: Number.MAX_SAFE_INTEGER,
    }));
}
