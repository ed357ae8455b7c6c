/**
 * `--bwlimit`: one byte budget per second, the one rate rule for every path that moves payload —
 * the copy threads of a local run (kept in a `SharedArrayBuffer`, so that workers draw from it
 * without messages) and the data connections of a push or a pull (`transport/rate_limit.ts`).
 *
 * @module
 */

import { sleep } from "./timer.ts";

/** What a synchronous copy loop calls before it moves bytes. */
export interface Pace {
  /**
   * Blocks the calling thread until `bytes` more fit in the rate.
   * @param bytes Bytes about to be written.
   */
  take(bytes: number): void;
}

/** Bytes that may go ahead of the rate at once: a quarter of a second's worth. */
const BURST_SECONDS = 0.25;

/** Smallest piece a paced connection moves per call. */
const MIN_SLICE_BYTES = 4 * 1024;

/**
 * A rate shared across threads: a "theoretical arrival time" (rsync's and GCRA's virtual clock,
 * microseconds since the epoch) that each {@linkcode SharedPace.take} moves forward by the
 * bytes' share of a second, sleeping (`Atomics.wait`) when it runs ahead of now by more than the
 * burst; {@linkcode SharedPace.wait} waits with a timer instead, for code that must not block.
 * Give `buffer` and `bytesPerSecond` to a worker and rebuild it there with
 * {@linkcode SharedPace.from}.
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { SharedPace } from "./shared_pace.ts";
 * const pace = SharedPace.create(1_000_000); // 1 MB/s
 * const start = performance.now();
 * for (let i = 0; i < 5; i++) pace.take(100_000); // 0.5 s of budget, 0.25 s of it burst
 * ok(performance.now() - start >= 200);
 * ```
 */
export class SharedPace implements Pace {
  /** The shared state: 8 bytes of clock, 4 bytes to sleep on. */
  readonly buffer: SharedArrayBuffer;
  /** The rate. */
  readonly bytesPerSecond: number;
  readonly #clock: BigInt64Array;
  readonly #sleeper: Int32Array;

  private constructor(buffer: SharedArrayBuffer, bytesPerSecond: number) {
    this.buffer = buffer;
    this.bytesPerSecond = bytesPerSecond;
    this.#clock = new BigInt64Array(buffer, 0, 1);
    this.#sleeper = new Int32Array(buffer, 8, 1);
  }

  /**
   * Creates a pace.
   * @param bytesPerSecond The rate, above 0.
   * @returns The pace.
   */
  static create(bytesPerSecond: number): SharedPace {
    return new SharedPace(new SharedArrayBuffer(16), bytesPerSecond);
  }

  /**
   * The same pace on another thread.
   * @param buffer {@linkcode SharedPace.buffer} of the original.
   * @param bytesPerSecond Its rate.
   * @returns A pace drawing on the same budget.
   */
  static from(buffer: SharedArrayBuffer, bytesPerSecond: number): SharedPace {
    return new SharedPace(buffer, bytesPerSecond);
  }

  /** Most bytes one read or write should move at once: the burst, at least 4 KiB. */
  get sliceBytes(): number {
    return Math.max(MIN_SLICE_BYTES, Math.floor(this.bytesPerSecond * BURST_SECONDS));
  }

  take(bytes: number): void {
    const waitMs = this.#reserve(bytes);
    if (waitMs > 0) Atomics.wait(this.#sleeper, 0, 0, waitMs);
  }

  /**
   * Waits, with a timer, until `bytes` more fit in the rate (a data connection's pace).
   * @param bytes Bytes about to move (or just moved).
   * @returns When they may.
   */
  async wait(bytes: number): Promise<void> {
    const waitMs = this.#reserve(bytes);
    if (waitMs > 0) await sleep(waitMs);
  }

  /** Books `bytes` on the shared clock; returns how long the caller must wait first (ms). */
  #reserve(bytes: number): number {
    const cost = BigInt(Math.ceil(bytes * 1e6 / this.bytesPerSecond));
    const burst = BigInt(Math.round(BURST_SECONDS * 1e6));
    for (;;) {
      const now = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
      const old = Atomics.load(this.#clock, 0);
      const next = (old > now ? old : now) + cost;
      if (Atomics.compareExchange(this.#clock, 0, old, next) !== old) continue;
      return Number(next - now - burst) / 1000;
    }
  }
}
