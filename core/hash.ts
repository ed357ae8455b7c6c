/**
 * Streaming xxHash3-64 digests of files, the one content hash of blit.
 *
 * The CLI uses the native `Xxh3` class of `npm:@node-rs/xxhash` (needs `--allow-ffi` under Deno);
 * where FFI is not allowed (the daemon) this project's WebAssembly xxHash3 (`core/delta/wasm/`,
 * SIMD, ~20 GB/s here) gives identical digests. Digests are 16 lowercase hex digits.
 *
 * @module
 */

/** Computes the digest of a whole open file, read from its current position to the end. */
export type FileHasher = (file: Deno.FsFile) => Promise<string>;

const CHUNK = 4 * 1024 * 1024;

interface StreamingHash {
  update(data: Uint8Array): unknown;
  digestHex(): string;
}

async function hashWith(
  file: Deno.FsFile,
  hash: StreamingHash,
  buffer: Uint8Array = new Uint8Array(CHUNK),
): Promise<string> {
  while (true) {
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(n === buffer.length ? buffer : buffer.subarray(0, n));
  }
  return hash.digestHex();
}

/**
 * Hashes a file with the native xxHash3-64 (needs `--allow-ffi` for the addon).
 *
 * @param file The open file (the caller closes it).
 * @returns The digest as 16 hex digits.
 */
export async function hashFileNative(file: Deno.FsFile): Promise<string> {
  const { xxh3 } = await import("@node-rs/xxhash");
  const state = xxh3.Xxh3.withSeed(0n);
  return await hashWith(file, {
    update: (data) => state.update(data),
    digestHex: () => state.digest().toString(16).padStart(16, "0"),
  });
}

/**
 * Hashes a file with the WebAssembly xxHash3-64 (no FFI needed).
 *
 * @param file The open file (the caller closes it).
 * @returns The digest as 16 hex digits.
 */
export async function hashFileWasm(file: Deno.FsFile): Promise<string> {
  const { StrongHash } = await import("./delta/strong_hash.ts");
  // A state (4 MiB of WebAssembly memory) from the pool, not one per file.
  const hash = StrongHash.take({ inputBytes: CHUNK });
  try {
    hash.start();
    // Read straight into the module's memory: hashed where the bytes lie.
    return await hashWith(file, {
      update: (data) => hash.update(data),
      digestHex: () => Array.from(hash.finish64(), (b) => b.toString(16).padStart(2, "0")).join(""),
    }, hash.input);
  } finally {
    hash.giveBack();
  }
}

/**
 * Picks the fastest hasher this process may use: native when FFI is granted, else WebAssembly.
 *
 * @returns A file hasher.
 */
export async function defaultHasher(): Promise<FileHasher> {
  const ffi = await Deno.permissions.query({ name: "ffi" });
  return ffi.state === "granted" ? hashFileNative : hashFileWasm;
}

/**
 * Hashes the file at a local path with `hasher` (opens and closes it).
 *
 * @example Usage
 * ```ts ignore
 * import { hashFileWasm, hashPath } from "./hash.ts";
 * console.log(await hashPath(hashFileWasm, "/etc/hostname"));
 * ```
 *
 * @param hasher The hasher.
 * @param path The file.
 * @returns The digest.
 */
export async function hashPath(hasher: FileHasher, path: string): Promise<string> {
  using file = await Deno.open(path, { read: true });
  return await hasher(file);
}
