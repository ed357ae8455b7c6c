/**
 * `--bwlimit`: one byte budget per second shared by all of a session's data connections.
 *
 * @module
 */

import type { MeteredConn } from "./wire_meter.ts";

/** Smallest piece a limited connection moves per call. */
const MIN_SLICE_BYTES = 4 * 1024;

/**
 * A token bucket: {@linkcode take} waits until `bytes` fit in the rate. Bursts are capped at a
 * quarter second of the rate, so the average holds over any stretch longer than that.
 *
 * @example Usage
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { RateLimiter } from "./rate_limit.ts";
 * const limiter = new RateLimiter(400_000); // 400 kB/s
 * const start = performance.now();
 * for (let i = 0; i < 4; i++) await limiter.take(50_000); // 200 kB: ~0.5 s minus the burst
 * ok(performance.now() - start >= 200);
 * ```
 */
export class RateLimiter {
  readonly #bytesPerSecond: number;
  readonly #burst: number;
  #available: number;
  #last = performance.now();
  #queue: Promise<void> = Promise.resolve();

  /**
   * Creates a limiter.
   * @param bytesPerSecond The rate, above 0.
   */
  constructor(bytesPerSecond: number) {
    this.#bytesPerSecond = bytesPerSecond;
    this.#burst = Math.max(MIN_SLICE_BYTES, bytesPerSecond / 4);
    this.#available = this.#burst;
  }

  /** Most bytes one read or write should move at once (a quarter second, at least 4 KiB). */
  get sliceBytes(): number {
    return Math.floor(this.#burst);
  }

  /**
   * Waits until `bytes` more may move; callers are served in order.
   * @param bytes Bytes about to move (or just moved).
   * @returns When they may.
   */
  take(bytes: number): Promise<void> {
    const turn = this.#queue.then(() => this.#wait(bytes));
    this.#queue = turn;
    return turn;
  }

  async #wait(bytes: number): Promise<void> {
    const now = performance.now();
    this.#available = Math.min(
      this.#burst,
      this.#available + (now - this.#last) * this.#bytesPerSecond / 1000,
    );
    this.#last = now;
    this.#available -= bytes;
    if (this.#available >= 0) return;
    const waitMs = -this.#available * 1000 / this.#bytesPerSecond;
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}

/**
 * Wraps a connection so that its reads and writes, together with those of every other
 * connection on the same limiter, stay within the limiter's rate. Each call moves at most
 * {@linkcode RateLimiter.sliceBytes}, so no single wait is long.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { limitConn, RateLimiter } from "./rate_limit.ts";
 * const conn = limitConn({
 *   read: () => Promise.resolve(0),
 *   write: (p: Uint8Array) => Promise.resolve(p.length),
 *   close: () => {},
 * }, new RateLimiter(1_000_000));
 * strictEqual(await conn.write(new Uint8Array(1_000_000)), 250_000);
 * ```
 *
 * @param conn The connection.
 * @param limiter The session's limiter.
 * @returns The limited connection.
 */
export function limitConn(conn: MeteredConn, limiter: RateLimiter): MeteredConn {
  const slice = limiter.sliceBytes;
  const limited: MeteredConn = {
    read: async (p) => {
      const n = await conn.read(p.byteLength > slice ? p.subarray(0, slice) : p);
      if (n !== null) await limiter.take(n);
      return n;
    },
    write: async (p) => {
      await limiter.take(Math.min(p.byteLength, slice));
      return await conn.write(p.byteLength > slice ? p.subarray(0, slice) : p);
    },
    close: () => conn.close(),
  };
  if (conn.closeWrite) limited.closeWrite = () => conn.closeWrite!();
  if (conn.handshake) limited.handshake = () => conn.handshake!();
  return limited;
}
