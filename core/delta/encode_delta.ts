/**
 * The source's half of the delta algorithm: reads the new file once and describes it as literal
 * bytes and references to blocks of the destination's basis (found at any offset with the
 * rolling checksum, so inserted bytes shift nothing), followed by the digest of its pieces.
 *
 * The digest of pieces: the xxHash3-128 stream of the xxHash3-128 digests of the file's pieces in
 * order, a piece being a basis block a `copy` stands for or the bytes of one `literal`. The
 * destination takes the same digest of what it writes, so a basis block that changed after it was
 * signed, or a wrong literal, fails the file. The source hashes each byte once: a matching block's
 * digest is the signature's, found when the block was matched.
 *
 * Bounded work: the blocks are indexed with at most {@linkcode DELTA_CAPS.maxChain} per hash
 * bucket (duplicates dropped), so each byte costs a bounded number of comparisons whatever the
 * peer's signature holds; the block after the last match is tried first.
 *
 * @module
 */

import { describeError } from "../errors.ts";
import { EventLoopTurns } from "../file_write.ts";
import { DELTA_CAPS, type Signature } from "./signature.ts";
import { sameBytes, STRONG_BYTES, StrongHash } from "./strong_hash.ts";
import { joinWeak, rollWeak, type WeakSums, weakSums } from "./weak_sum.ts";

/** One instruction of a delta. */
export type DeltaOp =
  /** Bytes that are not in the basis. The view is valid until the generator resumes. */
  | { kind: "literal"; bytes: Uint8Array }
  /** `count` consecutive basis blocks from `block` on. */
  | { kind: "copy"; block: number; count: number };

/** How a delta ended. */
export interface DeltaEnd {
  /** The digest of the pieces of the exactly `size` bytes described (see the module's doc). */
  digest: Uint8Array;
  /**
   * `null` when the file was read as announced; otherwise why its bytes must be discarded (it
   * shrank, so the rest was described as zeros, or it could not be read to the end).
   */
  problem: { status: "changed" | "unreadable"; message: string } | null;
}

/** Words of the weak checksum filter (2^20 bits). */
const FILTER_WORDS = 1 << 15;

/** The filter bit of a weak checksum (another mix than the bucket's). */
function filterBit(weak: number): number {
  return Math.imul(weak ^ (weak >>> 15), 0x85ebca6b) >>> 12;
}

/** Bytes read per refill of the window. */
const READ_BYTES = 4 * 1024 * 1024;

/**
 * Longest run of matching blocks described by one `copy`: a longer run is cut, so that the
 * destination rebuilds a file that matches for long stretches while the search goes on (the
 * data plane sends batched copies once they stand for this many bytes).
 */
export const COPY_RUN_BYTES = 8 * 1024 * 1024;

/** What the search reads the new file from: a `Deno.FsFile` is read synchronously. */
interface NewFileReader {
  read(p: Uint8Array): Promise<number | null>;
  readSync?(p: Uint8Array): number | null;
}

/** The signature's blocks by weak checksum, for the source's search. */
class BlockIndex {
  readonly heads: Int32Array;
  /**
   * One bit per weak checksum class (2^20 of them, 128 KiB: it stays in the cache), set for
   * every indexed block: the rolling search reads it for each byte, the larger table only when
   * the bit is set.
   */
  readonly seen: Int32Array = new Int32Array(FILTER_WORDS);
  readonly next: Int32Array;
  readonly shift: number;
  readonly #signature: Signature;

  constructor(signature: Signature, fullBlocks: number) {
    this.#signature = signature;
    const bits = Math.min(20, Math.max(8, Math.ceil(Math.log2(Math.max(1, fullBlocks) * 2))));
    this.shift = 32 - bits;
    this.heads = new Int32Array(1 << bits).fill(-1);
    this.next = new Int32Array(Math.max(1, fullBlocks)).fill(-1);
    const { weak, strong } = signature;
    for (let block = 0; block < fullBlocks; block++) {
      const bucket = this.bucket(weak[block]!);
      let chain = 0;
      let duplicate = false;
      for (let b = this.heads[bucket]!; b >= 0 && !duplicate; b = this.next[b]!) {
        chain++;
        duplicate = weak[b] === weak[block] &&
          sameBytes(this.strongOf(b), strong.subarray(block * STRONG_BYTES, (block + 1) * 16));
      }
      if (duplicate || chain >= DELTA_CAPS.maxChain) continue;
      this.next[block] = this.heads[bucket]!;
      this.heads[bucket] = block;
      const bit = filterBit(weak[block]!);
      this.seen[bit >>> 5] = this.seen[bit >>> 5]! | (1 << (bit & 31));
    }
  }

  bucket(weak: number): number {
    return Math.imul(weak, 0x9e3779b1) >>> this.shift;
  }

  strongOf(block: number): Uint8Array {
    return this.#signature.strong.subarray(block * STRONG_BYTES, (block + 1) * STRONG_BYTES);
  }

  /** The block whose checksums are the window's (`digest` computes its strong digest), or -1. */
  find(weak: number, preferred: number, digest: () => Uint8Array): number {
    const sums = this.#signature.weak;
    let own: Uint8Array | null = null; // the window's digest, computed at most once
    if (preferred >= 0 && preferred < this.next.length && sums[preferred] === weak) {
      own = digest();
      if (sameBytes(own, this.strongOf(preferred))) return preferred;
    }
    for (let b = this.heads[this.bucket(weak)]!; b >= 0; b = this.next[b]!) {
      if (sums[b] !== weak || b === preferred) continue;
      own ??= digest();
      if (sameBytes(own, this.strongOf(b))) return b;
    }
    return -1;
  }
}

/** The window's length for a file of `size` bytes: a literal run, two blocks and a read. */
function windowBytes(size: number, blockSize: number): number {
  return Math.max(1, Math.min(size, DELTA_CAPS.maxLiteralBytes + 2 * blockSize + READ_BYTES));
}

/** The window over the new file: a buffer refilled from the file, exactly `size` bytes in all. */
class Window {
  readonly buf: Uint8Array;
  end = 0;
  problem: DeltaEnd["problem"] = null;
  #taken = 0;
  readonly #file: NewFileReader;
  readonly #turns = new EventLoopTurns();
  readonly #size: number;

  /**
   * @param buf The window: a hash's input (sized with {@linkcode windowBytes}), so that the
   * block digests hash the bytes where they lie.
   */
  constructor(file: NewFileReader, size: number, buf: Uint8Array) {
    this.#file = file;
    this.#size = size;
    this.buf = buf;
  }

  get exhausted(): boolean {
    return this.#taken >= this.#size;
  }

  /** Drops the bytes before `keep`; returns how far the rest moved. */
  compact(keep: number): number {
    if (keep === 0) return 0;
    this.buf.copyWithin(0, keep, this.end);
    this.end -= keep;
    return keep;
  }

  /**
   * Reads until at least `want` bytes are buffered or the file's announced size was read, into
   * the window itself (a `Deno.FsFile` synchronously: the read costs less than a hop to an I/O
   * thread and a copy, and the event loop gets a turn every few MiB). A file that ends early
   * (or fails) is padded with zeros to its announced size, and says why.
   */
  async fill(want: number): Promise<void> {
    while (this.end < want && this.#taken < this.#size && this.end < this.buf.length) {
      const room = Math.min(this.buf.length - this.end, this.#size - this.#taken);
      const target = this.buf.subarray(this.end, this.end + room);
      const got = this.problem === null ? await this.#read(target) : target.fill(0).length;
      this.end += got;
      this.#taken += got;
      await this.#turns.after(got);
    }
  }

  /**
   * Reads into `target`; a file that ends or fails early sets `problem` and reads as zeros.
   * @returns How many bytes of `target` were filled.
   */
  async #read(target: Uint8Array): Promise<number> {
    let got: number | null;
    try {
      const file = this.#file;
      got = file.readSync === undefined ? await file.read(target) : file.readSync(target);
    } catch (error) {
      this.problem = {
        status: "unreadable",
        message: `Cannot read the file to the end: ${describeError(error)}`,
      };
      return target.fill(0).length;
    }
    if (got !== null && got > 0) return got;
    this.problem = {
      status: "changed",
      message: `Cannot read the file to the end: it shrank while being sent ` +
        `(${this.#taken} of ${this.#size} bytes)`,
    };
    return target.fill(0).length;
  }
}

/**
 * Describes the first `size` bytes of `file` against a basis `signature`.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual, strictEqual } from "node:assert/strict";
 * import { computeSignature } from "./signature.ts";
 * import { type DeltaOp, encodeDelta } from "./encode_delta.ts";
 * const old = new Uint8Array(8192).map((_, i) => (i * 7) % 251);
 * const young = new Uint8Array([...old.subarray(0, 4096), 1, 2, 3, ...old.subarray(4096)]);
 * const basis = await Deno.makeTempFile();
 * await Deno.writeFile(basis, old);
 * using file = await Deno.open(basis);
 * const signature = await computeSignature(file, { size: old.length, blockSize: 1024 });
 * const ops: DeltaOp[] = [];
 * const delta = encodeDelta(ReadableStream.from([young]).getReader(), {
 *   size: young.length,
 *   signature,
 * });
 * let step = await delta.next();
 * for (; !step.done; step = await delta.next()) {
 *   ops.push(step.value.kind === "literal" ? { kind: "literal", bytes: step.value.bytes.slice() } : step.value);
 * }
 * deepStrictEqual(ops, [
 *   { kind: "copy", block: 0, count: 4 },
 *   { kind: "literal", bytes: new Uint8Array([1, 2, 3]) },
 *   { kind: "copy", block: 4, count: 4 },
 * ]);
 * strictEqual(step.value.problem, null);
 * await Deno.remove(basis);
 * ```
 *
 * With `prefix` (the basis is a partial file of this very source version, being resumed), block
 * `k` is compared with the new file's bytes at `k × blockSize` only, by its strong digest, and
 * everything from the first block that differs on is sent literally: no rolling search.
 *
 * @param file The new file, read from its current position (a `Deno.FsFile` or any reader whose
 * `read` fills part of the array it is given).
 * @param options Its announced size, the basis signature, and whether the basis is a prefix.
 * @returns The instructions, then how they ended.
 */
export async function* encodeDelta(
  file: NewFileReader | ReadableStreamDefaultReader<Uint8Array>,
  options: { size: number; signature: Signature; prefix?: boolean },
): AsyncGenerator<DeltaOp, DeltaEnd, void> {
  const { size, signature } = options;
  // One state for the blocks' digests and the stream of the pieces' (one-shot digests leave the
  // stream as it was): the window lies in its memory, so no digest copies a byte.
  const hash = StrongHash.take({ inputBytes: windowBytes(size, signature.blockSize) });
  try {
    hash.start();
    const window = new Window(asReader(file), size, hash.input);
    const literal = (bytes: Uint8Array): DeltaOp => {
      hash.updateWithDigestsOf(bytes, bytes.length);
      return { kind: "literal", bytes };
    };
    return options.prefix
      ? yield* encodeAfterPrefix(window, signature, hash, literal)
      : yield* encodeBySearch(window, signature, hash, literal);
  } finally {
    hash.giveBack();
  }
}

/** The delta found by the rolling search (see {@linkcode encodeDelta}). */
async function* encodeBySearch(
  window: Window,
  signature: Signature,
  hash: StrongHash,
  literal: (bytes: Uint8Array) => DeltaOp,
): AsyncGenerator<DeltaOp, DeltaEnd, void> {
  const L = signature.blockSize;
  const lastLength = signature.basisSize % L;
  const fullBlocks = signature.blockCount - (lastLength === 0 ? 0 : 1);
  const index = new BlockIndex(signature, fullBlocks);
  const buf = window.buf;
  let p = 0; // start of the block-long window in buf
  let lit = 0; // start of the pending literal in buf
  let copyFrom = -1;
  let copyCount = 0;
  let after = -1; // the block after the window's previous match, while the window follows it
  let sums: WeakSums | null = null;
  let rolled = false; // the window moved one byte since `sums` was right
  const { heads, shift } = index;
  while (true) {
    if (window.end - p < L && !window.exhausted) {
      const moved = window.compact(Math.max(0, Math.min(lit, p - 1)));
      p -= moved;
      lit -= moved;
      await window.fill(p + L);
      continue;
    }
    if (window.end - p < L) break;
    let preferred = after;
    let match = -1;
    // Right after a match the next block is the likely one: its strong digest alone decides
    // (the weak checksum is only a filter, and costs more to compute than the digest).
    if (sums === null && preferred >= 0 && preferred < fullBlocks) {
      if (hash.matches(buf.subarray(p, p + L), signature.strong, preferred)) {
        match = preferred;
      }
      preferred = -1;
    }
    if (match < 0) {
      if (sums === null) sums = weakSums(buf, p, p + L);
      else if (rolled) rollWeak(sums, L, buf[p - 1]!, buf[p + L - 1]!);
      rolled = false;
      const weak = joinWeak(sums);
      if (heads[Math.imul(weak, 0x9e3779b1) >>> shift]! >= 0 || preferred >= 0) {
        match = index.find(weak, preferred, () => hash.digestOf(buf.subarray(p, p + L)));
      }
    }
    if (match >= 0) {
      if (p > lit) {
        if (copyCount > 0) yield { kind: "copy", block: copyFrom, count: copyCount };
        copyCount = 0;
        yield literal(buf.subarray(lit, p));
      }
      hash.updateWithDigest(signature.strong, match);
      if (copyCount > 0 && match === copyFrom + copyCount) copyCount++;
      else {
        if (copyCount > 0) yield { kind: "copy", block: copyFrom, count: copyCount };
        copyFrom = match;
        copyCount = 1;
      }
      if (copyCount * L >= COPY_RUN_BYTES) {
        yield { kind: "copy", block: copyFrom, count: copyCount };
        copyCount = 0;
      }
      p += L;
      lit = p;
      after = match + 1;
      sums = null;
      continue;
    }
    after = -1;
    if (p === lit && copyCount > 0) {
      yield { kind: "copy", block: copyFrom, count: copyCount };
      copyCount = 0;
    }
    // A miss: roll on through the buffer until a window whose bucket holds a block (the hot
    // loop of a changed region, on plain numbers).
    const stop = Math.min(window.end - L, lit + DELTA_CAPS.maxLiteralBytes);
    if (p < stop) {
      p = rollToCandidate(buf, p, stop, L, sums as WeakSums, index);
    } else {
      p++; // the next byte is not read yet: roll once it is
      rolled = true;
    }
    if (p - lit >= DELTA_CAPS.maxLiteralBytes) {
      yield literal(buf.subarray(lit, p));
      lit = p;
    }
  }
  // The tail, shorter than a block: the basis's short last block, or literal bytes.
  const tail = buf.subarray(p, window.end);
  const last = signature.blockCount - 1;
  const tailIsLast = lastLength > 0 && tail.length === lastLength &&
    signature.weak[last] === joinWeak(weakSums(tail, 0, tail.length)) &&
    hash.matches(tail, signature.strong, last);
  const literalEnd = tailIsLast ? p : window.end;
  if (literalEnd > lit && copyCount > 0) {
    yield { kind: "copy", block: copyFrom, count: copyCount };
    copyCount = 0;
  }
  for (let at = lit; at < literalEnd; at += DELTA_CAPS.maxLiteralBytes) {
    const cut = Math.min(literalEnd, at + DELTA_CAPS.maxLiteralBytes);
    yield literal(buf.subarray(at, cut));
  }
  if (tailIsLast) {
    hash.updateWithDigest(signature.strong, last);
    if (copyCount > 0 && copyFrom + copyCount === last) copyCount++;
    else {
      if (copyCount > 0) yield { kind: "copy", block: copyFrom, count: copyCount };
      copyFrom = last;
      copyCount = 1;
    }
  }
  if (copyCount > 0) yield { kind: "copy", block: copyFrom, count: copyCount };
  return { digest: hash.finish(), problem: window.problem };
}

/**
 * The delta of a file against a partial copy of itself: the blocks that still hold the file's
 * bytes at their own offsets, then the rest as literal bytes.
 */
async function* encodeAfterPrefix(
  window: Window,
  signature: Signature,
  hash: StrongHash,
  literal: (bytes: Uint8Array) => DeltaOp,
): AsyncGenerator<DeltaOp, DeltaEnd, void> {
  const L = signature.blockSize;
  const buf = window.buf;
  let block = 0;
  let p = 0;
  // The blocks that match, at their own offsets.
  while (block < signature.blockCount) {
    const length = Math.min(L, signature.basisSize - block * L);
    if (window.end - p < length && !window.exhausted) {
      p -= window.compact(p);
      await window.fill(p + length);
    }
    if (window.end - p < length) break;
    if (!hash.matches(buf.subarray(p, p + length), signature.strong, block)) break;
    hash.updateWithDigest(signature.strong, block);
    block++;
    p += length;
  }
  if (block > 0) yield { kind: "copy", block: 0, count: block };
  // The rest, as it comes.
  while (true) {
    if (p >= window.end) {
      if (window.exhausted) break;
      p -= window.compact(p);
      await window.fill(window.buf.length);
      continue;
    }
    const cut = Math.min(window.end, p + DELTA_CAPS.maxLiteralBytes);
    yield literal(buf.subarray(p, cut));
    p = cut;
  }
  return { digest: hash.finish(), problem: window.problem };
}

/**
 * The hot loop of a changed region: rolls the window from `p` on, one byte at a time, until its
 * weak checksum passes the index's filter and bucket (or `stop`); updates `sums` and returns
 * the new position. A plain function of plain numbers (a generator's captured locals live in its
 * context, and cost a memory access each).
 */
function rollToCandidate(
  buf: Uint8Array,
  start: number,
  stop: number,
  length: number,
  sums: WeakSums,
  index: BlockIndex,
): number {
  const { heads, shift, seen } = index;
  let { a, b } = sums;
  let p = start;
  while (p < stop) {
    const out = buf[p]!;
    a = (a - out + buf[p + length]!) & 0xffff;
    b = (b - length * out + a) & 0xffff;
    p++;
    const weak = a | (b << 16);
    const bit = Math.imul(weak ^ (weak >>> 15), 0x85ebca6b) >>> 12;
    if ((seen[bit >>> 5]! & (1 << (bit & 31))) !== 0) {
      if (heads[Math.imul(weak, 0x9e3779b1) >>> shift]! >= 0) break;
    }
  }
  sums.a = a;
  sums.b = b;
  return p;
}

/** A `read(p)` over a stream reader (tests, examples) or the file itself. */
function asReader(
  file: NewFileReader | ReadableStreamDefaultReader<Uint8Array>,
): NewFileReader {
  if (!("releaseLock" in file)) return file;
  let pending: Uint8Array = new Uint8Array(0);
  return {
    async read(p: Uint8Array): Promise<number | null> {
      if (pending.length === 0) {
        const next = await file.read();
        if (next.done) return null;
        pending = next.value;
      }
      const n = Math.min(p.length, pending.length);
      p.set(pending.subarray(0, n));
      pending = pending.subarray(n);
      return n;
    },
  };
}
