/**
 * The strong hash of the delta algorithm: xxHash3-128 (seed 0), computed by a small WebAssembly
 * module of this project (`wasm/xxh3_128.wat`) whose long-input loop works 16 bytes a step with
 * WebAssembly SIMD: ~19–20 GB/s here against ~4.2 GB/s for `npm:hash-wasm`'s build of the
 * reference C code. Its digests are the reference's (`tests/strong_hash_test.ts`), and so are
 * those of its xxHash3-64 finish, the content hash of `core/hash.ts` where FFI is not allowed.
 * The daemon may not load native code; WebAssembly needs no permission. One digest names a block
 * in a signature; a delta ends with the streamed digest of its pieces' digests (`encode_delta.ts`).
 *
 * Each {@linkcode StrongHash} owns the module's memory and offers part of it as
 * {@linkcode StrongHash.input}: bytes read straight into that view are hashed without a copy.
 *
 * @module
 */

import { XXH3_128_WASM_BASE64 } from "./wasm/xxh3_128_wasm.ts";

/** Bytes of one strong digest. */
export const STRONG_BYTES = 16;

/** Where the module writes a digest (see the memory map in `xxh3_128.wat`). */
const DIGEST_AT = 256;
/** Where the input area starts: the module's own state lies below. */
const INPUT_AT = 4096;
const PAGE_BYTES = 65536;
/** The input area when the caller does not ask for one: the largest delta block. */
const DEFAULT_INPUT_BYTES = 1024 * 1024;

/** The module's exports. */
interface Xxh3Exports {
  /** The digest of `[ptr, ptr + len)`, written at {@linkcode DIGEST_AT}. */
  digest(ptr: number, len: number): void;
  /** Starts a streamed digest. */
  reset(): void;
  /** Adds `[ptr, ptr + len)` to the streamed digest. */
  update(ptr: number, len: number): void;
  /** Writes the streamed digest at {@linkcode DIGEST_AT}. */
  finish(): void;
  /** The xxHash3-64 digest of `[ptr, ptr + len)`, written at {@linkcode DIGEST_AT}. */
  digest64(ptr: number, len: number): void;
  /** Writes the streamed xxHash3-64 digest at {@linkcode DIGEST_AT}. */
  finish64(): void;
}

/**
 * Idle states kept for the next user ({@linkcode StrongHash.take}): a fresh WebAssembly memory
 * costs a page fault per 4 KiB on its first use, ~10 µs each on a virtual machine (20 ms for the
 * search's 5 MiB window).
 */
const idleStates: StrongHash[] = [];
/** Most idle states kept. */
const IDLE_STATES_MAX = 4;
/** Largest input area kept idle. */
const IDLE_INPUT_MAX_BYTES = 16 * 1024 * 1024;

/** The compiled module, once compiled. */
let compiled: WebAssembly.Module | undefined;

function xxh3Module(): WebAssembly.Module {
  if (compiled !== undefined) return compiled;
  const bytes = Uint8Array.from(atob(XXH3_128_WASM_BASE64), (c) => c.charCodeAt(0));
  if (!WebAssembly.validate(bytes)) {
    throw new Error("Cannot hash: this runtime's WebAssembly lacks SIMD (use Deno 2.9 or later)");
  }
  compiled = new WebAssembly.Module(bytes);
  return compiled;
}

/** A reusable xxHash3-128 state: a block at a time, or a whole file streamed through it. */
export class StrongHash {
  readonly #memory: WebAssembly.Memory;
  readonly #fns: Xxh3Exports;
  readonly #input: Uint8Array;
  /** Where the module leaves a 128-bit digest (its memory never grows: the view stays valid). */
  readonly #out: Uint8Array;
  /** A second state for one-shot digests longer than the input area (its memory grows). */
  #spare: StrongHash | null = null;

  private constructor(inputBytes: number) {
    const pages = Math.ceil((INPUT_AT + inputBytes) / PAGE_BYTES);
    this.#memory = new WebAssembly.Memory({ initial: pages });
    const instance = new WebAssembly.Instance(xxh3Module(), { env: { memory: this.#memory } });
    this.#fns = instance.exports as unknown as Xxh3Exports;
    this.#input = new Uint8Array(this.#memory.buffer, INPUT_AT, inputBytes);
    this.#out = new Uint8Array(this.#memory.buffer, DIGEST_AT, STRONG_BYTES);
  }

  /**
   * Creates a hash state (compiles the WebAssembly module once per process).
   *
   * @example Usage
   * ```ts
   * import { strictEqual } from "node:assert/strict";
   * import { StrongHash } from "./strong_hash.ts";
   * const hash = await StrongHash.create();
   * const one = hash.digestOf(new Uint8Array([1, 2, 3]));
   * strictEqual(one.length, 16);
   * hash.start();
   * hash.update(new Uint8Array([1]));
   * hash.update(new Uint8Array([2, 3]));
   * strictEqual(hash.finish().join(), one.join());
   * ```
   *
   * @example Hashing bytes placed in its input, without a copy
   * ```ts
   * import { strictEqual } from "node:assert/strict";
   * import { StrongHash } from "./strong_hash.ts";
   * const hash = await StrongHash.create({ inputBytes: 4096 });
   * hash.input.set([1, 2, 3]);
   * const other = await StrongHash.create();
   * strictEqual(hash.digestOf(hash.input.subarray(0, 3)).join(), other.digestOf(new Uint8Array([1, 2, 3])).join());
   * ```
   *
   * @param options The size of {@linkcode StrongHash.input} (default 1 MiB).
   * @throws {Error} When the runtime's WebAssembly lacks SIMD.
   * @returns The state.
   */
  static create(options: { inputBytes?: number } = {}): Promise<StrongHash> {
    try {
      return Promise.resolve(StrongHash.createSync(options));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * {@linkcode StrongHash.create}, synchronously.
   *
   * @example Usage
   * ```ts
   * import { strictEqual } from "node:assert/strict";
   * import { StrongHash } from "./strong_hash.ts";
   * strictEqual(StrongHash.createSync().digestOf(new Uint8Array(0)).length, 16);
   * ```
   *
   * @param options The size of {@linkcode StrongHash.input} (default 1 MiB).
   * @throws {Error} When the runtime's WebAssembly lacks SIMD.
   * @returns The state.
   */
  static createSync(options: { inputBytes?: number } = {}): StrongHash {
    return new StrongHash(options.inputBytes ?? DEFAULT_INPUT_BYTES);
  }

  /**
   * A state with at least `inputBytes` of input: an idle one given back by an earlier user (its
   * memory already paged in), or a new one. Give it back with {@linkcode StrongHash.giveBack}
   * when done; one never given back is simply collected.
   *
   * @example Usage
   * ```ts
   * import { ok, strictEqual } from "node:assert/strict";
   * import { StrongHash } from "./strong_hash.ts";
   * const hash = StrongHash.take({ inputBytes: 8192 });
   * ok(hash.input.length >= 8192);
   * hash.giveBack();
   * strictEqual(StrongHash.take({ inputBytes: 4096 }), hash);
   * ```
   *
   * @param options The least size of {@linkcode StrongHash.input} (default 1 MiB).
   * @throws {Error} When the runtime's WebAssembly lacks SIMD.
   * @returns The state (its stream in any state: call {@linkcode StrongHash.start}).
   */
  static take(options: { inputBytes?: number } = {}): StrongHash {
    const want = options.inputBytes ?? DEFAULT_INPUT_BYTES;
    let best = -1;
    for (let i = 0; i < idleStates.length; i++) {
      const length = idleStates[i]!.#input.length;
      if (length >= want && (best < 0 || length < idleStates[best]!.#input.length)) best = i;
    }
    if (best >= 0) return idleStates.splice(best, 1)[0]!;
    return new StrongHash(want);
  }

  /**
   * Gives a state from {@linkcode StrongHash.take} back for the next user. Neither it nor a view
   * of its input may be used afterwards.
   */
  giveBack(): void {
    if (this.#input.length > IDLE_INPUT_MAX_BYTES || idleStates.includes(this)) return;
    if (idleStates.length >= IDLE_STATES_MAX) idleStates.shift();
    idleStates.push(this);
  }

  /**
   * Compiles the WebAssembly module now (a source that may send a delta calls it while it
   * waits for the signature). Never rejects: {@linkcode StrongHash.create} then says what failed.
   *
   * @example Usage
   * ```ts
   * import { StrongHash } from "./strong_hash.ts";
   * await StrongHash.preload();
   * ```
   *
   * @returns When the module is compiled (or failed to).
   */
  static preload(): Promise<void> {
    try {
      xxh3Module();
    } catch {
      // create() reports it
    }
    return Promise.resolve();
  }

  /**
   * A view of the module's memory: bytes the caller puts here (a file read straight into it)
   * are hashed in place by {@linkcode StrongHash.digestOf} and {@linkcode StrongHash.update}.
   */
  get input(): Uint8Array {
    return this.#input;
  }

  /**
   * The module's memory and where {@linkcode StrongHash.input} starts in it, for a companion
   * module that works on the same bytes (see `BlockWeakSums`).
   */
  get shared(): { memory: WebAssembly.Memory; at: number } {
    return { memory: this.#memory, at: INPUT_AT };
  }

  /**
   * The digest of one block.
   * @param bytes The block (anywhere, or a view of {@linkcode StrongHash.input}).
   * @returns Its 16-byte digest.
   */
  digestOf(bytes: Uint8Array): Uint8Array {
    return this.#oneShot(bytes, 128);
  }

  /**
   * The digests of consecutive blocks, written back to back (a file's signature: no digest is
   * allocated on its own).
   *
   * @example Usage
   * ```ts
   * import { strictEqual } from "node:assert/strict";
   * import { StrongHash } from "./strong_hash.ts";
   * const hash = await StrongHash.create({ inputBytes: 4096 });
   * hash.input.fill(7);
   * const out = new Uint8Array(3 * 16);
   * strictEqual(hash.digestBlocks(hash.input.subarray(0, 2500), 1024, out, 0), 3);
   * strictEqual(out.subarray(32).join(), hash.digestOf(new Uint8Array(452).fill(7)).join());
   * ```
   *
   * @param bytes The blocks (best a view of {@linkcode StrongHash.input}); the last may be short.
   * @param blockSize Bytes per block.
   * @param out Where the digests go.
   * @param outAt The index (in digests) in `out` of the first block's.
   * @returns How many blocks were hashed.
   */
  digestBlocks(bytes: Uint8Array, blockSize: number, out: Uint8Array, outAt: number): number {
    let block = 0;
    for (let start = 0; start < bytes.length; start += blockSize, block++) {
      const piece = bytes.subarray(start, Math.min(bytes.length, start + blockSize));
      out.set(this.#blockDigest(piece), (outAt + block) * STRONG_BYTES);
    }
    return block;
  }

  /**
   * Whether the digest of `bytes` is the one at `expected[at * 16 …]` (a signature's block),
   * without allocating it.
   *
   * @example Usage
   * ```ts
   * import { strictEqual } from "node:assert/strict";
   * import { StrongHash } from "./strong_hash.ts";
   * const hash = await StrongHash.create();
   * const digests = new Uint8Array([...new Uint8Array(16), ...hash.digestOf(new Uint8Array([1]))]);
   * strictEqual(hash.matches(new Uint8Array([1]), digests, 1), true);
   * strictEqual(hash.matches(new Uint8Array([2]), digests, 1), false);
   * ```
   *
   * @param bytes The bytes (best a view of {@linkcode StrongHash.input}).
   * @param expected Digests back to back.
   * @param at The index (in digests) of the one to compare with.
   * @returns `true` when they are equal.
   */
  matches(bytes: Uint8Array, expected: Uint8Array, at: number): boolean {
    const own = this.#blockDigest(bytes);
    const base = at * STRONG_BYTES;
    for (let i = 0; i < STRONG_BYTES; i++) if (own[i] !== expected[base + i]) return false;
    return true;
  }

  /**
   * Adds the digest of each `blockSize` block of `bytes` (the last may be shorter) to a streamed
   * digest: a delta's digest of its pieces (see `encodeDelta`) is taken this way.
   *
   * @example Usage
   * ```ts
   * import { strictEqual } from "node:assert/strict";
   * import { StrongHash } from "./strong_hash.ts";
   * const hash = await StrongHash.create();
   * const bytes = new Uint8Array(1500).fill(3);
   * const first = hash.digestOf(bytes.subarray(0, 1024));
   * const pieces = [...first, ...hash.digestOf(bytes.subarray(1024))];
   * hash.start();
   * hash.updateWithDigestsOf(bytes, 1024);
   * strictEqual(hash.finish().join(), hash.digestOf(new Uint8Array(pieces)).join());
   * ```
   *
   * @param bytes The blocks (best a view of {@linkcode StrongHash.input}).
   * @param blockSize Bytes per block.
   */
  updateWithDigestsOf(bytes: Uint8Array, blockSize: number): void {
    for (let start = 0; start < bytes.length; start += blockSize) {
      const piece = bytes.subarray(start, Math.min(bytes.length, start + blockSize));
      const digest = this.#blockDigest(piece);
      if (digest !== this.#out) this.#out.set(digest);
      this.#fns.update(DIGEST_AT, STRONG_BYTES);
    }
  }

  /**
   * Adds a digest already known (a signature's block, equal to the bytes it stands for) to a
   * streamed digest.
   *
   * @example Usage
   * ```ts
   * import { strictEqual } from "node:assert/strict";
   * import { StrongHash } from "./strong_hash.ts";
   * const hash = await StrongHash.create();
   * const digests = new Uint8Array([...new Uint8Array(16), ...hash.digestOf(new Uint8Array([5]))]);
   * hash.start();
   * hash.updateWithDigest(digests, 1);
   * const one = hash.finish().join();
   * hash.start();
   * hash.updateWithDigestsOf(new Uint8Array([5]), 1024);
   * strictEqual(hash.finish().join(), one);
   * ```
   *
   * @param digests Digests back to back.
   * @param at The index (in digests) of the one to add.
   */
  updateWithDigest(digests: Uint8Array, at: number): void {
    this.#out.set(digests.subarray(at * STRONG_BYTES, (at + 1) * STRONG_BYTES));
    this.#fns.update(DIGEST_AT, STRONG_BYTES);
  }

  /**
   * The 128-bit digest of `bytes`: bytes in the input area are hashed where they lie and the
   * digest is the module's own view (valid until the next digest); others go through a copy.
   */
  #blockDigest(bytes: Uint8Array): Uint8Array {
    const at = this.#inPlace(bytes);
    if (at < 0) return this.#oneShot(bytes, 128);
    this.#fns.digest(at, bytes.length);
    return this.#out;
  }

  /** Starts a streamed digest. */
  start(): void {
    this.#fns.reset();
  }

  /**
   * Adds bytes to a streamed digest.
   * @param bytes The next bytes (anywhere, or a view of {@linkcode StrongHash.input}).
   */
  update(bytes: Uint8Array): void {
    const at = this.#inPlace(bytes);
    if (at >= 0) {
      this.#fns.update(at, bytes.length);
      return;
    }
    const room = this.#input.length;
    for (let from = 0; from < bytes.length; from += room) {
      const piece = bytes.subarray(from, Math.min(bytes.length, from + room));
      this.#input.set(piece);
      this.#fns.update(INPUT_AT, piece.length);
    }
  }

  /**
   * Ends a streamed digest.
   * @returns Its 16 bytes.
   */
  finish(): Uint8Array {
    this.#fns.finish();
    return this.#digest(STRONG_BYTES);
  }

  /**
   * Ends a streamed digest with xxHash3-64 instead (the content hash of `core/hash.ts`): the
   * same stream, another finish.
   * @returns Its 8 bytes, big-endian.
   */
  finish64(): Uint8Array {
    this.#fns.finish64();
    return this.#digest(8);
  }

  /**
   * The xxHash3-64 digest of some bytes.
   * @param bytes The bytes (anywhere, or a view of {@linkcode StrongHash.input}).
   * @returns Its 8 bytes, big-endian.
   */
  digest64Of(bytes: Uint8Array): Uint8Array {
    return this.#oneShot(bytes, 64);
  }

  /** A one-shot digest of `bits` bits, of bytes in place or copied into the input first. */
  #oneShot(bytes: Uint8Array, bits: 64 | 128): Uint8Array {
    let at = this.#inPlace(bytes);
    if (at < 0) {
      if (bytes.length > this.#input.length) {
        return this.#spareFor(bytes.length).#oneShot(bytes, bits);
      }
      this.#input.set(bytes);
      at = INPUT_AT;
    }
    if (bits === 128) this.#fns.digest(at, bytes.length);
    else this.#fns.digest64(at, bytes.length);
    return this.#digest(bits / 8);
  }

  /** Where `bytes` lie in the module's memory, or -1 when they are elsewhere. */
  #inPlace(bytes: Uint8Array): number {
    return bytes.buffer === this.#memory.buffer && bytes.byteOffset >= INPUT_AT
      ? bytes.byteOffset
      : -1;
  }

  #digest(bytes: number): Uint8Array {
    return new Uint8Array(this.#memory.buffer.slice(DIGEST_AT, DIGEST_AT + bytes));
  }

  #spareFor(length: number): StrongHash {
    if (this.#spare === null || this.#spare.#input.length < length) {
      this.#spare = new StrongHash(length);
    }
    return this.#spare;
  }
}

/**
 * Whether two digests (or any two byte strings) are equal.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { sameBytes } from "./strong_hash.ts";
 * strictEqual(sameBytes(new Uint8Array([1, 2]), new Uint8Array([0, 1, 2]).subarray(1)), true);
 * strictEqual(sameBytes(new Uint8Array([1]), new Uint8Array([1, 2])), false);
 * ```
 *
 * @param a One.
 * @param b The other.
 * @returns `true` when they have the same length and bytes.
 */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
