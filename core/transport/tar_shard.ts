/**
 * Tar shards: many small files packed into one ustar stream, each member named by the decimal
 * manifest id of its file. The source packs them with {@linkcode packShard}; the destination
 * checks them strictly with {@linkcode unpackShard} before writing anything.
 *
 * @module
 */

import { extract, pack } from "tar-stream";
import { describeError } from "../errors.ts";
import { ProtocolError, RECORD_CAPS } from "./records.ts";

/** One file to put in a shard. */
export interface ShardFile {
  /** Manifest id (the member name). */
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
  /** The tar bytes (empty when no member could be packed). */
  bytes: Uint8Array;
  /** Ids of the members actually inside, in tar order. */
  fileIds: number[];
  /** Files left out: vanished, unreadable or shorter than announced. */
  failures: ShardFailure[];
  /** Ids of files that had grown; their announced prefix was packed. */
  grown: number[];
}

/** Options for {@linkcode packShard}. */
export interface PackShardOptions {
  /**
   * Files read at the same time.
   * @default {32}
   */
  readConcurrency?: number;
}

const MEMBER_NAME_REGEXP = /^(?:0|[1-9][0-9]{0,15})$/;
const BLOCK = 512;

/**
 * Reads `files` and packs them into one tar shard. Each member is a plain file named by its
 * decimal id, with exactly the announced size: a file that shrank, vanished or cannot be read is
 * left out and reported in `failures`; a file that grew contributes its announced prefix and is
 * reported in `grown`. Only the members listed in `fileIds` are inside.
 *
 * Requires `--allow-read`.
 *
 * @example Usage
 * ```ts ignore
 * const open = () => Deno.openSync("/srv/a.txt");
 * const shard = await packShard([{ id: 7, path: "a.txt", size: 5, open }]);
 * console.log(shard.fileIds, shard.bytes.length); // [7] 1536
 * ```
 *
 * @param files The files, in the order they should appear.
 * @param options How many files to read at once.
 * @throws {RangeError} When the shard would exceed {@linkcode RECORD_CAPS.maxShardBytes}.
 * @returns The shard bytes, the ids inside, and the files left out.
 */
export async function packShard(
  files: readonly ShardFile[],
  options: PackShardOptions = {},
): Promise<PackedShard> {
  const { readConcurrency = 32 } = options;
  const contents = new Array<Uint8Array | null>(files.length).fill(null);
  const failures: ShardFailure[] = [];
  const grown: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const index = next++;
      const file = files[index]!;
      try {
        const data = await readPrefix(file);
        if (data.length < file.size) {
          failures.push({
            id: file.id,
            message: `Cannot read file "${file.path}": it shrank to ${data.length} bytes, ` +
              `${file.size} were announced`,
            vanished: false,
          });
        } else {
          if (data.length > file.size) grown.push(file.id);
          contents[index] = data.subarray(0, file.size);
        }
      } catch (error) {
        failures.push({
          id: file.id,
          message: `Cannot read file "${file.path}": ${describeError(error)}`,
          vanished: error instanceof Deno.errors.NotFound,
        });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, readConcurrency) }, worker));

  const fileIds: number[] = [];
  let total = 2 * BLOCK;
  files.forEach((file, i) => {
    const data = contents[i];
    if (!data) return;
    fileIds.push(file.id);
    total += BLOCK + Math.ceil(data.length / BLOCK) * BLOCK;
  });
  if (fileIds.length === 0) return { bytes: new Uint8Array(0), fileIds, failures, grown };
  if (total > RECORD_CAPS.maxShardBytes) {
    throw new RangeError(`Cannot pack tar shard: ${total} bytes exceed the 64 MiB limit`);
  }

  const packer = pack();
  const mtime = new Date(0);
  files.forEach((file, i) => {
    const data = contents[i];
    if (!data) return;
    packer.entry({ name: String(file.id), size: data.length, mode: 0o600, mtime }, data);
  });
  packer.finalize();
  const bytes = new Uint8Array(total);
  let filled = 0;
  for await (const chunk of packer as AsyncIterable<Uint8Array>) {
    if (filled + chunk.length > total) {
      throw new RangeError("Cannot pack tar shard: the packer wrote more than expected");
    }
    bytes.set(chunk, filled);
    filled += chunk.length;
  }
  if (filled !== total) {
    throw new RangeError(`Cannot pack tar shard: ${filled} bytes written, ${total} expected`);
  }
  return { bytes, fileIds, failures, grown };
}

/** Options for {@linkcode unpackShard}. */
export interface UnpackShardOptions {
  /**
   * The ids the shard's record announced: when given, the members must be exactly these, in
   * this order.
   */
  fileIds?: readonly number[];
  /** Returns the granted size of an id, or `null` when the id may not appear. */
  granted: (id: number) => number | null;
  /**
   * Receives each member once the whole shard has been checked. `data` is a view of `bytes`.
   * Awaited in tar order.
   */
  onMember: (id: number, data: Uint8Array) => void | Promise<void>;
}

/**
 * Checks a tar shard strictly, then hands each member to `onMember`. Every member must be a plain
 * file named by the decimal id of a granted file, with exactly the granted size, at most once;
 * links, directories, paths, other names and trailing garbage are refused. Nothing is delivered
 * unless the whole shard is valid.
 *
 * @example Usage
 * ```ts ignore
 * const count = await unpackShard(bytes, {
 *   fileIds: [7],
 *   granted: (id) => id === 7 ? 5 : null,
 *   onMember: (id, data) => Deno.writeFile(`/tmp/${id}`, data),
 * });
 * ```
 *
 * @param bytes The whole shard.
 * @param options The expected ids, the grant lookup and the member callback.
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
  const members: { id: number; data: Uint8Array }[] = [];
  const seen = new Set<number>();
  const extractor = extract();
  extractor.end(bytes);
  try {
    for await (const entry of extractor) {
      const { header } = entry;
      const name = header.name;
      if (header.type !== "file") {
        entry.resume();
        throw badShard(`member "${clip(name)}" is a ${header.type}, not a plain file`);
      }
      if (!MEMBER_NAME_REGEXP.test(name) || !Number.isSafeInteger(Number(name))) {
        entry.resume();
        throw badShard(`member name "${clip(name)}" is not a file id`);
      }
      const id = Number(name);
      if (seen.has(id)) throw badShard(`member ${id} appears twice`);
      seen.add(id);
      if (fileIds && fileIds[members.length] !== id) {
        throw badShard(`member ${id} is not the file id announced at position ${members.length}`);
      }
      const size = granted(id);
      if (size === null) throw badShard(`member ${id} was not granted`);
      if (header.size !== size) {
        throw badShard(`member ${id} has ${header.size} bytes, ${size} were granted`);
      }
      const chunks: Uint8Array[] = [];
      let length = 0;
      for await (const chunk of entry as AsyncIterable<Uint8Array>) {
        chunks.push(chunk);
        length += chunk.length;
      }
      if (length !== size) throw badShard(`member ${id} holds ${length} bytes, ${size} announced`);
      members.push({ id, data: join(chunks, length) });
    }
  } catch (error) {
    extractor.destroy();
    if (error instanceof ProtocolError) throw error;
    throw badShard(describeError(error), error);
  }
  if (fileIds && members.length !== fileIds.length) {
    throw badShard(`${members.length} members, ${fileIds.length} announced`);
  }
  if (members.length === 0) throw badShard("it holds no member");
  for (const { id, data } of members) await onMember(id, data);
  return members.length;
}

/**
 * Reads the first `size` bytes of a file, plus one more byte when there is one (so a file that
 * grew is noticed). For a regular file a short read means end of file, which saves a read.
 */
function readPrefix(source: ShardFile): Promise<Uint8Array> {
  // Shard members are small: synchronous reads cost far less than async ops per file.
  const size = source.size;
  using file = source.open();
  const buf = new Uint8Array(size + 1);
  let filled = 0;
  while (filled < size) {
    const got = file.readSync(buf.subarray(filled));
    if (got === null) break;
    filled += got;
  }
  return Promise.resolve(buf.subarray(0, filled));
}

function join(chunks: Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(length);
  let off = 0;
  for (const chunk of chunks) {
    out.set(chunk, off);
    off += chunk.length;
  }
  return out;
}

function clip(name: string): string {
  return name.length > 64 ? `${name.slice(0, 64)}...` : name;
}

function badShard(detail: string, cause?: unknown): ProtocolError {
  return new ProtocolError(`Cannot unpack tar shard: ${detail}`, cause ? { cause } : undefined);
}
