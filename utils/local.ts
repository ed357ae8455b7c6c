/**
 * The read-only admin verbs on local paths (`ls`, `find`, `du`): the same operations the
 * daemon runs, confined to the named directory.
 *
 * @module
 */

import {
  type FoundEntry,
  foundEntryFromWire,
  listedEntryFromWire,
  type Listing,
  type StreamEnd,
  type UsageEntry,
  usageEntryFromWire,
} from "../core/admin_client.ts";
import { ContainedRoot } from "../core/paths.ts";
import { FindKind } from "../proto/gen/blit_pb.ts";
import {
  AdminBudget,
  diskUsage,
  findEntries,
  listDirectory,
  toAdminError,
} from "../daemon/admin_service.ts";

/** How long a local walk may run, in milliseconds (a day: the user can press Ctrl-C). */
const LOCAL_WALK_MS = 86_400_000;

/** Splits a local path into the directory to open and the name inside it. */
function split(path: string): { dir: string; name: string } {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  const cut = trimmed.lastIndexOf("/");
  if (cut < 0) return { dir: ".", name: trimmed };
  return { dir: cut === 0 ? "/" : trimmed.slice(0, cut), name: trimmed.slice(cut + 1) };
}

function rethrow(error: unknown, action: string, path: string): never {
  throw toAdminError(error, action, path, "");
}

/**
 * Lists a local directory, or shows one entry when `path` is not a directory.
 *
 * Requires `--allow-read` for `path`.
 *
 * @param path The local path.
 * @returns The listing.
 */
export async function listLocal(path: string): Promise<Listing> {
  const budget = new AdminBudget(`list "${path}"`, LOCAL_WALK_MS);
  try {
    const info = await Deno.stat(path).catch(() => null);
    if (info?.isDirectory) {
      const root = await ContainedRoot.open(path);
      const listing = await listDirectory(root, "", { budget, limit: Number.MAX_SAFE_INTEGER });
      return { entries: listing.entries.map(listedEntryFromWire), truncated: listing.truncated };
    }
    const { dir, name } = split(path);
    if (name === "" || name === "." || name === "..") {
      throw new Deno.errors.NotFound(`Cannot list "${path}"`);
    }
    const root = await ContainedRoot.open(dir);
    const listing = await listDirectory(root, name, { budget });
    return { entries: listing.entries.map(listedEntryFromWire), truncated: false };
  } catch (error) {
    rethrow(error, "list", path);
  }
}

/** A local find query. */
export interface LocalFindQuery {
  /** Glob matched against names. */
  pattern: string;
  /** Which kinds to report. */
  kind: "all" | "files" | "dirs";
  /** Match case-insensitively. */
  caseInsensitive: boolean;
  /** Most results (0 = no limit). */
  limit: number;
}

/**
 * Searches a local directory by name; paths are relative to it.
 * @param path The local directory.
 * @param query Pattern, kinds and limit.
 * @returns The matches; the return value tells how the walk ended.
 */
export async function* findLocal(
  path: string,
  query: LocalFindQuery,
): AsyncGenerator<FoundEntry, StreamEnd> {
  let results;
  try {
    const root = await ContainedRoot.open(path);
    results = findEntries(root, "", {
      budget: new AdminBudget(`search "${path}"`, LOCAL_WALK_MS),
      pattern: query.pattern,
      kind: query.kind === "files"
        ? FindKind.FILES
        : query.kind === "dirs"
        ? FindKind.DIRS
        : FindKind.UNSPECIFIED,
      caseInsensitive: query.caseInsensitive,
      limit: query.limit === 0 ? Number.MAX_SAFE_INTEGER : query.limit,
    });
  } catch (error) {
    rethrow(error, "search", path);
  }
  for (;;) {
    let step;
    try {
      step = await results.next();
    } catch (error) {
      rethrow(error, "search", path);
    }
    if (step.done) return step.value;
    yield foundEntryFromWire(step.value);
  }
}

/**
 * Totals a local directory per subdirectory, deepest first; paths are relative to it.
 * @param path The local directory.
 * @param maxDepth Report directories down to this depth.
 * @returns The entries; the return value tells how the walk ended.
 */
export async function* usageLocal(
  path: string,
  maxDepth: number,
): AsyncGenerator<UsageEntry, StreamEnd> {
  let entries;
  try {
    const root = await ContainedRoot.open(path);
    entries = diskUsage(root, "", {
      budget: new AdminBudget(`total "${path}"`, LOCAL_WALK_MS),
      maxDepth,
      limit: Number.MAX_SAFE_INTEGER,
    });
  } catch (error) {
    rethrow(error, "total", path);
  }
  for (;;) {
    let step;
    try {
      step = await entries.next();
    } catch (error) {
      rethrow(error, "total", path);
    }
    if (step.done) return step.value;
    yield usageEntryFromWire(step.value);
  }
}
