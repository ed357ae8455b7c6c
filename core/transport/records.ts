/**
 * The binary record codec of the data plane, plus a buffered reader and a batching writer.
 *
 * Records flow from the SOURCE side to the DESTINATION side of one data-plane connection. Each
 * starts with a 1-byte type; integers are little-endian; a u64 must be at most 2^53-1.
 *
 * | type | name  | header fields after the type byte          | then                               |
 * |------|-------|--------------------------------------------|------------------------------------|
 * | 1    | file  | id u64, size u64                           | `size` payload bytes, status u8    |
 * | 2    | shard | shardId u64, size u32, count u32, id u64 × n | `size` bytes, members back to back |
 * | 3    | skip  | id u64                                     | (nothing)                          |
 * | 4    | error | id u64, length u16, UTF-8 message          | (nothing)                          |
 * | 5    | end   | (none)                                     | (nothing; the connection is done)  |
 * | 6    | delta | id u64, size u64                           | delta instructions, see below      |
 *
 * The status byte after a file payload is {@linkcode FILE_STATUS}: 0 = the bytes are good; 1 = the
 * source changed size while it was sent (missing bytes were padded with zeros); 2 = the source
 * could not be read to the end (padded too). On 1 or 2 the receiver discards the file.
 *
 * A `delta` record describes a file of `size` bytes against the block signature the destination
 * sent with its need (`core/delta/`): instructions follow, each a 1-byte op — 1 = literal (length
 * u32, 1 to {@linkcode DELTA_CAPS.maxLiteralBytes}, then the bytes), 2 = copy (first block u32,
 * block count u32), 3 = end (the file's xxHash3-128, 16 bytes, then a status byte as after a
 * `file` payload).
 *
 * Every length read off the wire is checked against {@linkcode RECORD_CAPS} before anything is
 * allocated; a violation is a {@linkcode ProtocolError}.
 *
 * @module
 */

import { DELTA_CAPS } from "../delta/signature.ts";
import { describeError } from "../errors.ts";
import { StallGuard } from "./deadline.ts";

import { ProtocolError } from "../errors.ts";
export { ProtocolError };

/** Limits on what a record may announce; checked before allocating. */
export const RECORD_CAPS: {
  readonly maxMessageBytes: number;
  readonly maxShardFiles: number;
  readonly maxShardBytes: number;
  readonly maxFileBytes: number;
} = Object.freeze({
  /** Longest `error` message, in UTF-8 bytes. */
  maxMessageBytes: 4096,
  /** Most file ids one `shard` record may list. */
  maxShardFiles: 4096,
  /** Largest shard, in bytes (64 MiB). */
  maxShardBytes: 64 * 1024 * 1024,
  /** Largest file payload (2^53-1, the largest exact JS integer). */
  maxFileBytes: Number.MAX_SAFE_INTEGER,
});

/** Values of the status byte that follows a `file` payload. */
export const FILE_STATUS: {
  readonly ok: 0;
  readonly changed: 1;
  readonly unreadable: 2;
} = Object.freeze({
  /** The payload is the file as announced. */
  ok: 0,
  /** The source changed size while it was sent; the payload was padded and must be discarded. */
  changed: 1,
  /** The source could not be read to the end; the payload was padded and must be discarded. */
  unreadable: 2,
});

/** One value of {@linkcode FILE_STATUS}. */
export type FileStatus = 0 | 1 | 2;

/** A data-plane record header (payloads travel after it, see the module doc). */
export type DataRecord =
  | {
    /** A whole file: `size` payload bytes and a status byte follow. */
    type: "file";
    /** Manifest id. */
    id: number;
    /** Payload size in bytes. */
    size: number;
  }
  | {
    /** A shard of small files (their bytes back to back): `size` bytes follow. */
    type: "shard";
    /** Session-unique shard number chosen by the source. */
    shardId: number;
    /** Shard size in bytes. */
    size: number;
    /** Manifest ids of the members, in order (only the members actually inside). */
    fileIds: number[];
  }
  | {
    /** Nothing will be sent for this id (the file vanished). */
    type: "skip";
    /** Manifest id. */
    id: number;
  }
  | {
    /** The source could not read this file. */
    type: "error";
    /** Manifest id. */
    id: number;
    /** One-line reason. */
    message: string;
  }
  | {
    /** No more records on this connection. */
    type: "end";
  }
  | {
    /** A file as a delta against the destination's basis: instructions follow. */
    type: "delta";
    /** Manifest id. */
    id: number;
    /** Size of the file the instructions describe. */
    size: number;
  };

/** One instruction of a `delta` record (see the module doc). */
export type DeltaInstruction =
  /** `length` literal bytes follow. */
  | { op: "literal"; length: number }
  /** `count` basis blocks from `block` on. */
  | { op: "copy"; block: number; count: number }
  /** The end: the digest of the file's pieces (see `encodeDelta`) and its status. */
  | { op: "end"; digest: Uint8Array; status: FileStatus };

const TYPE_CODES = { file: 1, shard: 2, skip: 3, error: 4, end: 5, delta: 6 } as const;
const OP_CODES = { literal: 1, copy: 2, end: 3 } as const;
const TWO_32 = 0x1_0000_0000;
const MAX_HIGH_WORD = 0x1f_ffff;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Encodes a record header. A longer `error` message is cut to
 * {@linkcode RECORD_CAPS.maxMessageBytes} bytes at a character boundary.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { encodeRecordHeader } from "./records.ts";
 * deepStrictEqual(encodeRecordHeader({ type: "end" }), new Uint8Array([5]));
 * deepStrictEqual(encodeRecordHeader({ type: "skip", id: 7 }), new Uint8Array([3, 7, 0, 0, 0, 0, 0, 0, 0]));
 * ```
 *
 * @param record The header to encode.
 * @throws {RangeError} When a number is not a safe non-negative integer or exceeds a cap.
 * @returns The bytes to write.
 */
export function encodeRecordHeader(record: DataRecord): Uint8Array<ArrayBuffer> {
  switch (record.type) {
    case "file":
    case "delta": {
      const out = new Uint8Array(17);
      const view = new DataView(out.buffer);
      out[0] = TYPE_CODES[record.type];
      setU64(view, 1, record.id, "file id");
      setU64(view, 9, record.size, "file size");
      return out;
    }
    case "shard": {
      const { shardId, size, fileIds } = record;
      if (!Number.isInteger(size) || size < 0 || size > RECORD_CAPS.maxShardBytes) {
        throw new RangeError(`Cannot encode shard record: size ${size} is not in 0..64 MiB`);
      }
      if (fileIds.length === 0 || fileIds.length > RECORD_CAPS.maxShardFiles) {
        throw new RangeError(
          `Cannot encode shard record: ${fileIds.length} file ids (1..${RECORD_CAPS.maxShardFiles})`,
        );
      }
      const out = new Uint8Array(17 + 8 * fileIds.length);
      const view = new DataView(out.buffer);
      out[0] = TYPE_CODES.shard;
      setU64(view, 1, shardId, "shard id");
      view.setUint32(9, size, true);
      view.setUint32(13, fileIds.length, true);
      fileIds.forEach((id, i) => setU64(view, 17 + 8 * i, id, "file id"));
      return out;
    }
    case "skip": {
      const out = new Uint8Array(9);
      out[0] = TYPE_CODES.skip;
      setU64(new DataView(out.buffer), 1, record.id, "file id");
      return out;
    }
    case "error": {
      const text = new Uint8Array(RECORD_CAPS.maxMessageBytes);
      const { written } = encoder.encodeInto(record.message, text);
      const out = new Uint8Array(11 + written);
      const view = new DataView(out.buffer);
      out[0] = TYPE_CODES.error;
      setU64(view, 1, record.id, "file id");
      view.setUint16(9, written, true);
      out.set(text.subarray(0, written), 11);
      return out;
    }
    case "end":
      return new Uint8Array([TYPE_CODES.end]);
  }
}

/**
 * Encodes the header of a delta instruction (a literal's bytes follow it separately).
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { encodeDeltaInstruction } from "./records.ts";
 * deepStrictEqual(encodeDeltaInstruction({ op: "copy", block: 1, count: 2 }), new Uint8Array([2, 1, 0, 0, 0, 2, 0, 0, 0]));
 * ```
 *
 * @param instruction The instruction.
 * @throws {RangeError} When a number does not fit its field.
 * @returns Its bytes.
 */
export function encodeDeltaInstruction(instruction: DeltaInstruction): Uint8Array<ArrayBuffer> {
  switch (instruction.op) {
    case "literal": {
      const out = new Uint8Array(5);
      out[0] = OP_CODES.literal;
      new DataView(out.buffer).setUint32(1, u32(instruction.length, "literal length"), true);
      return out;
    }
    case "copy": {
      const out = new Uint8Array(9);
      const view = new DataView(out.buffer);
      out[0] = OP_CODES.copy;
      view.setUint32(1, u32(instruction.block, "block"), true);
      view.setUint32(5, u32(instruction.count, "block count"), true);
      return out;
    }
    case "end": {
      if (instruction.digest.length !== DIGEST_BYTES) {
        throw new RangeError(`Cannot encode a delta end: the digest is not ${DIGEST_BYTES} bytes`);
      }
      const out = new Uint8Array(2 + DIGEST_BYTES);
      out[0] = OP_CODES.end;
      out.set(instruction.digest, 1);
      out[1 + DIGEST_BYTES] = instruction.status;
      return out;
    }
  }
}

const DIGEST_BYTES = 16;

function u32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new RangeError(`Cannot encode a delta instruction: ${what} ${value} is not a u32`);
  }
  return value;
}

function setU64(view: DataView, offset: number, value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`Cannot encode data record: ${what} ${value} is not in 0..2^53-1`);
  }
  view.setUint32(offset, value % TWO_32, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_32), true);
}

/** The read half of a connection: `Deno.Conn` satisfies it. */
export interface ByteSource {
  /** Reads into `p`; resolves to the byte count, or `null` at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Closes the underlying resource (unblocks a pending read). */
  close(): void;
}

/** The write half of a connection: `Deno.Conn` satisfies it. */
export interface ByteSink {
  /** Writes some of `p`; resolves to the byte count written. */
  write(p: Uint8Array): Promise<number>;
  /** Closes the underlying resource (unblocks a pending write). */
  close(): void;
}

/** Options for {@linkcode RecordReader}. */
export interface RecordReaderOptions {
  /**
   * Longest time a read may make no progress before it fails with a `TimeoutError`; the source
   * is closed to unblock it.
   * @default {30000}
   */
  idleTimeoutMs?: number;
  /**
   * Size of the internal buffer (at least 64 KiB). Payload chunks are at most this long.
   * @default {1048576}
   */
  bufferSize?: number;
  /**
   * Largest single {@linkcode RecordReader.readExact} allocation.
   * @default {67108864}
   */
  maxReadBytes?: number;
}

/**
 * Buffered reader of data records over a `Deno.Conn` (or any {@linkcode ByteSource}) or a
 * `ReadableStreamDefaultReader<Uint8Array>`. Every read runs under a {@linkcode StallGuard}; every
 * length is capped before it is allocated.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { encodeRecordHeader, RecordReader } from "./records.ts";
 * const bytes = encodeRecordHeader({ type: "error", id: 3, message: "Cannot open file" });
 * const reader = new RecordReader(new Blob([bytes]).stream().getReader());
 * deepStrictEqual(await reader.readRecord(), { type: "error", id: 3, message: "Cannot open file" });
 * reader.close();
 * ```
 */
export class RecordReader {
  #source: ByteSource;
  #buf: Uint8Array;
  #view: DataView;
  #start = 0;
  #end = 0;
  #eof = false;
  #guard: StallGuard;
  #maxReadBytes: number;
  #closed = false;

  /**
   * Wraps a connection or a stream reader; the reader owns it from now on.
   * @param source What to read from.
   * @param options Idle deadline, buffer size and allocation cap.
   */
  constructor(
    source: ByteSource | ReadableStreamDefaultReader<Uint8Array>,
    options: RecordReaderOptions = {},
  ) {
    const {
      idleTimeoutMs = 30_000,
      bufferSize = 1024 * 1024,
      maxReadBytes = RECORD_CAPS.maxShardBytes,
    } = options;
    this.#source = isStreamReader(source) ? new StreamSource(source) : source;
    this.#buf = new Uint8Array(Math.max(64 * 1024, bufferSize));
    this.#view = new DataView(this.#buf.buffer);
    this.#maxReadBytes = maxReadBytes;
    this.#guard = new StallGuard({
      idleTimeoutMs,
      action: "read data record",
      onStall: () => this.close(),
    });
  }

  /** Bytes received and not consumed yet. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * Reads the next record header; a payload, if any, is left for the caller.
   * @throws {ProtocolError} On an unknown type, a broken cap, bad UTF-8 or an early end.
   * @throws {TimeoutError} When the peer makes no progress.
   * @returns The header.
   */
  async readRecord(): Promise<DataRecord> {
    await this.#ensure(1, true);
    const code = this.#buf[this.#start++];
    switch (code) {
      case TYPE_CODES.file:
      case TYPE_CODES.delta: {
        await this.#ensure(16);
        const id = this.#u64(0, "file id");
        const size = this.#u64(8, "file size");
        this.#start += 16;
        return { type: code === TYPE_CODES.file ? "file" : "delta", id, size };
      }
      case TYPE_CODES.shard: {
        await this.#ensure(16);
        const shardId = this.#u64(0, "shard id");
        const size = this.#view.getUint32(this.#start + 8, true);
        const count = this.#view.getUint32(this.#start + 12, true);
        if (size > RECORD_CAPS.maxShardBytes) {
          throw badRecord(`shard size ${size} exceeds ${RECORD_CAPS.maxShardBytes}`);
        }
        if (count === 0 || count > RECORD_CAPS.maxShardFiles) {
          throw badRecord(`shard lists ${count} file ids (1..${RECORD_CAPS.maxShardFiles})`);
        }
        this.#start += 16;
        await this.#ensure(8 * count);
        const fileIds = new Array<number>(count);
        for (let i = 0; i < count; i++) fileIds[i] = this.#u64(8 * i, "file id");
        this.#start += 8 * count;
        return { type: "shard", shardId, size, fileIds };
      }
      case TYPE_CODES.skip: {
        await this.#ensure(8);
        const id = this.#u64(0, "file id");
        this.#start += 8;
        return { type: "skip", id };
      }
      case TYPE_CODES.error: {
        await this.#ensure(10);
        const id = this.#u64(0, "file id");
        const length = this.#view.getUint16(this.#start + 8, true);
        if (length > RECORD_CAPS.maxMessageBytes) {
          throw badRecord(
            `error message of ${length} bytes exceeds ${RECORD_CAPS.maxMessageBytes}`,
          );
        }
        this.#start += 10;
        await this.#ensure(length);
        let message: string;
        try {
          message = decoder.decode(this.#buf.subarray(this.#start, this.#start + length));
        } catch {
          throw badRecord("error message is not valid UTF-8");
        }
        this.#start += length;
        return { type: "error", id, message };
      }
      case TYPE_CODES.end:
        return { type: "end" };
      default:
        throw badRecord(`unknown record type ${code}`);
    }
  }

  /**
   * Reads the next instruction of a `delta` record (a literal's bytes are then read with
   * {@linkcode RecordReader.readExact}).
   * @throws {ProtocolError} On an unknown op, a literal of 0 bytes or more than
   * {@linkcode DELTA_CAPS.maxLiteralBytes}, a bad status, or an early end.
   * @throws {TimeoutError} When the peer makes no progress.
   * @returns The instruction.
   */
  async readDeltaInstruction(): Promise<DeltaInstruction> {
    await this.#ensure(1);
    const code = this.#buf[this.#start++];
    switch (code) {
      case OP_CODES.literal: {
        await this.#ensure(4);
        const length = this.#view.getUint32(this.#start, true);
        this.#start += 4;
        if (length === 0 || length > DELTA_CAPS.maxLiteralBytes) {
          throw badRecord(`delta literal of ${length} bytes (1..${DELTA_CAPS.maxLiteralBytes})`);
        }
        return { op: "literal", length };
      }
      case OP_CODES.copy: {
        await this.#ensure(8);
        const block = this.#view.getUint32(this.#start, true);
        const count = this.#view.getUint32(this.#start + 4, true);
        this.#start += 8;
        return { op: "copy", block, count };
      }
      case OP_CODES.end: {
        await this.#ensure(DIGEST_BYTES + 1);
        const digest = this.#buf.slice(this.#start, this.#start + DIGEST_BYTES);
        this.#start += DIGEST_BYTES;
        return { op: "end", digest, status: await this.readStatus() };
      }
      default:
        throw badRecord(`unknown delta instruction ${code}`);
    }
  }

  /**
   * Reads exactly `n` bytes into a new array of exactly `n` bytes, or into the start of `into`
   * when it is large enough.
   * @param n Byte count, at most `maxReadBytes`.
   * @param into A buffer to read into (the result is then a view of it).
   * @throws {ProtocolError} When `n` exceeds the cap or the stream ends first.
   * @throws {TimeoutError} When the peer makes no progress.
   * @returns The bytes.
   */
  async readExact(n: number, into?: Uint8Array): Promise<Uint8Array> {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.#maxReadBytes) {
      throw badRecord(`read of ${n} bytes exceeds the limit of ${this.#maxReadBytes}`);
    }
    const out = into !== undefined && into.length >= n ? into.subarray(0, n) : new Uint8Array(n);
    const take = Math.min(n, this.buffered);
    out.set(this.#buf.subarray(this.#start, this.#start + take));
    this.#start += take;
    let filled = take;
    while (filled < n) {
      const got = await this.#read(out.subarray(filled));
      if (got === null) throw badRecord(`connection closed ${n - filled} bytes before the end`);
      filled += got;
    }
    return out;
  }

  /**
   * Reads between 1 and `max` bytes of a payload. The result is a view of the internal buffer,
   * valid only until the next call on this reader.
   * @param max Most bytes wanted (at least 1).
   * @throws {ProtocolError} When the stream ends.
   * @throws {TimeoutError} When the peer makes no progress.
   * @returns The bytes.
   */
  async readChunk(max: number): Promise<Uint8Array> {
    if (this.buffered === 0) {
      this.#start = this.#end = 0;
      // Gather up to `max` bytes (at most a buffer): they are part of this payload, so they are
      // coming anyway, and a TLS connection hands over one 16 KiB record per read — without this,
      // a 1 GiB file became 65,536 disk writes instead of 1,024.
      const first = await this.#read(this.#buf);
      if (first === null) throw badRecord("connection closed inside a payload");
      this.#end = first;
      const want = Math.min(max, this.#buf.length);
      while (this.#end < want) {
        const got = await this.#read(this.#buf.subarray(this.#end, want));
        if (got === null) break; // the next call reports the early end
        this.#end += got;
      }
    }
    const take = Math.min(max, this.buffered);
    const chunk = this.#buf.subarray(this.#start, this.#start + take);
    this.#start += take;
    return chunk;
  }

  /**
   * Reads and discards exactly `n` payload bytes.
   * @param n Byte count.
   * @throws {ProtocolError} When the stream ends first.
   * @throws {TimeoutError} When the peer makes no progress.
   */
  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) left -= (await this.readChunk(left)).length;
  }

  /**
   * Reads the status byte that ends a `file` payload.
   * @throws {ProtocolError} On a value outside {@linkcode FILE_STATUS} or an early end.
   * @returns The status.
   */
  async readStatus(): Promise<FileStatus> {
    await this.#ensure(1);
    const status = this.#buf[this.#start++] ?? 255;
    if (status > FILE_STATUS.unreadable) throw badRecord(`unknown file status ${status}`);
    return status as FileStatus;
  }

  /** Stops the deadline and closes the source (idempotent). */
  close(): void {
    this.#guard.stop();
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#source.close();
    } catch { /* already closed */ }
  }

  async #ensure(n: number, atBoundary = false): Promise<void> {
    if (this.buffered >= n) return;
    if (this.#buf.length - this.#start < n) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    while (this.buffered < n) {
      const got = this.#eof ? null : await this.#read(this.#buf.subarray(this.#end));
      if (got === null) {
        this.#eof = true;
        throw badRecord(
          atBoundary && this.buffered === 0
            ? "connection closed before the end record"
            : "connection closed inside a record",
        );
      }
      this.#end += got;
    }
  }

  async #read(target: Uint8Array): Promise<number | null> {
    try {
      return await this.#guard.run(() => this.#source.read(target));
    } catch (error) {
      if (error instanceof Error && error.name === "TimeoutError") throw error;
      throw new ProtocolError(`Cannot read data record: ${describeError(error)}`, { cause: error });
    }
  }

  #u64(offset: number, what: string): number {
    const low = this.#view.getUint32(this.#start + offset, true);
    const high = this.#view.getUint32(this.#start + offset + 4, true);
    if (high > MAX_HIGH_WORD) throw badRecord(`${what} exceeds 2^53-1`);
    return high * TWO_32 + low;
  }
}

/** Options for {@linkcode RecordWriter}. */
export interface RecordWriterOptions {
  /**
   * Longest time a write may make no progress (the peer stopped reading) before it fails with a
   * `TimeoutError`; the sink is closed to unblock it.
   * @default {30000}
   */
  idleTimeoutMs?: number;
  /**
   * Small writes are gathered until this many bytes are pending; larger ones go straight out.
   * @default {65536}
   */
  batchBytes?: number;
}

/**
 * Batching writer of data records over a `Deno.Conn` (or any {@linkcode ByteSink}). Headers and
 * small payloads are gathered into one buffer; large payloads are written directly. Every write
 * runs under a {@linkcode StallGuard}.
 *
 * @example Usage
 * ```ts ignore
 * const writer = new RecordWriter(conn);
 * await writer.writeRecord({ type: "skip", id: 4 });
 * await writer.writeRecord({ type: "end" });
 * await writer.flush();
 * ```
 */
export class RecordWriter {
  #sink: ByteSink;
  #batch: Uint8Array;
  #used = 0;
  #guard: StallGuard;
  #closed = false;
  /** Payload and header bytes handed to the sink so far. */
  bytesWritten = 0;

  /**
   * Wraps a connection; the writer owns it from now on.
   * @param sink What to write to.
   * @param options Idle deadline and batch size.
   */
  constructor(sink: ByteSink, options: RecordWriterOptions = {}) {
    const { idleTimeoutMs = 30_000, batchBytes = 64 * 1024 } = options;
    this.#sink = sink;
    this.#batch = new Uint8Array(Math.max(512, batchBytes));
    this.#guard = new StallGuard({
      idleTimeoutMs,
      action: "write data record",
      onStall: () => this.close(),
    });
  }

  /**
   * Queues a record header (written at the next flush or large write).
   * @param record The header.
   * @throws {RangeError} When the record breaks a cap.
   * @throws {TimeoutError} When the peer stops reading.
   */
  async writeRecord(record: DataRecord): Promise<void> {
    await this.write(encodeRecordHeader(record));
  }

  /**
   * Writes bytes: small ones are copied into the batch, large ones are sent at once (after the
   * batch). `bytes` may be reused by the caller once the promise resolves.
   * @param bytes The bytes.
   * @throws {TimeoutError} When the peer stops reading.
   */
  async write(bytes: Uint8Array): Promise<void> {
    if (bytes.length <= this.#batch.length - this.#used) {
      this.#batch.set(bytes, this.#used);
      this.#used += bytes.length;
      return;
    }
    await this.flush();
    if (bytes.length < this.#batch.length) {
      this.#batch.set(bytes, 0);
      this.#used = bytes.length;
      return;
    }
    await this.#writeAll(bytes);
  }

  /**
   * Sends everything batched so far.
   * @throws {TimeoutError} When the peer stops reading.
   */
  async flush(): Promise<void> {
    if (this.#used === 0) return;
    const used = this.#used;
    this.#used = 0;
    await this.#writeAll(this.#batch.subarray(0, used));
  }

  /** Stops the deadline and closes the sink (idempotent); unflushed bytes are dropped. */
  close(): void {
    this.#guard.stop();
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#sink.close();
    } catch { /* already closed */ }
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      const part = bytes.subarray(off);
      try {
        off += await this.#guard.run(() => this.#sink.write(part));
      } catch (error) {
        if (error instanceof Error && error.name === "TimeoutError") throw error;
        throw new Error(`Cannot write data record: ${describeError(error)}`, { cause: error });
      }
    }
    this.bytesWritten += bytes.length;
  }
}

function badRecord(detail: string): ProtocolError {
  return new ProtocolError(`Cannot read data record: ${detail}`);
}

function isStreamReader(
  source: ByteSource | ReadableStreamDefaultReader<Uint8Array>,
): source is ReadableStreamDefaultReader<Uint8Array> {
  return "releaseLock" in source;
}

/** Adapts a stream reader to {@linkcode ByteSource}, keeping the rest of an oversized chunk. */
class StreamSource implements ByteSource {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #rest: Uint8Array = new Uint8Array(0);

  constructor(reader: ReadableStreamDefaultReader<Uint8Array>) {
    this.#reader = reader;
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#rest.length === 0) {
      const { value, done } = await this.#reader.read();
      if (done) return null;
      this.#rest = value;
    }
    const n = Math.min(p.length, this.#rest.length);
    p.set(this.#rest.subarray(0, n));
    this.#rest = this.#rest.subarray(n);
    return n;
  }

  close(): void {
    this.#reader.cancel().catch(() => {});
  }
}
