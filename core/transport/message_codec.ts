/**
 * A small protobuf (proto3) binary codec driven by field tables: what a transfer session needs,
 * without the reflection runtime of `@bufbuild/protobuf` (35–80 ms to load in every client
 * process, and a generic walk per field on every frame). Decoded messages have the shape the
 * generated types in `proto/gen/blit_pb.ts` describe (`$typeName`, every field with its default,
 * a oneof as `{ case, value }`, 64-bit integers as `bigint`), so the same types serve both; the
 * tables are in `frame_tables.ts` and a test holds them equal to the generated descriptors.
 *
 * Decoding refuses what `@bufbuild/protobuf` refuses (a truncated field, an illegal tag, a
 * string that is not UTF-8) and, stricter, a known field with the wrong wire type, a nested field
 * that runs past the end of its message, and proto2 groups; unknown fields are skipped.
 *
 * @module
 */

/** How a field's value is written. */
export type FieldKind =
  | "uint32"
  | "uint64"
  | "int64"
  | "bool"
  | "string"
  | "bytes"
  | "enum"
  | "message";

/** One field of a {@linkcode MessageTable}. */
export interface FieldTable {
  /** Field number. */
  readonly no: number;
  /** Property name (the generated code's lowerCamelCase). */
  readonly name: string;
  /** Value kind. */
  readonly kind: FieldKind;
  /** The message table of a `message` field (a function: tables refer to each other). */
  readonly message?: () => MessageTable;
  /** A `repeated` field. */
  readonly repeated?: boolean;
  /** A proto3 `optional` field (explicit presence: `undefined` when absent). */
  readonly optional?: boolean;
  /** The oneof this field belongs to. */
  readonly oneof?: string;
}

/** The fields of one message type. */
export interface MessageTable {
  /** Fully qualified name, e.g. `blit.v1.Hello`. */
  readonly typeName: string;
  /** Its fields. */
  readonly fields: readonly FieldTable[];
}

/** A message as the codec sees it: properties by field name. */
type Fields = Record<string, unknown>;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;
const WIRE_FIXED32 = 5;

const TWO_32 = 2 ** 32;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8 = new TextEncoder();

/** Field kinds as numbers, for the decoder's switch. */
const KIND_CODES: Record<FieldKind, number> = {
  uint32: 0,
  uint64: 1,
  int64: 2,
  bool: 3,
  string: 4,
  bytes: 5,
  enum: 6,
  message: 7,
};
const K_UINT32 = 0;
const K_UINT64 = 1;
const K_INT64 = 2;
const K_BOOL = 3;
const K_STRING = 4;
const K_BYTES = 5;
const K_ENUM = 6;
const K_MESSAGE = 7;

interface CompiledField {
  readonly field: FieldTable;
  readonly name: string;
  readonly code: number;
  readonly repeated: boolean;
  readonly optional: boolean;
  readonly oneof: string | undefined;
  /** The wire type a single value comes with. */
  readonly wireType: number;
  /** The tag of a single value. */
  readonly tag: number;
  /** The tag of a packed list. */
  readonly packedTag: number;
}

interface CompiledTable {
  readonly table: MessageTable;
  /** Fields by number (a sparse array: numbers are small). */
  readonly byNo: (CompiledField | undefined)[];
  /** Fields in the table's order (the order they are written in). */
  readonly ordered: readonly CompiledField[];
  /** A message with every singular field at its default (copied for each message decoded). */
  readonly template: Fields;
  /** Names of the repeated fields (each message gets arrays of its own). */
  readonly lists: readonly string[];
  readonly oneofs: readonly string[];
}

const compiled = new WeakMap<MessageTable, CompiledTable>();
const EMPTY_BYTES = new Uint8Array(0);

function compile(table: MessageTable): CompiledTable {
  let done = compiled.get(table);
  if (done !== undefined) return done;
  const byNo: (CompiledField | undefined)[] = [];
  const ordered: CompiledField[] = [];
  const template: Fields = { $typeName: table.typeName };
  const lists: string[] = [];
  const oneofs: string[] = [];
  for (const field of table.fields) {
    const wireType = wireTypeOf(field.kind);
    const one: CompiledField = {
      field,
      name: field.name,
      code: KIND_CODES[field.kind],
      repeated: field.repeated === true,
      optional: field.optional === true,
      oneof: field.oneof,
      wireType,
      tag: ((field.no << 3) | wireType) >>> 0,
      packedTag: ((field.no << 3) | WIRE_LENGTH) >>> 0,
    };
    byNo[field.no] = one;
    ordered.push(one);
    if (field.oneof !== undefined) {
      if (!oneofs.includes(field.oneof)) oneofs.push(field.oneof);
    } else if (field.repeated) lists.push(field.name);
    else if (!field.optional) template[field.name] = defaultOf(field);
  }
  done = { table, byNo, ordered, template, lists, oneofs };
  compiled.set(table, done);
  return done;
}

function defaultOf(field: FieldTable): unknown {
  switch (field.kind) {
    case "uint32":
    case "enum":
      return 0;
    case "uint64":
    case "int64":
      return 0n;
    case "bool":
      return false;
    case "string":
      return "";
    case "bytes":
      return EMPTY_BYTES;
    case "message":
      return undefined;
  }
}

/** A message of `table` with every field at its default. */
function emptyMessage(c: CompiledTable): Fields {
  const out: Fields = { ...c.template };
  for (const name of c.lists) out[name] = [];
  for (const oneof of c.oneofs) out[oneof] = { case: undefined };
  return out;
}

class Reader {
  pos = 0;
  /** Where the message being read ends (a nested message narrows it while it is read). */
  end: number;
  constructor(readonly buf: Uint8Array) {
    this.end = buf.length;
  }

  #truncated(): never {
    throw new RangeError("premature end of message");
  }

  /** A varint's low 32 bits (as an unsigned number), the rest read and dropped. */
  uint32(): number {
    const { buf, end } = this;
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= end) this.#truncated();
      const byte = buf[this.pos++] as number;
      result |= (byte & 0x7f) << shift;
      if (byte < 0x80) return result >>> 0;
    }
    // Bytes 6..10 of a 64-bit varint: their bits are above 32.
    for (let i = 0; i < 5; i++) {
      if (this.pos >= end) this.#truncated();
      if ((buf[this.pos++] as number) < 0x80) return result >>> 0;
    }
    throw new RangeError("invalid varint");
  }

  /** A varint as an unsigned 64-bit `bigint`. */
  uint64(): bigint {
    const { buf, end } = this;
    let low = 0;
    let high = 0;
    let shift = 0;
    for (; shift < 28; shift += 7) {
      if (this.pos >= end) this.#truncated();
      const byte = buf[this.pos++] as number;
      low |= (byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt(low >>> 0);
    }
    if (this.pos >= end) this.#truncated();
    let byte = buf[this.pos++] as number;
    low |= (byte & 0x0f) << 28;
    high = (byte & 0x7f) >> 4;
    if (byte >= 0x80) {
      for (shift = 3; shift <= 31; shift += 7) {
        if (this.pos >= end) this.#truncated();
        byte = buf[this.pos++] as number;
        high |= (byte & 0x7f) << shift;
        if (byte < 0x80) break;
      }
      if (byte >= 0x80) throw new RangeError("invalid varint");
    }
    low >>>= 0;
    high >>>= 0;
    if (high < 0x20_0000) return BigInt(high * TWO_32 + low);
    return (BigInt(high) << 32n) | BigInt(low);
  }

  /** A field's tag: a varint that fits 32 bits, with a field number and a known wire type. */
  tag(): number {
    const { buf, end } = this;
    let tag = 0;
    for (let shift = 0;; shift += 7) {
      if (this.pos >= end) this.#truncated();
      const byte = buf[this.pos++] as number;
      if (shift === 28 && byte > 0x0f) throw new Error("illegal tag: varint overflows uint32");
      tag |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
    tag >>>= 0;
    const no = tag >>> 3;
    const wireType = tag & 7;
    if (no === 0 || wireType > 5) {
      throw new Error(`illegal tag: field no ${no} wire type ${wireType}`);
    }
    return tag;
  }

  /** Reads a length and returns where the field's bytes end (they start at `pos`). */
  delimitedEnd(): number {
    const length = this.uint32();
    if (length > this.end - this.pos) this.#truncated();
    return this.pos + length;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.uint32();
        return;
      case WIRE_FIXED64:
        this.#advance(8);
        return;
      case WIRE_LENGTH:
        this.pos = this.delimitedEnd();
        return;
      case WIRE_FIXED32:
        this.#advance(4);
        return;
      default:
        throw new Error(`cannot skip wire type ${wireType}`);
    }
  }

  #advance(n: number): void {
    if (this.end - this.pos < n) this.#truncated();
    this.pos += n;
  }
}

function decodeString(buf: Uint8Array, start: number, end: number): string {
  if (end - start <= 32) {
    let ascii = "";
    for (let i = start; i < end; i++) {
      const byte = buf[i] as number;
      if (byte > 0x7f) return strictUtf8.decode(buf.subarray(start, end));
      ascii += String.fromCharCode(byte);
    }
    return ascii;
  }
  return strictUtf8.decode(buf.subarray(start, end));
}

function readScalar(reader: Reader, code: number): unknown {
  switch (code) {
    case K_UINT32:
      return reader.uint32();
    case K_ENUM:
      return reader.uint32() | 0;
    case K_UINT64:
      return reader.uint64();
    case K_INT64:
      return BigInt.asIntN(64, reader.uint64());
    case K_BOOL:
      return reader.uint32() !== 0;
    case K_STRING: {
      const end = reader.delimitedEnd();
      const start = reader.pos;
      reader.pos = end;
      return decodeString(reader.buf, start, end);
    }
    case K_BYTES: {
      const end = reader.delimitedEnd();
      const start = reader.pos;
      reader.pos = end;
      return reader.buf.subarray(start, end);
    }
    default:
      throw new Error("a message is not a scalar");
  }
}

function wireTypeOf(kind: FieldKind): number {
  return kind === "string" || kind === "bytes" || kind === "message" ? WIRE_LENGTH : WIRE_VARINT;
}

/** Reads fields into `target` up to the reader's current end. */
function decodeInto(c: CompiledTable, reader: Reader, target: Fields): void {
  const end = reader.end;
  while (reader.pos < end) {
    const tag = reader.tag();
    const wireType = tag & 7;
    const field = c.byNo[tag >>> 3];
    if (field === undefined) {
      reader.skip(wireType);
      continue;
    }
    readField(field, reader, wireType, target);
  }
}

/** Reads one nested message into `into` (a fresh message when absent). */
function readMessage(field: CompiledField, reader: Reader, into?: Fields): Fields {
  const inner = compile((field.field.message as () => MessageTable)());
  const end = reader.delimitedEnd();
  const outer = reader.end;
  reader.end = end;
  const value = into ?? emptyMessage(inner);
  decodeInto(inner, reader, value);
  reader.end = outer;
  return value;
}

function readField(field: CompiledField, reader: Reader, wireType: number, target: Fields): void {
  const { code, name } = field;
  if (code === K_MESSAGE) {
    if (wireType !== WIRE_LENGTH) throw wrongWireType(field.field, wireType);
    if (field.repeated) {
      (target[name] as Fields[]).push(readMessage(field, reader));
      return;
    }
    // A message field given twice is merged, as protobuf does.
    if (field.oneof !== undefined) {
      const current = target[field.oneof] as { case?: string; value?: Fields };
      const value = readMessage(field, reader, current.case === name ? current.value : undefined);
      target[field.oneof] = { case: name, value };
    } else target[name] = readMessage(field, reader, target[name] as Fields | undefined);
    return;
  }
  if (field.repeated) {
    const list = target[name] as unknown[];
    if (wireType === WIRE_LENGTH && field.wireType === WIRE_VARINT) {
      // Packed.
      const end = reader.delimitedEnd();
      const outer = reader.end;
      reader.end = end;
      while (reader.pos < end) list.push(readScalar(reader, code));
      reader.end = outer;
      return;
    }
    if (wireType !== field.wireType) throw wrongWireType(field.field, wireType);
    list.push(readScalar(reader, code));
    return;
  }
  if (wireType !== field.wireType) throw wrongWireType(field.field, wireType);
  const value = readScalar(reader, code);
  if (field.oneof !== undefined) target[field.oneof] = { case: name, value };
  else target[name] = value;
}

function wrongWireType(field: FieldTable, wireType: number): Error {
  return new Error(`field ${field.name} (${field.no}) came with wire type ${wireType}`);
}

/**
 * Decodes a message of `table` from its binary form.
 *
 * @example Usage
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * import { decodeMessage, encodeMessage, type MessageTable } from "./message_codec.ts";
 * const Point: MessageTable = {
 *   typeName: "demo.Point",
 *   fields: [{ no: 1, name: "x", kind: "uint32" }, { no: 2, name: "label", kind: "string" }],
 * };
 * const bytes = encodeMessage(Point, { x: 300, label: "a" });
 * assertEquals(decodeMessage(Point, bytes), { $typeName: "demo.Point", x: 300, label: "a" });
 * ```
 *
 * @param table The message's fields.
 * @param bytes The encoded message (decoded `bytes` fields are views of it).
 * @throws {Error} When the bytes are not a valid encoding of the message.
 * @returns The message, every absent field at its default.
 */
export function decodeMessage<T = Fields>(table: MessageTable, bytes: Uint8Array): T {
  const c = compile(table);
  const out = emptyMessage(c);
  decodeInto(c, new Reader(bytes), out);
  return out as T;
}

/** A growable output buffer. */
class Writer {
  buf = new Uint8Array(256);
  pos = 0;

  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const grown = new Uint8Array(size);
    // All of it: a string's bytes may already lie past `pos` (see `string`).
    grown.set(this.buf);
    this.buf = grown;
  }

  varint32(value: number): void {
    this.reserve(5);
    let v = value >>> 0;
    while (v > 0x7f) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  /** Ten bytes at most: a negative `int64` is its two's complement. */
  varint64(value: bigint): void {
    const v = BigInt.asUintN(64, value);
    this.varint64Halves(Number(v & 0xffff_ffffn), Number(v >> 32n));
  }

  /** A 64-bit varint from its low and high 32 bits (as `@bufbuild/protobuf` writes it). */
  varint64Halves(low: number, high: number): void {
    if (high === 0) {
      this.varint32(low);
      return;
    }
    this.reserve(10);
    const { buf } = this;
    for (let i = 0; i < 28; i += 7) {
      buf[this.pos++] = ((low >>> i) & 0x7f) | 0x80;
    }
    const split = ((low >>> 28) & 0x0f) | ((high & 0x07) << 4);
    if (high >>> 3 === 0) {
      buf[this.pos++] = split;
      return;
    }
    buf[this.pos++] = split | 0x80;
    for (let i = 3; i < 31; i += 7) {
      const shifted = high >>> i;
      if (shifted >>> 7 === 0) {
        buf[this.pos++] = shifted;
        return;
      }
      buf[this.pos++] = (shifted & 0x7f) | 0x80;
    }
    buf[this.pos++] = (high >>> 31) & 0x01;
  }

  bytes(value: Uint8Array): void {
    this.varint32(value.length);
    this.reserve(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }

  string(value: string): void {
    // The length goes before the bytes: reserve the most one byte of length needs, then move
    // the bytes if the length took more.
    this.reserve(value.length * 3 + 5);
    const start = this.pos + 1;
    const { written } = utf8.encodeInto(value, this.buf.subarray(start));
    this.#placeLength(start, written);
  }

  /** Starts a length-delimited body; {@linkcode Writer.close} writes its length before it. */
  open(): number {
    this.reserve(1);
    this.pos += 1;
    return this.pos;
  }

  close(start: number): void {
    this.#placeLength(start, this.pos - start);
  }

  /** Writes `length` before the `length` bytes at `start`, where one byte was left for it. */
  #placeLength(start: number, length: number): void {
    let lengthBytes = 1;
    for (let v = length >>> 7; v > 0; v >>>= 7) lengthBytes++;
    if (lengthBytes > 1) {
      this.reserve(lengthBytes - 1 + (start + length - this.pos));
      this.buf.copyWithin(start + lengthBytes - 1, start, start + length);
    }
    this.pos = start - 1;
    this.varint32(length);
    this.pos = start - 1 + lengthBytes + length;
  }
}

function toBigInt(value: unknown, field: FieldTable): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  if (typeof value === "string" && /^-?\d+$/.test(value)) return BigInt(value);
  throw new TypeError(`field ${field.name}: expected an integer, got ${typeof value}`);
}

function isDefault(code: number, value: unknown): boolean {
  switch (code) {
    case K_UINT32:
    case K_ENUM:
    case K_UINT64:
    case K_INT64:
      // deno-lint-ignore eqeqeq
      return value == 0;
    case K_BOOL:
      return value === false;
    case K_STRING:
      return value === "";
    case K_BYTES:
      return (value as Uint8Array).length === 0;
    default:
      return false;
  }
}

function writeUint64(w: Writer, field: FieldTable, value: unknown): void {
  if (typeof value === "number" && value >= 0 && Number.isSafeInteger(value)) {
    w.varint64Halves(value % TWO_32, Math.floor(value / TWO_32));
    return;
  }
  const v = toBigInt(value, field);
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) {
    throw new TypeError(`field ${field.name}: invalid uint64 ${v}`);
  }
  w.varint64(v);
}

function writeScalar(w: Writer, field: CompiledField, value: unknown): void {
  switch (field.code) {
    case K_UINT32: {
      if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value >= TWO_32) {
        throw new TypeError(`field ${field.name}: invalid uint32 ${String(value)}`);
      }
      w.varint32(value);
      return;
    }
    case K_ENUM: {
      if (typeof value !== "number" || !Number.isInteger(value)) {
        throw new TypeError(`field ${field.name}: invalid enum value ${String(value)}`);
      }
      if (value < 0) w.varint64(BigInt(value));
      else w.varint32(value);
      return;
    }
    case K_UINT64:
      writeUint64(w, field.field, value);
      return;
    case K_INT64: {
      const v = toBigInt(value, field.field);
      if (v !== BigInt.asIntN(64, v)) {
        throw new TypeError(`field ${field.name}: invalid int64 ${v}`);
      }
      w.varint64(v);
      return;
    }
    case K_BOOL:
      w.varint32(value ? 1 : 0);
      return;
    case K_STRING:
      if (typeof value !== "string") {
        throw new TypeError(`field ${field.name}: expected a string, got ${typeof value}`);
      }
      w.string(value);
      return;
    case K_BYTES:
      if (!(value instanceof Uint8Array)) {
        throw new TypeError(`field ${field.name}: expected bytes, got ${typeof value}`);
      }
      w.bytes(value);
      return;
    default:
      throw new Error("a message is not a scalar");
  }
}

function writeValue(w: Writer, field: CompiledField, value: unknown): void {
  w.varint32(field.tag);
  if (field.code === K_MESSAGE) {
    const start = w.open();
    writeFields(w, compile((field.field.message as () => MessageTable)()), value as Fields);
    w.close(start);
    return;
  }
  writeScalar(w, field, value);
}

function writeFields(w: Writer, c: CompiledTable, message: Fields): void {
  for (const field of c.ordered) {
    if (field.oneof !== undefined) {
      const chosen = message[field.oneof] as { case?: string; value?: unknown } | undefined;
      if (chosen?.case === field.name) writeValue(w, field, chosen.value);
      continue;
    }
    const value = message[field.name];
    if (value === undefined || value === null) continue;
    if (field.repeated) {
      const list = value as unknown[];
      if (list.length === 0) continue;
      if (field.wireType === WIRE_VARINT) {
        // Packed, as proto3 writes repeated scalars.
        w.varint32(field.packedTag);
        const start = w.open();
        for (const item of list) writeScalar(w, field, item);
        w.close(start);
      } else {
        for (const item of list) writeValue(w, field, item);
      }
      continue;
    }
    if (!field.optional && isDefault(field.code, value)) continue;
    writeValue(w, field, value);
  }
}

/**
 * Encodes a message (a decoded one, or a plain object with some of its fields: nested messages
 * as plain objects, a oneof as `{ case, value }`, 64-bit integers as `bigint`, `number` or a
 * decimal string) in its binary form. Fields at their default are left out, as proto3 does.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { encodeMessage, type MessageTable } from "./message_codec.ts";
 * const Count: MessageTable = { typeName: "demo.Count", fields: [{ no: 1, name: "n", kind: "uint64" }] };
 * strictEqual(encodeMessage(Count, { n: 150n }).join(","), "8,150,1");
 * strictEqual(encodeMessage(Count, { n: 0n }).length, 0);
 * ```
 *
 * @param table The message's fields.
 * @param message The message.
 * @throws {TypeError} When a field holds a value of the wrong type or out of its range.
 * @returns The bytes.
 */
export function encodeMessage(table: MessageTable, message: object): Uint8Array {
  const w = new Writer();
  writeFields(w, compile(table), message as Fields);
  return w.buf.subarray(0, w.pos);
}

/**
 * Encodes and decodes one message type: what the framing (`frame_codec.ts`) is given.
 */
export interface MessageCodec<T> {
  /** The message type's fully qualified name. */
  readonly typeName: string;
  /** Encodes a message (see {@linkcode encodeMessage}). */
  encode(message: object): Uint8Array;
  /** Decodes a message (see {@linkcode decodeMessage}). */
  decode(bytes: Uint8Array): T;
}

/**
 * The codec of a message table.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { codecOf, type MessageTable } from "./message_codec.ts";
 * const Note: MessageTable = { typeName: "demo.Note", fields: [{ no: 1, name: "text", kind: "string" }] };
 * const codec = codecOf<{ text: string }>(Note);
 * strictEqual(codec.decode(codec.encode({ text: "hé" })).text, "hé");
 * ```
 *
 * @param table The message's fields.
 * @returns The codec.
 */
export function codecOf<T>(table: MessageTable): MessageCodec<T> {
  return {
    typeName: table.typeName,
    encode: (message) => encodeMessage(table, message),
    decode: (bytes) => decodeMessage<T>(table, bytes),
  };
}
