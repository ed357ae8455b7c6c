/**
 * Shards: many small files sent as one record. The record lists the manifest ids of its
 * members, in order; the shard is their bytes, back to back, each exactly the size the
 * destination granted for that id. There are no member headers to parse: the destination knows
 * every size already, so it checks the ids and the total length and slices. The source packs a
 * shard with {@linkcode packShard}; the destination checks it strictly with
 * {@linkcode unpackShard} before writing anything.
 *
 * @module
 */

import { describeError } from "../errors.ts";
import { ProtocolError, RECORD_CAPS } from "./records.ts";

/** One file to put in a shard. */
export interface ShardFile {
  /** Manifest id. */
  id: number;
  /** Its path relative to the transfer root (for messages). */
  path: string;
  /** Size announced in the manifest; exactly this many bytes are packed. */
  size: number;
  /** Opens the source file for reading (through its tree). */
  open(): Deno.FsFile;
}

/** A file that could not be packed. */
export interface ShardFailure {
  /** Manifest id. */
  id: number;
  /** One-line reason. */
  message: string;
  /** True when the file no longer exists (a `skip`, not an error). */
  vanished: boolean;
}

/** The result of {@linkcode packShard}. */
export interface PackedShard {
  /** The shard bytes (empty when no member could be packed). */
  bytes: Uint8Array;
  /** Ids of the members actually inside, in order. */
  fileIds: number[];
  /** Files left out: vanished, unreadable or shorter than announced. */
  failures: ShardFailure[];
  /** Ids of files that had grown; their announced prefix was packed. */
  grown: number[];
}

/** Options of {@linkcode packShard}. */
export interface PackShardOptions {
  /**
   * How many members are read at once once reads wait for the disk (see
   * {@linkcode SLOW_READ_MICROS}); 1 reads every member in turn.
   * @default {16}
   */
  lanes?: number;
  /**
   * A read slower than this many µs waited for the disk.
   * @default {SLOW_READ_MICROS}
   */
  slowReadMicros?: number;
}

/**
 * A member's read that takes longer than this (µs) waited for the disk: a 64 KiB read from the
 * page cache takes ~15 µs here. Once {@linkcode SLOW_READS_TO_SWITCH} reads of a shard were that
 * slow, its other members are read several at a time: reading 20,000 files of 4 KiB that were not
 * in the page cache took 1.6 s one by one and 0.82–0.97 s with 16–64 at once (2 vCPUs, a virtual
 * disk), while from the page cache one by one took 0.25 s and 16 at once 0.43 s.
 */
export const SLOW_READ_MICROS = 50;
/** See {@linkcode SLOW_READ_MICROS}. */
export const SLOW_READS_TO_SWITCH = 2;

/**
 * Reads `files` and packs them into one shard. Each member holds exactly the announced size: a
 * file that shrank, vanished or cannot be read is left out and reported in `failures`; a file
 * that grew contributes its announced prefix and is reported in `grown`. Only the members listed
 * in `fileIds` are inside, in that order.
 *
 * Members are read one by one, synchronously, while their bytes come from the page cache; once
 * reads wait for the disk ({@linkcode SLOW_READ_MICROS}), the rest are read `lanes` at a time
 * (each still opened synchronously, through its tree's checks).
 *
 * Requires `--allow-read`.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { packShard } from "./shard.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "hello");
 * const shard = await packShard([
 *   { id: 7, path: "a.txt", size: 5, open: () => Deno.openSync(path) },
 * ]);
 * deepStrictEqual([shard.fileIds, shard.bytes.length], [[7], 5]);
 * await Deno.remove(path);
 * ```
 *
 * @param files The files, in the order they should appear.
 * @param spare A buffer to pack into when it is large enough (the sum of the sizes plus one), so
 * that a sender reuses two buffers instead of faulting in fresh memory for every shard; the
 * shard's bytes are then a view of it.
 * @param options How many members to read at once when reads wait for the disk.
 * @throws {RangeError} When the shard would exceed {@linkcode RECORD_CAPS.maxShardBytes}.
 * @returns The shard bytes, the ids inside, and the files left out.
 */
export async function packShard(
  files: readonly ShardFile[],
  spare?: Uint8Array,
  options: PackShardOptions = {},
): Promise<PackedShard> {
  const { lanes = 16, slowReadMicros = SLOW_READ_MICROS } = options;
  const announced = files.reduce((sum, file) => sum + file.size, 0);
  if (announced > RECORD_CAPS.maxShardBytes) {
    throw new RangeError(`Cannot pack shard: ${announced} bytes exceed the 64 MiB limit`);
  }
  // One extra byte at the end: a member's read may look one byte past its size (see readInto).
  const buffer = spare !== undefined && spare.length >= announced + 1
    ? spare.subarray(0, announced + 1)
    : new Uint8Array(announced + 1);
  const packed = new ShardAssembly(buffer);
  const timing = { readMicros: 0 };
  let slow = 0;
  let next = 0;
  while (next < files.length && (slow < SLOW_READS_TO_SWITCH || lanes <= 1)) {
    const file = files[next++]!;
    const slot = buffer.subarray(packed.filled, packed.filled + file.size + 1);
    const outcome = readMember(file, slot, timing);
    if (timing.readMicros > slowReadMicros) slow++;
    packed.add(file, outcome, packed.filled);
  }
  if (next < files.length) await readConcurrently(files.slice(next), packed, lanes);
  return packed.result();
}

/** Options for {@linkcode unpackShard}. */
export interface UnpackShardOptions {
  /** The ids the shard's record announced: the members, in order. */
  fileIds: readonly number[];
  /** Returns the granted size of an id, or `null` when the id may not appear. */
  granted: (id: number) => number | null;
  /**
   * Receives each member once the whole shard has been checked. `data` is a view of `bytes`.
   * Awaited in order.
   */
  onMember: (id: number, data: Uint8Array) => void | Promise<void>;
}

/**
 * Checks a shard strictly, then hands each member to `onMember`: every announced id must be
 * granted and appear once, and the shard must hold exactly the sum of their granted sizes.
 * Nothing is delivered unless the whole shard is valid.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { unpackShard } from "./shard.ts";
 * const got: string[] = [];
 * await unpackShard(new TextEncoder().encode("abcde"), {
 *   fileIds: [7, 8],
 *   granted: (id) => id === 7 ? 2 : id === 8 ? 3 : null,
 *   onMember: (id, data) => void got.push(`${id}:${new TextDecoder().decode(data)}`),
 * });
 * deepStrictEqual(got, ["7:ab", "8:cde"]);
 * ```
 *
 * @param bytes The whole shard.
 * @param options The announced ids, the grant lookup and the member callback.
 * @throws {ProtocolError} On any violation.
 * @returns The number of members delivered.
 */
export async function unpackShard(
  bytes: Uint8Array,
  options: UnpackShardOptions,
): Promise<number> {
  const { fileIds, granted, onMember } = options;
  if (bytes.length > RECORD_CAPS.maxShardBytes) {
    throw badShard(`${bytes.length} bytes exceed the 64 MiB limit`);
  }
  if (fileIds.length === 0) throw badShard("it holds no member");
  const seen = new Set<number>();
  const sizes: number[] = [];
  let total = 0;
  for (const id of fileIds) {
    if (seen.has(id)) throw badShard(`member ${id} appears twice`);
    seen.add(id);
    const size = granted(id);
    if (size === null) throw badShard(`member ${id} was not granted`);
    sizes.push(size);
    total += size;
  }
  if (total !== bytes.length) {
    throw badShard(`it holds ${bytes.length} bytes, its members were granted ${total}`);
  }
  let offset = 0;
  for (const [i, id] of fileIds.entries()) {
    const size = sizes[i]!;
    await onMember(id, bytes.subarray(offset, offset + size));
    offset += size;
  }
  return fileIds.length;
}

/** What reading one member gave: the bytes read (`size + 1` when it grew), or the error. */
type MemberOutcome = number | unknown;

/** The members packed so far, in order, and the files left out. */
class ShardAssembly {
  readonly buffer: Uint8Array;
  filled = 0;
  readonly #fileIds: number[] = [];
  readonly #failures: ShardFailure[] = [];
  readonly #grown: number[] = [];

  constructor(buffer: Uint8Array) {
    this.buffer = buffer;
  }

  /** Adds a member whose `got` bytes were read at `at` (moved down to the end of the shard). */
  add(file: ShardFile, got: MemberOutcome, at: number): void {
    if (typeof got !== "number") {
      this.#failures.push({
        id: file.id,
        message: `Cannot read file "${file.path}": ${describeError(got)}`,
        vanished: got instanceof Deno.errors.NotFound,
      });
      return;
    }
    if (got < file.size) {
      this.#failures.push({
        id: file.id,
        message: `Cannot read file "${file.path}": it shrank to ${got} bytes, ` +
          `${file.size} were announced`,
        vanished: false,
      });
      return;
    }
    if (got > file.size) this.#grown.push(file.id);
    if (at !== this.filled) this.buffer.copyWithin(this.filled, at, at + file.size);
    this.#fileIds.push(file.id);
    this.filled += file.size;
  }

  result(): PackedShard {
    return {
      bytes: this.buffer.subarray(0, this.filled),
      fileIds: this.#fileIds,
      failures: this.#failures,
      grown: this.#grown,
    };
  }
}

function readMember(
  file: ShardFile,
  into: Uint8Array,
  timing: { readMicros: number },
): MemberOutcome {
  try {
    return readInto(file, into, timing);
  } catch (error) {
    timing.readMicros = 0;
    return error;
  }
}

/** Scratch buffers of the concurrent reads, kept for the next shard (fresh memory faults). */
const scratches: Uint8Array[] = [];

/**
 * Reads the rest of a shard `lanes` members at a time, each into a scratch buffer (a member that
 * grew reads one byte past its slot), then packs them in order behind what is already packed.
 */
async function readConcurrently(
  files: readonly ShardFile[],
  packed: ShardAssembly,
  lanes: number,
): Promise<void> {
  const start = packed.filled;
  const offsets: number[] = [];
  let at = start;
  for (const file of files) {
    offsets.push(at);
    at += file.size;
  }
  const outcomes: MemberOutcome[] = new Array(files.length);
  const largest = files.reduce((max, file) => Math.max(max, file.size), 0) + 1;
  let next = 0;
  const lane = async (): Promise<void> => {
    let scratch = scratches.pop() ?? new Uint8Array(largest);
    if (scratch.length < largest) scratch = new Uint8Array(largest);
    try {
      while (next < files.length) {
        const k = next++;
        const file = files[k]!;
        try {
          const got = await readIntoAsync(file, scratch.subarray(0, file.size + 1));
          packed.buffer.set(scratch.subarray(0, Math.min(got, file.size)), offsets[k]);
          outcomes[k] = got;
        } catch (error) {
          outcomes[k] = error;
        }
      }
    } finally {
      if (scratches.length < 64) scratches.push(scratch);
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, files.length) }, lane));
  files.forEach((file, k) => packed.add(file, outcomes[k], offsets[k]!));
}

/**
 * Reads up to `into.length` bytes of a file (its announced size plus one, so that a file that
 * grew is noticed) and returns how many it read. For a regular file a short read means end of
 * file, which saves a read: the one-byte read that looks for more is made only when the reads
 * filled everything they asked for. Synchronous: shard members are small, and an async op per
 * file costs more than the read from the page cache. `timing.readMicros` is set to the time
 * spent reading (the open and close left out).
 */
function readInto(source: ShardFile, into: Uint8Array, timing: { readMicros: number }): number {
  using file = source.open();
  const started = performance.now();
  let filled = 0;
  let atEnd = false;
  try {
    while (filled < source.size) {
      const wanted = into.length - filled;
      const got = file.readSync(into.subarray(filled));
      if (got === null) break;
      filled += got;
      atEnd = got < wanted;
    }
    if (filled === source.size && into.length > filled && !atEnd) {
      // One more byte: a file that grew is packed with its announced prefix, and said so.
      const extra = file.readSync(into.subarray(filled, filled + 1));
      if (extra !== null && extra > 0) return filled + 1;
    }
    return filled;
  } finally {
    timing.readMicros = (performance.now() - started) * 1000;
  }
}

/** {@linkcode readInto} with asynchronous reads, for files that are not in the page cache. */
async function readIntoAsync(source: ShardFile, into: Uint8Array): Promise<number> {
  using file = source.open();
  let filled = 0;
  let atEnd = false;
  while (filled < source.size) {
    const wanted = into.length - filled;
    const got = await file.read(into.subarray(filled));
    if (got === null) break;
    filled += got;
    atEnd = got < wanted;
  }
  if (filled === source.size && into.length > filled && !atEnd) {
    const extra = await file.read(into.subarray(filled, filled + 1));
    if (extra !== null && extra > 0) return filled + 1;
  }
  return filled;
}

function badShard(detail: string): ProtocolError {
  return new ProtocolError(`Cannot unpack shard: ${detail}`);
}
