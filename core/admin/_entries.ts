/**
 * Internal helpers of the admin operations: reading a directory's names, and turning an entry's
 * facts into the plain shapes of `types.ts`.
 *
 * @module
 */

import { PathEscapeError } from "../paths.ts";
import type { TreeDir } from "../tree.ts";
import type { EntryInfo } from "../types.ts";
import { AdminError } from "./admin_error.ts";
import { ADMIN_LIMITS } from "./admin_limits.ts";
import type { ListedEntry } from "./types.ts";

const encoder = new TextEncoder();

/**
 * Reads and sorts (by UTF-16 code units) the names of a directory, temporaries included.
 * @param dir The directory.
 * @throws {AdminError} `too-large` for more than {@linkcode ADMIN_LIMITS.namesPerDirectory}.
 * @returns The names.
 */
export function readNames(dir: TreeDir): string[] {
  const items = dir.list();
  if (items.length > ADMIN_LIMITS.namesPerDirectory) {
    throw new AdminError(
      "too-large",
      `Cannot read a directory of more than ${ADMIN_LIMITS.namesPerDirectory} entries`,
    );
  }
  return items.map((item) => item.name).sort((a, b) => a < b ? -1 : a > b ? 1 : 0);
}

/**
 * The size `lstat` reports: 0 for a directory, the target's UTF-8 length for a link.
 * @param info The entry's facts.
 * @returns Bytes.
 */
export function sizeOf(info: EntryInfo): number {
  if (info.kind === "dir") return 0;
  if (info.kind === "symlink") return encoder.encode(info.linkTarget ?? "").length;
  return info.size;
}

/**
 * The modification time as ISO 8601, to the millisecond.
 * @param info The entry's facts.
 * @returns The time.
 */
export function mtimeOf(info: EntryInfo): string {
  return new Date(Math.trunc(info.mtimeMs)).toISOString();
}

/**
 * An entry of a listing.
 * @param name The entry's name.
 * @param info Its facts.
 * @returns The listed entry.
 */
export function listedEntryOf(name: string, info: EntryInfo): ListedEntry {
  const entry: ListedEntry = {
    name,
    type: info.kind,
    size: sizeOf(info),
    mtime: mtimeOf(info),
    mode: info.mode,
  };
  if (info.kind === "symlink") entry.link_target = info.linkTarget ?? "";
  return entry;
}

/**
 * Strips the trailing slashes a client may have kept ("dir/" names "dir").
 * @param rel A path as requested.
 * @returns The path without trailing slashes.
 */
export function trimSlashes(rel: string): string {
  return rel.replace(/\/+$/, "");
}

/**
 * Whether an error ends a walk (deadline, cancel) rather than skipping one directory.
 * @param error The caught value.
 * @returns True for an {@linkcode AdminError} other than `too-large`.
 */
export function isFatal(error: unknown): boolean {
  return error instanceof AdminError && error.code !== "too-large";
}

/**
 * Whether an error opening a directory of a walk says it is no longer one (it became a file or
 * a link): the walk skips it, as it would have had it seen the new entry.
 * @param error The caught value.
 * @returns True when the directory is no longer a directory.
 */
export function isNoLongerDir(error: unknown): boolean {
  return error instanceof Deno.errors.NotADirectory || error instanceof PathEscapeError;
}
