/**
 * The destination's half of the delta algorithm: rebuilds the new file from its basis and the
 * source's instructions, checking each against the signature it sent (every block reference
 * inside the basis, no instruction that writes nothing, never past the announced size) and the
 * result against the source's digest of its pieces (see `encode_delta.ts`): each basis block it
 * copies is hashed as it is read now, so a basis that changed since it was signed fails the file.
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import { writeFully } from "../file_write.ts";
import { DELTA_CAPS, type SignatureShape } from "./signature.ts";
import { sameBytes, StrongHash } from "./strong_hash.ts";

/** Bytes copied from the basis per read. */
const COPY_BYTES = 1024 * 1024;

/** Options of {@linkcode DeltaRebuilder.create}. */
export interface RebuildOptions {
  /** The signature the destination sent for this file. */
  shape: SignatureShape;
  /** The new file's announced size. */
  size: number;
  /** The basis, open for reading (positioned by the rebuilder). */
  basis: Deno.FsFile;
  /** Where the new file is written, in order (synchronously: see `core/file_write.ts`). */
  out: { writeSync(p: Uint8Array): number };
}

/** Rebuilds one file; feed it the instructions in order, then {@linkcode DeltaRebuilder.finish}. */
export class DeltaRebuilder {
  readonly #o: RebuildOptions;
  readonly #hash: StrongHash;
  #written = 0;
  #copied = 0;

  private constructor(options: RebuildOptions, hash: StrongHash) {
    this.#o = options;
    this.#hash = hash;
    hash.start();
  }

  /**
   * Creates a rebuilder.
   *
   * @example Usage
   * ```ts
   * import { strictEqual } from "node:assert/strict";
   * import { DeltaRebuilder, StrongHash } from "./mod.ts";
   * const basis = await Deno.makeTempFile();
   * await Deno.writeFile(basis, new Uint8Array([1, 2, 3, 4]));
   * using file = await Deno.open(basis);
   * const parts: number[] = [];
   * const out = { writeSync: (p: Uint8Array) => (parts.push(...p), p.length) };
   * const shape = { blockSize: 1024, basisSize: 4, blockCount: 1 };
   * const rebuild = await DeltaRebuilder.create({ shape, size: 5, basis: file, out });
   * rebuild.copy(0, 1);
   * rebuild.literal(new Uint8Array([5]));
   * // The digest of the pieces: the copied block, then the literal.
   * const hash = await StrongHash.create();
   * hash.start();
   * hash.updateWithDigestsOf(new Uint8Array([1, 2, 3, 4]), 1024);
   * hash.updateWithDigestsOf(new Uint8Array([5]), 1);
   * rebuild.finish(hash.finish());
   * strictEqual(parts.join(), "1,2,3,4,5");
   * await Deno.remove(basis);
   * ```
   *
   * @param options The signature shape, size, basis and output.
   * @returns The rebuilder.
   */
  static create(options: RebuildOptions): Promise<DeltaRebuilder> {
    try {
      return Promise.resolve(
        new DeltaRebuilder(options, StrongHash.take({ inputBytes: COPY_BYTES })),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Gives its hash state back for the next file (call once, when done with it). */
  close(): void {
    this.#hash.giveBack();
  }

  /** Bytes written so far. */
  get written(): number {
    return this.#written;
  }

  /** Bytes taken from the basis so far. */
  get copied(): number {
    return this.#copied;
  }

  /**
   * Writes literal bytes.
   * @param bytes 1 to {@linkcode DELTA_CAPS.maxLiteralBytes} bytes.
   * @throws {ProtocolError} When the run is empty, too long, or passes the announced size.
   */
  literal(bytes: Uint8Array): void {
    if (bytes.length === 0 || bytes.length > DELTA_CAPS.maxLiteralBytes) {
      throw badDelta(`a literal of ${bytes.length} bytes (1..${DELTA_CAPS.maxLiteralBytes})`);
    }
    this.#claim(bytes.length);
    this.#hash.updateWithDigestsOf(bytes, bytes.length);
    writeFully(this.#o.out, bytes);
  }

  /**
   * Checks a copy instruction without carrying it out (a caller that copies a long run in
   * pieces checks the whole run first).
   * @param block First block.
   * @param count Blocks (at least 1).
   * @throws {ProtocolError} When a block is outside the basis or the copy passes the size.
   * @returns The bytes the copy writes.
   */
  checkCopy(block: number, count: number): number {
    const { blockSize, basisSize, blockCount } = this.#o.shape;
    if (!Number.isInteger(block) || !Number.isInteger(count) || count < 1 || block < 0) {
      throw badDelta(`a copy of ${count} blocks from block ${block}`);
    }
    if (block + count > blockCount) {
      throw badDelta(`blocks ${block}..${block + count - 1} of a basis of ${blockCount} blocks`);
    }
    const length = Math.min(count * blockSize, basisSize - block * blockSize);
    if (this.#written + length > this.#o.size) {
      throw badDelta(`it passes the announced ${this.#o.size} bytes`);
    }
    return length;
  }

  /**
   * Copies `count` basis blocks from `block` on.
   * @param block First block.
   * @param count Blocks (at least 1).
   * @throws {ProtocolError} When a block is outside the basis or the copy passes the size.
   * @throws {Error} When the basis is shorter than it was when signed (it changed).
   * @returns The bytes written.
   */
  copy(block: number, count: number): number {
    const length = this.checkCopy(block, count);
    const offset = block * this.#o.shape.blockSize;
    this.#written += length;
    const basis = this.#o.basis;
    basis.seekSync(offset, Deno.SeekMode.Start);
    // Read into the hash's own memory, whole blocks at a time: each block's digest is taken
    // where its bytes lie.
    const { blockSize } = this.#o.shape;
    const buffer = this.#hash.input.subarray(0, Math.floor(COPY_BYTES / blockSize) * blockSize);
    for (let left = length; left > 0;) {
      const piece = buffer.subarray(0, Math.min(left, buffer.length));
      for (let got = 0; got < piece.length;) {
        const n = basis.readSync(piece.subarray(got));
        if (n === null) {
          throw new Error(
            "Cannot rebuild the file: the destination's copy changed during the transfer",
          );
        }
        got += n;
      }
      this.#hash.updateWithDigestsOf(piece, blockSize);
      writeFully(this.#o.out, piece);
      left -= piece.length;
    }
    this.#copied += length;
    return length;
  }

  /**
   * Checks the end: every announced byte written, and the source's digest of the pieces (see
   * `encodeDelta`) is the one of what was written.
   * @param digest The source's digest of the pieces.
   * @throws {ProtocolError} When bytes are missing.
   * @throws {Error} When the digest differs (the rebuilt file is not the source's).
   */
  finish(digest: Uint8Array): void {
    if (this.#written !== this.#o.size) {
      throw badDelta(`it ended at ${this.#written} of ${this.#o.size} bytes`);
    }
    if (!sameBytes(this.#hash.finish(), digest)) {
      throw new Error(
        "Cannot rebuild the file: the result does not match the source's digest " +
          "(the destination's copy changed during the transfer)",
      );
    }
  }

  #claim(length: number): void {
    if (this.#written + length > this.#o.size) {
      throw badDelta(`it passes the announced ${this.#o.size} bytes`);
    }
    this.#written += length;
  }
}

function badDelta(detail: string): ProtocolError {
  return new ProtocolError(`Cannot rebuild the file from its delta: ${detail}`);
}
