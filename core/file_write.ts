/**
 * Writing to files: synchronously, in slices of at most {@linkcode WRITE_SLICE_BYTES}.
 *
 * Measured on this project's machine (a 2-vCPU virtual machine, the page cache dropped before
 * each run, copying 1 GiB already in the page cache into a new file): `writeSync` of 256 KiB
 * took 0.22–0.25 s in 8 runs of 8; `writeSync` of 4 MiB took 0.19–0.26 s in 4 runs and 1.0–2.7 s
 * in 3 (the kernel throttles a writer that dirties many pages per call); asynchronous writes of
 * any size (a hop to an I/O thread and back for each, a wake-up of the other CPU each way) took
 * 0.34–1.5 s.
 *
 * @module
 */

/** The largest single write to a file. */
export const WRITE_SLICE_BYTES = 256 * 1024;

/**
 * Writes all of `bytes` at the file's position, {@linkcode WRITE_SLICE_BYTES} at a time.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { writeFully } from "./file_write.ts";
 * const path = await Deno.makeTempFile();
 * using file = await Deno.open(path, { write: true });
 * writeFully(file, new Uint8Array(600_000).fill(7));
 * strictEqual((await Deno.stat(path)).size, 600_000);
 * await Deno.remove(path);
 * ```
 *
 * @param file An open file (or anything with `writeSync`).
 * @param bytes The bytes.
 * @throws {Error} When a write fails (the file then holds a prefix of `bytes`).
 */
export function writeFully(file: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length;) {
    off += file.writeSync(bytes.subarray(off, Math.min(bytes.length, off + WRITE_SLICE_BYTES)));
  }
}
