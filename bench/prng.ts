/**
 * A small deterministic pseudo-random generator (xoshiro128**, seeded through splitmix32), so
 * that benchmark workloads are byte-for-byte reproducible. Never use `Math.random` in the bench.
 *
 * @module
 */

/** Advances a splitmix32 state and returns the next state and output. */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) >>> 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return [next, (z ^ (z >>> 16)) >>> 0];
}

/**
 * Deterministic pseudo-random number generator (xoshiro128**).
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * import { Prng } from "./prng.ts";
 * assertEquals(new Prng(7).nextU32(), new Prng(7).nextU32());
 * ```
 */
export class Prng {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  /**
   * Creates a generator from a 32-bit seed; equal seeds give equal sequences.
   * @param seed Any integer; only its low 32 bits are used.
   */
  constructor(seed: number) {
    let state = seed >>> 0;
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [next, out] = splitmix32(state);
      state = next;
      words.push(out);
    }
    this.#s0 = words[0] ?? 1;
    this.#s1 = words[1] ?? 2;
    this.#s2 = words[2] ?? 3;
    this.#s3 = words[3] ?? 4;
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /**
   * Returns the next unsigned 32-bit integer.
   * @returns An integer in [0, 2^32).
   */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.#s1 << 9) >>> 0;
    this.#s2 = (this.#s2 ^ this.#s0) >>> 0;
    this.#s3 = (this.#s3 ^ this.#s1) >>> 0;
    this.#s1 = (this.#s1 ^ this.#s2) >>> 0;
    this.#s0 = (this.#s0 ^ this.#s3) >>> 0;
    this.#s2 = (this.#s2 ^ t) >>> 0;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /**
   * Returns a float in [0, 1).
   * @returns The next value.
   */
  float(): number {
    return this.nextU32() / 4294967296;
  }

  /**
   * Returns an integer in [0, n).
   * @param n Exclusive upper bound, at least 1.
   * @returns The next value.
   */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /**
   * Returns 0 … n−1 in a random order (Fisher–Yates, from the last index down).
   * @param n How many.
   * @returns The order.
   */
  permutation(n: number): number[] {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = order[i] ?? 0;
      order[i] = order[j] ?? 0;
      order[j] = t;
    }
    return order;
  }

  /**
   * Returns an integer in [min, max], log-uniformly distributed.
   * @param min Inclusive lower bound, at least 1.
   * @param max Inclusive upper bound.
   * @returns The next value.
   */
  logUniform(min: number, max: number): number {
    const lo = Math.log(min);
    const hi = Math.log(max + 1);
    return Math.min(max, Math.max(min, Math.floor(Math.exp(lo + this.float() * (hi - lo)))));
  }

  /**
   * Fills a buffer with pseudo-random bytes.
   * @param buf The buffer to fill; its byte length need not be a multiple of 4.
   */
  fill(buf: Uint8Array): void {
    const words = Math.floor(buf.byteLength / 4);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    for (let i = 0; i < words; i++) view.setUint32(i * 4, this.nextU32(), true);
    for (let i = words * 4; i < buf.byteLength; i++) buf[i] = this.nextU32() & 0xff;
  }
}

/** Rotates a 32-bit value left. */
function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
