/**
 * The one rule that decides whether a file present on both sides must be sent again.
 *
 * @module
 */

import type { CompareMode } from "./types.ts";

/** What the compare rule needs to know of each side. */
export interface FileFacts {
  /** Size in bytes. */
  size: number;
  /** Modification time in milliseconds since the epoch. */
  mtimeMs: number;
}

/**
 * Returns whether two modification times are the same to the millisecond, the precision Deno's
 * file information keeps.
 *
 * @param a First time in milliseconds.
 * @param b Second time in milliseconds.
 * @returns `true` when both fall in the same millisecond.
 */
export function sameMtime(a: number, b: number): boolean {
  return Math.floor(a) === Math.floor(b);
}

/**
 * Returns whether a destination file's modification time is later than the source's, to the
 * millisecond (`--update` leaves such a file alone).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { isNewer } from "./compare.ts";
 * strictEqual(isNewer(2000, 1000), true);
 * strictEqual(isNewer(1000.4, 1000.9), false);
 * ```
 *
 * @param destinationMs The destination file's time in milliseconds.
 * @param sourceMs The source file's time in milliseconds.
 * @returns `true` when the destination's is later.
 */
export function isNewer(destinationMs: number, sourceMs: number): boolean {
  return Math.floor(destinationMs) > Math.floor(sourceMs);
}

/**
 * Decides, without reading contents, whether `dst` must be replaced by `src`.
 *
 * - `ignore-times`: always.
 * - `size-only`: when the sizes differ.
 * - `size-mtime` (default): when the size or the modification time differs.
 * - `checksum`: when the sizes differ; equal sizes return `"hash"`, meaning the caller must compare
 *   digests to decide.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { needsTransfer } from "./compare.ts";
 * const a = { size: 3, mtimeMs: 1000 };
 * strictEqual(needsTransfer(a, { size: 3, mtimeMs: 1000 }, "size-mtime"), false);
 * strictEqual(needsTransfer(a, { size: 3, mtimeMs: 2000 }, "size-only"), false);
 * strictEqual(needsTransfer(a, { size: 3, mtimeMs: 2000 }, "checksum"), "hash");
 * ```
 *
 * @param src The source file.
 * @param dst The existing destination file.
 * @param mode The compare mode.
 * @returns `true` to transfer, `false` to skip, `"hash"` to decide by digest.
 */
export function needsTransfer(
  src: FileFacts,
  dst: FileFacts,
  mode: CompareMode,
): boolean | "hash" {
  switch (mode) {
    case "ignore-times":
      return true;
    case "size-only":
      return src.size !== dst.size;
    case "checksum":
      return src.size !== dst.size ? true : "hash";
    case "size-mtime":
      return src.size !== dst.size || !sameMtime(src.mtimeMs, dst.mtimeMs);
  }
}
