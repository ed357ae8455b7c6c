/**
 * The weak rolling checksum of the delta algorithm: rsync's (Tridgell and Mackerras, "The rsync
 * algorithm", 1996), two 16-bit sums of a block that slide by one byte in constant time.
 *
 * For the bytes x₀ … x_{L−1} of a block: `a = Σ xᵢ mod 2¹⁶`, `b = Σ (L − i)·xᵢ mod 2¹⁶`, and the
 * checksum is `a | b << 16` (an unsigned 32-bit number). Moving the block one byte on (dropping
 * `out`, taking `in`): `a' = a − out + in`, `b' = b − L·out + a'`.
 *
 * @module
 */

/**
 * The two sums of a block, before they are joined. Kept apart while rolling.
 */
export interface WeakSums {
  /** Sum of the bytes, mod 2¹⁶. */
  a: number;
  /** Sum of the bytes weighted by their distance from the block's end, mod 2¹⁶. */
  b: number;
}

/**
 * Computes the sums of `bytes[start..end)` from scratch.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { joinWeak, weakSums } from "./weak_sum.ts";
 * const s = weakSums(new Uint8Array([1, 2, 3]), 0, 3);
 * strictEqual(s.a, 6);
 * strictEqual(s.b, 3 * 1 + 2 * 2 + 1 * 3);
 * strictEqual(joinWeak(s), 6 | (10 << 16));
 * ```
 *
 * @param bytes The buffer.
 * @param start First byte of the block.
 * @param end One past its last byte.
 * @returns The sums.
 */
export function weakSums(bytes: Uint8Array, start: number, end: number): WeakSums {
  let a = 0;
  let b = 0;
  let i = start;
  // Four bytes a step (rsync's unrolling); the sums are cut to 16 bits every 1,024 steps, so
  // that they stay exact small integers.
  while (i + 4 <= end) {
    const stop = Math.min(end - 3, i + 4096);
    for (; i < stop; i += 4) {
      const x0 = bytes[i]!;
      const x1 = bytes[i + 1]!;
      const x2 = bytes[i + 2]!;
      const x3 = bytes[i + 3]!;
      b += 4 * (a + x0) + 3 * x1 + 2 * x2 + x3;
      a += x0 + x1 + x2 + x3;
    }
    a &= 0xffff;
    b &= 0xffff;
  }
  for (; i < end; i++) {
    a += bytes[i]!;
    b += a;
  }
  return { a: a & 0xffff, b: b & 0xffff };
}

/**
 * Joins the two sums into the 32-bit checksum.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { joinWeak } from "./weak_sum.ts";
 * strictEqual(joinWeak({ a: 0xffff, b: 0xffff }), 0xffffffff);
 * ```
 *
 * @param sums The sums.
 * @returns `a | b << 16`, unsigned.
 */
export function joinWeak(sums: WeakSums): number {
  return (sums.a | (sums.b << 16)) >>> 0;
}

/**
 * Slides the sums of a block of `length` bytes one byte on, in place.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { rollWeak, weakSums } from "./weak_sum.ts";
 * const bytes = new Uint8Array([9, 1, 2, 3, 4]);
 * const sums = weakSums(bytes, 0, 3);
 * rollWeak(sums, 3, bytes[0]!, bytes[3]!);
 * deepStrictEqual(sums, weakSums(bytes, 1, 4));
 * ```
 *
 * @param sums The sums of the block, updated.
 * @param length The block length.
 * @param out The byte that leaves (the block's first).
 * @param incoming The byte that enters (the one after the block's last).
 */
export function rollWeak(sums: WeakSums, length: number, out: number, incoming: number): void {
  sums.a = (sums.a - out + incoming) & 0xffff;
  sums.b = (sums.b - length * out + sums.a) & 0xffff;
}
