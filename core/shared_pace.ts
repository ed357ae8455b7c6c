/**
 * `--bwlimit` for local copies: one byte budget per second shared by every copy thread, kept in
 * a `SharedArrayBuffer` so that the workers draw from it without messages.
 *
 * @module
 */

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

/**
 * A rate shared across threads: a "theoretical arrival time" (rsync's and GCRA's virtual clock,
 * microseconds since the epoch) that each {@linkcode SharedPace.take} moves forward by the
 * bytes' share of a second, sleeping (`Atomics.wait`) when it runs ahead of now by more than the
 * burst. Give `buffer` and `bytesPerSecond` to a worker and rebuild it there with
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

  take(bytes: number): void {
    const cost = BigInt(Math.ceil(bytes * 1e6 / this.bytesPerSecond));
    const burst = BigInt(Math.round(BURST_SECONDS * 1e6));
    for (;;) {
      const now = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
      const old = Atomics.load(this.#clock, 0);
      const next = (old > now ? old : now) + cost;
      if (Atomics.compareExchange(this.#clock, 0, old, next) !== old) continue;
      const waitMicros = next - now - burst;
      if (waitMicros > 0n) Atomics.wait(this.#sleeper, 0, 0, Number(waitMicros) / 1000);
      return;
    }
  }
}
