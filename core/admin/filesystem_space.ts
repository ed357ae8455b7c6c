/**
 * `df`: the capacity of a filesystem.
 *
 * @module
 */

import { promises as nodeFs } from "node:fs";
import type { SpaceReport } from "./types.ts";

/**
 * Measures the filesystem that holds `path` (`statfs(2)` through `node:fs`). It takes a local
 * path rather than a tree: `statfs` names a filesystem, not an entry, and a contained tree does
 * not expose its location.
 *
 * Requires `--allow-read` for `path` and `--allow-sys=statfs`.
 *
 * @example Usage
 * ```ts ignore
 * import { filesystemSpace } from "./mod.ts";
 * const space = await filesystemSpace("/srv/photos");
 * console.log(space.free_bytes);
 * ```
 *
 * @param path A directory on the filesystem.
 * @throws {Deno.errors.NotCapable} Without `--allow-sys=statfs`.
 * @returns Total, used and free bytes.
 */
export async function filesystemSpace(path: string): Promise<SpaceReport> {
  const s = await nodeFs.statfs(path, { bigint: true });
  return {
    total_bytes: Number(s.blocks * s.bsize),
    used_bytes: Number((s.blocks - s.bfree) * s.bsize),
    free_bytes: Number(s.bavail * s.bsize),
  };
}
