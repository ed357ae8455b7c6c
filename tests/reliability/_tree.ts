/**
 * Walks a directory tree for the reliability tests, tolerating entries that vanish meanwhile
 * (a transfer may rename or remove them while the test looks).
 *
 * @module
 */

/** A regular file found by {@linkcode walkTree}. */
export interface WalkedFile {
  /** Path relative to the root, with `/`. */
  path: string;
  /** Size in bytes. */
  size: number;
}

/**
 * Yields every regular file under `root` (symlinks are not followed; a missing root yields
 * nothing).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { walkTree } from "./_tree.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a`, "x");
 * const found = [];
 * for await (const file of walkTree(dir)) found.push(file.path);
 * strictEqual(found.join(), "a");
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @param root The directory.
 * @returns The files.
 */
export async function* walkTree(root: string): AsyncGenerator<WalkedFile> {
  const pending = [""];
  while (pending.length > 0) {
    const rel = pending.pop() ?? "";
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(rel === "" ? root : `${root}/${rel}`));
    } catch {
      continue; // gone meanwhile, or not a directory
    }
    for (const entry of entries) {
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory) pending.push(path);
      else if (entry.isFile) {
        const size = await Deno.lstat(`${root}/${path}`).then((info) => info.size, () => -1);
        if (size >= 0) yield { path, size };
      }
    }
  }
}
