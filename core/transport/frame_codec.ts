/**
 * The framing of a transfer session's control stream: each protobuf message after its length
 * (4 bytes, big-endian), capped at {@linkcode MAX_MESSAGE_BYTES}, and flow control in the style
 * of HTTP/2: each side may have at most {@linkcode INITIAL_WINDOW_BYTES} of frames sent and not
 * yet credited back; the reader credits bytes back (a *window update*: a length word with the top
 * bit set, the rest the bytes granted) as its session takes the frames. So a reader never has to
 * stop reading its socket to hold a peer back — it always sees the peer hang up — and a peer that
 * sends beyond its window is cut off.
 *
 * Shared by the daemon's `node:stream` adapter (`frame_stream.ts`) and the client's `Deno.Conn`
 * one (`frame_conn.ts`); no `node:` module here, so the client's transfer path loads none.
 *
 * @module
 */

import type { MessageCodec } from "./message_codec.ts";
import { describeError } from "../errors.ts";
import { MAX_MESSAGE_BYTES } from "./protocol.ts";
import { recordWireSize } from "./wire_size.ts";

/** Bytes of the length before each frame. */
export const LENGTH_BYTES = 4;

/** The bit of a length word that marks a window update. */
const WINDOW_FLAG = 0x8000_0000;

/** Bytes a reader takes before it credits them back in one window update. */
export const WINDOW_UPDATE_BYTES = 2 * 1024 * 1024;

/**
 * Bytes of frames (lengths included) a side may send before the peer credits any back: one
 * frame of the largest size and twice {@linkcode WINDOW_UPDATE_BYTES}, so that a sender blocked
 * for credit has always sent more than a window update's worth the reader has yet to credit (no
 * deadlock), and a session holds at most this much besides its queue.
 */
export const INITIAL_WINDOW_BYTES = MAX_MESSAGE_BYTES + LENGTH_BYTES + 2 * WINDOW_UPDATE_BYTES;

/** What {@linkcode FrameReader.push} found: a message, or a window update from the peer. */
export type ReadFrame =
  | {
    /** A message. */
    kind: "message";
    /** The decoded message. */
    message: object;
    /** Its frame's size, length included (what it cost the sender's window). */
    bytes: number;
  }
  | {
    /** A window update. */
    kind: "credit";
    /** Bytes the peer grants. */
    bytes: number;
  };

/**
 * Encodes a window update.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { encodeWindowUpdate, FrameReader } from "./frame_codec.ts";
 * import { HelloTable } from "./frame_tables.ts";
 * import { codecOf } from "./message_codec.ts";
 * const [update] = new FrameReader(codecOf(HelloTable)).push(encodeWindowUpdate(4096));
 * strictEqual(update?.kind, "credit");
 * strictEqual(update?.bytes, 4096);
 * ```
 *
 * @param bytes Bytes granted (1 to 2^31 - 1).
 * @returns The 4 bytes to send.
 */
export function encodeWindowUpdate(bytes: number): Uint8Array {
  const out = new Uint8Array(LENGTH_BYTES);
  new DataView(out.buffer).setUint32(0, (WINDOW_FLAG | bytes) >>> 0);
  return out;
}

/**
 * One side's flow-control books: what it may still send, and what it received and has not
 * credited back.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { FlowWindow, INITIAL_WINDOW_BYTES, WINDOW_UPDATE_BYTES } from "./frame_codec.ts";
 * const flow = new FlowWindow();
 * strictEqual(flow.canSend(INITIAL_WINDOW_BYTES), true);
 * flow.received(WINDOW_UPDATE_BYTES);
 * strictEqual(flow.delivered(WINDOW_UPDATE_BYTES), WINDOW_UPDATE_BYTES);
 * ```
 */
export class FlowWindow {
  #sendable = INITIAL_WINDOW_BYTES;
  #unreturned = 0;
  #delivered = 0;

  /**
   * Whether a frame of `bytes` may be sent now.
   * @param bytes The frame's size.
   * @returns `true` when the peer's window has room.
   */
  canSend(bytes: number): boolean {
    return bytes <= this.#sendable;
  }

  /**
   * Books a frame sent.
   * @param bytes The frame's size.
   */
  sent(bytes: number): void {
    this.#sendable -= bytes;
  }

  /**
   * Books a window update received.
   * @param bytes Bytes granted.
   */
  granted(bytes: number): void {
    this.#sendable += bytes;
  }

  /**
   * Books a frame received.
   * @param bytes The frame's size.
   * @throws {Error} When the peer sent beyond the window it was granted.
   */
  received(bytes: number): void {
    this.#unreturned += bytes;
    if (this.#unreturned > INITIAL_WINDOW_BYTES) {
      throw new Error(
        `Cannot read the peer's frames: it sent ${this.#unreturned} bytes without waiting for credit (the window is ${INITIAL_WINDOW_BYTES})`,
      );
    }
  }

  /**
   * Books a frame handed to the session.
   * @param bytes The frame's size.
   * @returns Bytes to credit back now (send a window update), or 0.
   */
  delivered(bytes: number): number {
    this.#delivered += bytes;
    if (this.#delivered < WINDOW_UPDATE_BYTES) return 0;
    const credit = this.#delivered;
    this.#delivered = 0;
    this.#unreturned -= credit;
    return credit;
  }
}

/**
 * Encodes one message after its length.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { encodeFrame } from "./frame_codec.ts";
 * import { HelloTable } from "./frame_tables.ts";
 * import { codecOf } from "./message_codec.ts";
 * const frame = encodeFrame(codecOf(HelloTable), { clientName: "a" });
 * strictEqual(frame[3], frame.length - 4);
 * ```
 *
 * @param codec The message's codec.
 * @param message The message.
 * @param maxFrameBytes The largest frame allowed.
 * @throws {Error} "Cannot send a control frame of N bytes: …" over the cap.
 * @returns The frame's bytes.
 */
export function encodeFrame(
  codec: MessageCodec<unknown>,
  message: object,
  maxFrameBytes: number = MAX_MESSAGE_BYTES,
): Uint8Array {
  let body: Uint8Array;
  try {
    body = codec.encode(message);
  } catch (error) {
    throw new Error(`Cannot encode a control frame: ${describeError(error)}`);
  }
  if (body.byteLength > maxFrameBytes) {
    throw new Error(
      `Cannot send a control frame of ${body.byteLength} bytes: the limit is ${maxFrameBytes}`,
    );
  }
  const frame = new Uint8Array(LENGTH_BYTES + body.byteLength);
  new DataView(frame.buffer).setUint32(0, body.byteLength);
  frame.set(body, LENGTH_BYTES);
  return frame;
}

/**
 * Cuts received bytes into decoded messages. A length over the cap, or a body that does not
 * decode, throws; the body of a frame that spans chunks is allocated once its (checked) length is
 * known and filled as bytes arrive, so nothing else is held for it; a frame within one chunk is
 * decoded in place. Decoded `bytes` fields may share memory with the chunks given: pass each
 * chunk in a buffer of its own.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import type { Hello } from "../../proto/gen/blit_pb.ts";
 * import { encodeFrame, FrameReader } from "./frame_codec.ts";
 * import { HelloTable } from "./frame_tables.ts";
 * import { codecOf } from "./message_codec.ts";
 * const hello = codecOf<Hello>(HelloTable);
 * const frame = encodeFrame(hello, { clientName: "a" });
 * const reader = new FrameReader(hello);
 * strictEqual(reader.push(frame.subarray(0, 3)).length, 0);
 * const [read] = reader.push(frame.subarray(3));
 * strictEqual(read?.kind === "message" && (read.message as Hello).clientName, "a");
 * ```
 */
export class FrameReader {
  readonly #codec: MessageCodec<unknown>;
  readonly #maxFrameBytes: number;
  readonly #head = new Uint8Array(LENGTH_BYTES);
  #headFill = 0;
  /** The length of the frame being read, or -1 while reading a length. */
  #frameBytes = -1;
  #body: Uint8Array | null = null;
  #bodyFill = 0;

  /**
   * @param codec The codec of the messages read.
   * @param maxFrameBytes The largest frame accepted.
   */
  constructor(codec: MessageCodec<unknown>, maxFrameBytes: number = MAX_MESSAGE_BYTES) {
    this.#codec = codec;
    this.#maxFrameBytes = maxFrameBytes;
  }

  /**
   * Takes the next bytes.
   * @param chunk Bytes in stream order.
   * @throws {Error} "Cannot read a control frame of N bytes: …", or "Cannot decode …".
   * @returns The messages and window updates completed by them, in order.
   */
  push(chunk: Uint8Array): ReadFrame[] {
    const out: ReadFrame[] = [];
    let at = 0;
    for (;;) {
      if (this.#frameBytes < 0) {
        if (at >= chunk.length) return out;
        const n = Math.min(LENGTH_BYTES - this.#headFill, chunk.length - at);
        this.#head.set(chunk.subarray(at, at + n), this.#headFill);
        this.#headFill += n;
        at += n;
        if (this.#headFill < LENGTH_BYTES) return out;
        this.#headFill = 0;
        const length = new DataView(this.#head.buffer).getUint32(0);
        if ((length & WINDOW_FLAG) !== 0) {
          out.push({ kind: "credit", bytes: length & ~WINDOW_FLAG });
          continue;
        }
        if (length > this.#maxFrameBytes) {
          throw new Error(
            `Cannot read a control frame of ${length} bytes: the limit is ${this.#maxFrameBytes}`,
          );
        }
        this.#frameBytes = length;
      }
      const need = this.#frameBytes - this.#bodyFill;
      const available = chunk.length - at;
      let body: Uint8Array;
      if (this.#bodyFill === 0 && available >= need) {
        body = chunk.subarray(at, at + need);
        at += need;
      } else {
        if (available === 0) return out;
        this.#body ??= new Uint8Array(this.#frameBytes);
        const n = Math.min(need, available);
        this.#body.set(chunk.subarray(at, at + n), this.#bodyFill);
        this.#bodyFill += n;
        at += n;
        if (this.#bodyFill < this.#frameBytes) return out;
        body = this.#body;
      }
      this.#frameBytes = -1;
      this.#body = null;
      this.#bodyFill = 0;
      out.push({ kind: "message", message: this.#decode(body), bytes: LENGTH_BYTES + body.length });
    }
  }

  /** Drops what is held. */
  clear(): void {
    this.#headFill = 0;
    this.#frameBytes = -1;
    this.#body = null;
    this.#bodyFill = 0;
  }

  #decode(body: Uint8Array): object {
    let message: object;
    try {
      message = this.#codec.decode(body) as object;
    } catch (error) {
      throw new Error(`Cannot decode a control frame: ${describeError(error)}`);
    }
    recordWireSize(message, body.length);
    return message;
  }
}
