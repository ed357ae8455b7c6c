/**
 * The weak checksums of many whole blocks at once, for signing a basis: the sums of
 * {@linkcode weakSums} (rsync's), computed 16 bytes a step with WebAssembly SIMD
 * (`wasm/weak_sums.wat`, about 10 GB/s here against 1.2 GB/s for the byte loop), over bytes read
 * straight into the module's memory. Where WebAssembly SIMD is missing, or the block length is
 * not a multiple of 16, the byte loop computes the same sums.
 *
 * @module
 */

import { WEAK_SUMS_WASM_BASE64 } from "./wasm/weak_sums_wasm.ts";
import { joinWeak, weakSums } from "./weak_sum.ts";

/** The compiled module, or `null` where WebAssembly SIMD is not available. */
let compiled: WebAssembly.Module | null | undefined;

function weakSumsModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  const bytes = Uint8Array.from(atob(WEAK_SUMS_WASM_BASE64), (c) => c.charCodeAt(0));
  compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  return compiled;
}

/** The WebAssembly function: sums of the whole blocks in `[ptr, ptr + len)` written at `out`. */
type BlockSumsFn = (ptr: number, len: number, block: number, out: number) => number;

/** An instance of the module over its own memory. */
interface WasmSums {
  memory: WebAssembly.Memory;
  /** Where in the memory the input starts. */
  at: number;
  blockSums: BlockSumsFn;
  /** Where in the memory the module writes the checksums (after the input, aligned). */
  sumsAt: number;
}

const PAGE_BYTES = 65536;
/** Smallest block the module is given (the sums array needs 4 bytes per block). */
const MIN_BLOCK_BYTES = 16;

/**
 * An input buffer and the weak checksums of its blocks.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { BlockWeakSums } from "./block_sums.ts";
 * import { joinWeak, weakSums } from "./weak_sum.ts";
 * const sums = new BlockWeakSums(4096);
 * sums.input.set(crypto.getRandomValues(new Uint8Array(3000)));
 * const out = new Uint32Array(3);
 * strictEqual(sums.compute(3000, 1024, out, 0), 3);
 * strictEqual(out[2], joinWeak(weakSums(sums.input, 2048, 3000)));
 * ```
 */
export class BlockWeakSums {
  /** Where the caller puts the bytes to sum (a view of the module's memory when there is one). */
  readonly input: Uint8Array;
  /** The module's instance, or `null` where WebAssembly SIMD is missing. */
  readonly #wasm: WasmSums | null = null;

  /**
   * @param inputBytes The size of {@linkcode BlockWeakSums.input}.
   * @param shared Another module's memory to work in instead of its own (a
   * {@linkcode StrongHash}'s, so that one read feeds both sums): the input starts at `at`, and
   * {@linkcode BlockWeakSums.bytesFor} bytes from there must be free.
   */
  constructor(inputBytes: number, shared?: { memory: WebAssembly.Memory; at: number }) {
    const module = weakSumsModule();
    if (module === null) {
      this.input = shared
        ? new Uint8Array(shared.memory.buffer, shared.at, inputBytes)
        : new Uint8Array(inputBytes);
      return;
    }
    const at = shared?.at ?? 0;
    const sumsAt = at + Math.ceil(inputBytes / MIN_BLOCK_BYTES) * MIN_BLOCK_BYTES;
    const memory = shared?.memory ??
      new WebAssembly.Memory({
        initial: Math.ceil(BlockWeakSums.bytesFor(inputBytes) / PAGE_BYTES),
      });
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    this.#wasm = { memory, at, sumsAt, blockSums: instance.exports.blockSums as BlockSumsFn };
    this.input = new Uint8Array(memory.buffer, at, inputBytes);
  }

  /**
   * The memory an instance with `inputBytes` of input works in: the input, then room for the
   * checksums of its smallest blocks.
   *
   * @example Usage
   * ```ts
   * import { strictEqual } from "node:assert/strict";
   * import { BlockWeakSums } from "./block_sums.ts";
   * strictEqual(BlockWeakSums.bytesFor(1024), 1024 + 256);
   * ```
   *
   * @param inputBytes The input's size.
   * @returns Bytes of memory.
   */
  static bytesFor(inputBytes: number): number {
    const rounded = Math.ceil(inputBytes / MIN_BLOCK_BYTES) * MIN_BLOCK_BYTES;
    return rounded + 4 * (rounded / MIN_BLOCK_BYTES);
  }

  /**
   * Writes the weak checksum of each block of `input[0..length)` (the last one may be shorter)
   * to `out` from `outAt` on.
   * @param length Bytes of input to sum.
   * @param blockSize The block length.
   * @param out Where the checksums go.
   * @param outAt The index of the first block's checksum.
   * @throws {RangeError} When `length` is beyond the input or `blockSize` is not positive.
   * @returns How many blocks were summed.
   */
  compute(length: number, blockSize: number, out: Uint32Array, outAt: number): number {
    if (length > this.input.length || !(blockSize > 0)) {
      throw new RangeError(`Cannot sum ${length} bytes in blocks of ${blockSize}`);
    }
    let whole = 0;
    const wasm = this.#wasm;
    if (wasm !== null && blockSize % MIN_BLOCK_BYTES === 0) {
      whole = wasm.blockSums(wasm.at, length, blockSize, wasm.sumsAt);
      out.set(new Uint32Array(wasm.memory.buffer, wasm.sumsAt, whole), outAt);
    }
    let block = whole;
    for (let start = whole * blockSize; start < length; start += blockSize, block++) {
      const end = Math.min(length, start + blockSize);
      out[outAt + block] = joinWeak(weakSums(this.input, start, end));
    }
    return block;
  }
}
