/**
 * Block signatures of a basis file (the destination's old copy, or a partial file being
 * resumed): per block a weak rolling checksum and a strong digest, and their wire form. The
 * destination computes one and sends it to the source, which finds those blocks in its new file.
 *
 * Wire form (little-endian): version u8 (1), block size u32, basis size u64, block count u32,
 * then `count` weak checksums (u32 each), then `count` strong digests (16 bytes each).
 *
 * A signature read off the wire is checked against {@linkcode DELTA_CAPS} before anything is
 * allocated for it (rsync's CVE-2024-12084 was a signature whose block length outran its
 * buffer): a block size outside the caps (zero included), more blocks than the cap, a count that
 * does not fit the basis size, or a length that does not fit the count is refused.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import { STRONG_BYTES, StrongHash } from "./strong_hash.ts";
import { BlockWeakSums } from "./block_sums.ts";

/** Limits of the delta algorithm, on both sides of the wire. */
export const DELTA_CAPS: {
  readonly minBlockBytes: number;
  readonly maxBlockBytes: number;
  readonly maxBlocks: number;
  readonly maxLiteralBytes: number;
  readonly maxChain: number;
} = Object.freeze({
  /** Smallest block. */
  minBlockBytes: 1024,
  /** Largest block (1 MiB). */
  maxBlockBytes: 1024 * 1024,
  /** Most blocks in one signature (its wire form is then ~5 MiB). */
  maxBlocks: 256 * 1024,
  /** Largest literal run in one delta instruction. */
  maxLiteralBytes: 1024 * 1024,
  /**
   * Most blocks kept per hash bucket when the source indexes a signature: a signature of many
   * blocks with one weak checksum costs bounded work per byte (rsync's quadratic lookup).
   */
  maxChain: 16,
});

const VERSION = 1;
const HEADER_BYTES = 17;

/** The shape of a signature: what the destination rebuilds against. */
export interface SignatureShape {
  /** Block length in bytes (the last block may be shorter). */
  blockSize: number;
  /** Size of the basis file the signature was made of. */
  basisSize: number;
  /** Number of blocks: `ceil(basisSize / blockSize)`. */
  blockCount: number;
}

/** A basis file's block signature. */
export interface Signature extends SignatureShape {
  /** Weak checksum per block. */
  weak: Uint32Array;
  /** Strong digest per block, {@linkcode STRONG_BYTES} each, back to back. */
  strong: Uint8Array;
}

/**
 * The block size for a basis of `size` bytes: about √size (rsync's rule) in whole KiB, at least
 * {@linkcode DELTA_CAPS.minBlockBytes}, and large enough that the blocks stay within
 * {@linkcode DELTA_CAPS.maxBlocks}; `null` when even the largest block would make too many (such
 * a file travels whole).
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { blockSizeFor } from "./signature.ts";
 * strictEqual(blockSizeFor(1024 ** 3), 32 * 1024);
 * strictEqual(blockSizeFor(10), 1024);
 * strictEqual(blockSizeFor(2 ** 50), null);
 * ```
 *
 * @param size The basis size.
 * @returns The block size, or `null`.
 */
export function blockSizeFor(size: number): number | null {
  const { minBlockBytes, maxBlockBytes, maxBlocks } = DELTA_CAPS;
  const kib = (n: number): number => Math.ceil(n / 1024) * 1024;
  const block = Math.max(minBlockBytes, kib(Math.sqrt(size)), kib(size / maxBlocks));
  return block > maxBlockBytes ? null : block;
}

/**
 * Computes the signature of the first `size` bytes of an open file, read from its current
 * position.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { computeSignature } from "./signature.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, new Uint8Array(5000).fill(7));
 * using file = await Deno.open(path);
 * const signature = await computeSignature(file, { size: 5000, blockSize: 2048 });
 * strictEqual(signature.blockCount, 3);
 * strictEqual(signature.strong.length, 48);
 * await Deno.remove(path);
 * ```
 *
 * @param file The basis, open for reading.
 * @param options Its size, and the block size (default {@linkcode blockSizeFor}).
 * @throws {RangeError} When the file is too large for a signature.
 * @throws {Error} When the file is shorter than `size` (it changed) or cannot be read.
 * @returns The signature.
 */
export async function computeSignature(
  file: Deno.FsFile,
  options: { size: number; blockSize?: number },
): Promise<Signature> {
  const { size } = options;
  const blockSize = options.blockSize ?? blockSizeFor(size);
  if (blockSize === null) throw new RangeError(`Cannot sign ${size} bytes: the file is too large`);
  const blockCount = Math.ceil(size / blockSize);
  const weak = new Uint32Array(blockCount);
  const strong = new Uint8Array(blockCount * STRONG_BYTES);
  const perRead = Math.max(1, Math.floor(SIGN_READ_BYTES / blockSize)) * blockSize;
  const bufferBytes = Math.min(perRead, Math.max(blockSize, size));
  // Two buffers, each in a hash's memory, where both checksums read it without a copy.
  const inputBytes = BlockWeakSums.bytesFor(bufferBytes);
  const hashes = [StrongHash.take({ inputBytes }), StrongHash.take({ inputBytes })];
  try {
    await signInto(file, { size, blockSize, bufferBytes }, { hashes, weak, strong });
  } finally {
    for (const hash of hashes) hash.giveBack();
  }
  return { blockSize, basisSize: size, blockCount, weak, strong };
}

/**
 * Reads the basis in `bufferBytes` steps and writes each block's checksums into `weak` and
 * `strong`: two buffers, the next read running (on Deno's I/O thread) while this one is summed.
 */
async function signInto(
  file: Deno.FsFile,
  shape: { size: number; blockSize: number; bufferBytes: number },
  into: { hashes: StrongHash[]; weak: Uint32Array; strong: Uint8Array },
): Promise<void> {
  const { size, blockSize, bufferBytes } = shape;
  const { hashes, weak, strong } = into;
  const buffers = hashes.map((hash) => new BlockWeakSums(bufferBytes, hash.shared));
  let block = 0;
  let turn = 0;
  let reading = readFully(file, buffers[0]!.input, Math.min(bufferBytes, size), 0, size);
  try {
    for (let done = 0; done < size;) {
      const got = await reading;
      const chunk = buffers[turn]!;
      const hash = hashes[turn]!;
      done += got;
      if (done < size) {
        turn ^= 1;
        const want = Math.min(bufferBytes, size - done);
        reading = readFully(file, buffers[turn]!.input, want, done, size);
      }
      chunk.compute(got, blockSize, weak, block);
      block += hash.digestBlocks(chunk.input.subarray(0, got), blockSize, strong, block);
    }
  } finally {
    await reading.catch(() => {}); // no read lands in a buffer after it was given back
  }
}

/**
 * The wire form of a signature.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { decodeSignature, encodeSignature } from "./signature.ts";
 * const signature = {
 *   blockSize: 1024, basisSize: 1500, blockCount: 2,
 *   weak: new Uint32Array([1, 2]), strong: new Uint8Array(32).fill(9),
 * };
 * deepStrictEqual(decodeSignature(encodeSignature(signature)), signature);
 * ```
 *
 * @param signature The signature.
 * @returns Its bytes.
 */
export function encodeSignature(signature: Signature): Uint8Array<ArrayBuffer> {
  const { blockSize, basisSize, blockCount, weak, strong } = signature;
  const out = new Uint8Array(HEADER_BYTES + blockCount * (4 + STRONG_BYTES));
  const view = new DataView(out.buffer);
  out[0] = VERSION;
  view.setUint32(1, blockSize, true);
  view.setBigUint64(5, BigInt(basisSize), true);
  view.setUint32(13, blockCount, true);
  for (let i = 0; i < blockCount; i++) view.setUint32(HEADER_BYTES + 4 * i, weak[i]!, true);
  out.set(strong.subarray(0, blockCount * STRONG_BYTES), HEADER_BYTES + 4 * blockCount);
  return out;
}

/**
 * Reads a signature off the wire, checking it against {@linkcode DELTA_CAPS} first.
 *
 * @example Refused
 * ```ts
 * import { throws } from "node:assert/strict";
 * import { decodeSignature } from "./signature.ts";
 * // Version 1, block size 0, basis size 10, one block.
 * const bad = new Uint8Array(17 + 20);
 * bad[0] = 1;
 * bad[5] = 10;
 * bad[13] = 1;
 * throws(() => decodeSignature(bad), /block size 0/);
 * ```
 *
 * @param bytes The wire form.
 * @throws {ProtocolError} When the signature breaks a cap or does not add up.
 * @returns The signature (its arrays are copies).
 */
export function decodeSignature(bytes: Uint8Array): Signature {
  if (bytes.length < HEADER_BYTES) throw badSignature(`${bytes.length} bytes is too short`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] !== VERSION) throw badSignature(`version ${bytes[0]} is not ${VERSION}`);
  const blockSize = view.getUint32(1, true);
  const basisSize = Number(view.getBigUint64(5, true));
  const blockCount = view.getUint32(13, true);
  const { minBlockBytes, maxBlockBytes, maxBlocks } = DELTA_CAPS;
  if (blockSize < minBlockBytes || blockSize > maxBlockBytes) {
    throw badSignature(`block size ${blockSize} is not in ${minBlockBytes}..${maxBlockBytes}`);
  }
  if (blockCount > maxBlocks) throw badSignature(`${blockCount} blocks exceed ${maxBlocks}`);
  if (!Number.isSafeInteger(basisSize) || Math.ceil(basisSize / blockSize) !== blockCount) {
    throw badSignature(
      `${blockCount} blocks of ${blockSize} bytes do not make a file of ${basisSize} bytes`,
    );
  }
  const expected = HEADER_BYTES + blockCount * (4 + STRONG_BYTES);
  if (bytes.length !== expected) {
    throw badSignature(`${bytes.length} bytes, ${expected} expected for ${blockCount} blocks`);
  }
  const weak = new Uint32Array(blockCount);
  for (let i = 0; i < blockCount; i++) weak[i] = view.getUint32(HEADER_BYTES + 4 * i, true);
  const start = HEADER_BYTES + 4 * blockCount;
  const strong = bytes.slice(start, start + blockCount * STRONG_BYTES);
  return { blockSize, basisSize, blockCount, weak, strong };
}

/** Bytes read per step while signing (rounded down to whole blocks). */
const SIGN_READ_BYTES = 1024 * 1024;

/** Reads exactly `want` bytes into `buffer`, or says the file ended at `done` + what was read. */
async function readFully(
  file: Deno.FsFile,
  buffer: Uint8Array,
  want: number,
  done: number,
  size: number,
): Promise<number> {
  let got = 0;
  while (got < want) {
    const n = await file.read(buffer.subarray(got, want));
    if (n === null) {
      throw new Error(`Cannot sign the file: it is ${done + got} bytes, ${size} were expected`);
    }
    got += n;
  }
  return got;
}

function badSignature(detail: string): ProtocolError {
  return new ProtocolError(`Cannot use the block signature: ${detail}`);
}
