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

/** Bytes written synchronously between two {@linkcode yieldToEventLoop} calls of a long run. */
export const YIELD_EVERY_BYTES = 16 * 1024 * 1024;

/**
 * Lets the event loop run timers and signal handlers (a progress line, a deadline, Ctrl-C): a
 * run of synchronous writes fed by reads that complete at once (data already buffered) never
 * gives it a turn otherwise.
 *
 * @example Usage
 * ```ts
 * import { yieldToEventLoop } from "./file_write.ts";
 * await yieldToEventLoop();
 * ```
 *
 * @returns After one turn of the event loop.
 */
export function yieldToEventLoop(): Promise<void> {
  // A message, not `setTimeout(…, 0)`: timers set from timer-driven code are clamped to 4 ms
  // after a few levels (measured: 64 yields took 153 ms with timers, 11 ms with messages).
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
    port2.close();
  });
}

/**
 * Counts the bytes of a long run of synchronous writes and gives the event loop a turn
 * ({@linkcode yieldToEventLoop}) after every {@linkcode YIELD_EVERY_BYTES}.
 *
 * @example Usage
 * ```ts
 * import { EventLoopTurns } from "./file_write.ts";
 * const turns = new EventLoopTurns();
 * await turns.after(1024); // no turn yet
 * ```
 */
export class EventLoopTurns {
  #since = 0;

  /**
   * Counts `bytes` written.
   * @param bytes Bytes just written.
   * @returns When the event loop had its turn (at once when none is due).
   */
  async after(bytes: number): Promise<void> {
    this.#since += bytes;
    if (this.#since < YIELD_EVERY_BYTES) return;
    this.#since = 0;
    await yieldToEventLoop();
  }
}
