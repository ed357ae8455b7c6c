/**
 * Internal helpers of the admin operations: reading a directory, and turning an entry's facts into
 * the plain shapes of `types.ts`.
 *
 * @module
 */

import type { Tree } from "../tree.ts";
import type { EntryInfo } from "../types.ts";
import { type DirectoryListing, readDirectory } from "../walk.ts";
import { AdminError } from "./admin_error.ts";
import { ADMIN_LIMITS } from "./admin_limits.ts";
import type { ListedEntry } from "./types.ts";

const encoder = new TextEncoder();

/**
 * Opens and reads a directory as the admin operations do: through {@linkcode readDirectory}
 * (strictly, names sorted), refusing more than {@linkcode ADMIN_LIMITS.namesPerDirectory} names.
 * @param tree The tree.
 * @param rel Path of the directory in the tree.
 * @param options Whether blit's temporaries are kept (by default they are left out).
 * @throws {AdminError} `too-large` for more than {@linkcode ADMIN_LIMITS.namesPerDirectory} names.
 * @throws {Deno.errors.NotFound} Or any other error of {@linkcode readDirectory}, as it is.
 * @returns The open directory and its names.
 */
export function readAdminDirectory(
  tree: Tree,
  rel: string,
  options: { temporaries?: boolean } = {},
): DirectoryListing {
  try {
    return readDirectory(tree, rel, { ...options, maxNames: ADMIN_LIMITS.namesPerDirectory });
  } catch (error) {
    if (error instanceof RangeError) throw new AdminError("too-large", error.message);
    throw error;
  }
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
