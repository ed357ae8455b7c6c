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

/**
 * Reads `files` and packs them into one shard. Each member holds exactly the announced size: a
 * file that shrank, vanished or cannot be read is left out and reported in `failures`; a file
 * that grew contributes its announced prefix and is reported in `grown`. Only the members listed
 * in `fileIds` are inside, in that order.
 *
 * Requires `--allow-read`.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { packShard } from "./shard.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "hello");
 * const shard = packShard([{ id: 7, path: "a.txt", size: 5, open: () => Deno.openSync(path) }]);
 * deepStrictEqual([shard.fileIds, shard.bytes.length], [[7], 5]);
 * await Deno.remove(path);
 * ```
 *
 * @param files The files, in the order they should appear.
 * @param spare A buffer to pack into when it is large enough (the sum of the sizes plus one), so
 * that a sender reuses two buffers instead of faulting in fresh memory for every shard; the
 * shard's bytes are then a view of it.
 * @throws {RangeError} When the shard would exceed {@linkcode RECORD_CAPS.maxShardBytes}.
 * @returns The shard bytes, the ids inside, and the files left out.
 */
export function packShard(files: readonly ShardFile[], spare?: Uint8Array): PackedShard {
  const announced = files.reduce((sum, file) => sum + file.size, 0);
  if (announced > RECORD_CAPS.maxShardBytes) {
    throw new RangeError(`Cannot pack shard: ${announced} bytes exceed the 64 MiB limit`);
  }
  // One extra byte at the end: a member's read may look one byte past its size (see readInto).
  const buffer = spare !== undefined && spare.length >= announced + 1
    ? spare.subarray(0, announced + 1)
    : new Uint8Array(announced + 1);
  const failures: ShardFailure[] = [];
  const grown: number[] = [];
  const fileIds: number[] = [];
  let filled = 0;
  for (const file of files) {
    try {
      const got = readInto(file, buffer.subarray(filled, filled + file.size + 1));
      if (got < file.size) {
        failures.push({
          id: file.id,
          message: `Cannot read file "${file.path}": it shrank to ${got} bytes, ` +
            `${file.size} were announced`,
          vanished: false,
        });
        continue;
      }
      if (got > file.size) grown.push(file.id);
      fileIds.push(file.id);
      filled += file.size;
    } catch (error) {
      failures.push({
        id: file.id,
        message: `Cannot read file "${file.path}": ${describeError(error)}`,
        vanished: error instanceof Deno.errors.NotFound,
      });
    }
  }
  return { bytes: buffer.subarray(0, filled), fileIds, failures, grown };
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

/**
 * Reads up to `into.length` bytes of a file (its announced size plus one, so that a file that
 * grew is noticed) and returns how many it read. For a regular file a short read means end of
 * file, which saves a read. Synchronous: shard members are small, and an async op per file costs
 * more than the read.
 */
function readInto(source: ShardFile, into: Uint8Array): number {
  using file = source.open();
  let filled = 0;
  while (filled < source.size) {
    const got = file.readSync(into.subarray(filled));
    if (got === null) break;
    filled += got;
  }
  if (filled === source.size && into.length > filled) {
    // One more byte: a file that grew is packed with its announced prefix, and said so.
    const extra = file.readSync(into.subarray(filled, filled + 1));
    if (extra !== null && extra > 0) return filled + 1;
  }
  return filled;
}

function badShard(detail: string): ProtocolError {
  return new ProtocolError(`Cannot unpack shard: ${detail}`);
}
