/**
 * The strong hash of the delta algorithm: xxHash3-128 (the WebAssembly build of `npm:hash-wasm`,
 * so that the daemon, which may not load native code, computes the same digests as the client).
 * One hash names a block in a signature, another the whole rebuilt file.
 *
 * @module
 */

import type { IHasher } from "hash-wasm";

/** Bytes of one strong digest. */
export const STRONG_BYTES = 16;

/** The package's loading, once started. */
let preloading: Promise<void> | undefined;

/** A reusable xxHash3-128 state: a block at a time, or a whole file streamed through it. */
export class StrongHash {
  readonly #state: IHasher;

  private constructor(state: IHasher) {
    this.#state = state;
  }

  /**
   * Creates a hash state (loads the WebAssembly module once per process).
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
   * @returns The state.
   */
  static async create(): Promise<StrongHash> {
    await StrongHash.preload();
    // Loaded on first use: importing the package costs 50–70 ms, which every run would pay at
    // start (the session's modules import this one), and most runs send no delta.
    const { createXXHash128 } = await import("hash-wasm");
    return new StrongHash(await createXXHash128(0, 0));
  }

  /**
   * Loads the package and compiles its WebAssembly now, so that the first
   * {@linkcode StrongHash.create} does not wait for them (a source that may send a delta calls it
   * while it waits for the signature). Never rejects.
   *
   * @example Usage
   * ```ts
   * import { StrongHash } from "./strong_hash.ts";
   * await StrongHash.preload();
   * ```
   *
   * @returns When the package is ready (or failed to load: `create` then says why).
   */
  static preload(): Promise<void> {
    preloading ??= import("hash-wasm").then((m) => m.createXXHash128(0, 0)).then(
      () => {},
      () => {},
    );
    return preloading;
  }

  /**
   * The digest of one block.
   * @param bytes The block.
   * @returns Its 16-byte digest.
   */
  digestOf(bytes: Uint8Array): Uint8Array {
    this.#state.init();
    this.#state.update(bytes);
    return this.#state.digest("binary");
  }

  /** Starts a streamed digest. */
  start(): void {
    this.#state.init();
  }

  /**
   * Adds bytes to a streamed digest.
   * @param bytes The next bytes.
   */
  update(bytes: Uint8Array): void {
    this.#state.update(bytes);
  }

  /**
   * Ends a streamed digest.
   * @returns Its 16 bytes.
   */
  finish(): Uint8Array {
    return this.#state.digest("binary");
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
