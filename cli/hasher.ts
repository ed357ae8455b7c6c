/**
 * Chooses the CLI's file hasher.
 *
 * @module
 */

import { type FileHasher, hashFileNative, hashFileWasm } from "../core/hash.ts";

/**
 * Returns the native xxHash3-64 hasher when its addon loads (FFI granted), else the
 * WebAssembly one; both give identical digests.
 * @returns A file hasher.
 */
export async function pickHasher(): Promise<FileHasher> {
  try {
    const { xxh3 } = await import("@node-rs/xxhash");
    xxh3.Xxh3.withSeed(0n).update(new Uint8Array(1)).digest();
    return hashFileNative;
  } catch {
    return hashFileWasm;
  }
}

/**
 * A hasher that makes the choice of {@linkcode pickHasher} on its first call, so that a run
 * that hashes nothing never loads an npm package (the first one loaded costs about 40 ms).
 * @returns A file hasher.
 */
export function lazyHasher(): FileHasher {
  let chosen: Promise<FileHasher> | undefined;
  return async (file) => {
    chosen ??= pickHasher();
    return await (await chosen)(file);
  };
}
