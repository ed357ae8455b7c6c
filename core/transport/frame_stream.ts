/**
 * The daemon's end of a transfer session's control stream: frames (`frame_codec.ts`) over the
 * `node:stream` duplex the listener hands over (a TLS socket, or the plain connection), on a
 * connection that started with the transfer preface (`protocol.ts`). The daemon routes a connection by
 * its first bytes (HTTP/2 goes to the gRPC services), so one port serves both.
 *
 * Why not a gRPC call: a client that loads grpc-js, HTTP/2 and its TLS and waits for the channel
 * spends ~200–300 ms before its first frame (measured: grpc-js alone ~100 ms to load), which is
 * most of a small transfer and, times sixteen clients, two cores' worth of a second.
 *
 * {@linkcode FramedStream} is an object-mode duplex with the events and methods of a grpc-js
 * server call that `stream_port.ts` uses (`cancelled` included), so one frame port (deadlines,
 * queue caps) serves both.
 *
 * @module
 */

import type { Buffer } from "node:buffer";
import { Duplex } from "node:stream";
import { peerKey } from "./connection_gate.ts";
import { encodeFrame, encodeWindowUpdate, FlowWindow, FrameReader } from "./frame_codec.ts";
import type { MessageCodec } from "./message_codec.ts";
import { CLOSE_GRACE_MS, MAX_MESSAGE_BYTES } from "./protocol.ts";

/** The byte stream under a {@linkcode FramedStream} (a socket, a TLS socket, a `ConnSocket`). */
export interface FrameCarrier extends Duplex {
  /** The peer's address, when known. */
  readonly remoteAddress?: string | undefined;
  /** The peer's port, when known. */
  readonly remotePort?: number | undefined;
}

/** Options of {@linkcode FramedStream}. */
export interface FramedStreamOptions {
  /**
   * Largest frame accepted; a longer length closes the connection with an error.
   * @default {MAX_MESSAGE_BYTES}
   */
  maxFrameBytes?: number;
  /** Where the peer's address is read (default: the carrier itself). */
  peer?: FrameCarrier;
}

/** A received message not yet handed to the reader. */
interface Pending {
  message: object;
  bytes: number;
}

/**
 * Protobuf messages over a byte stream, each after its length, with the framing's flow control.
 * The carrier is always read (so a peer that hangs up is seen at once, however far behind the
 * session is); messages wait here until the reader takes them, and are credited back to the
 * peer as it does, so at most the window (`INITIAL_WINDOW_BYTES`) waits here. A write that the
 * peer's window has no room for waits for its credit, and `write()` returns `false` meanwhile.
 *
 * The peer ending its side before this side ended is `cancelled` (the client went away, as a
 * grpc-js server call reports it); the carrier closing before either side ended is an error.
 * Once this side ended its writing, what arrives is dropped until the peer closes, or the stream
 * closes {@linkcode CLOSE_GRACE_MS} later.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { PassThrough } from "node:stream";
 * import type { Hello } from "../../proto/gen/blit_pb.ts";
 * import { FramedStream } from "./frame_stream.ts";
 * import { HelloTable } from "./frame_tables.ts";
 * import { codecOf } from "./message_codec.ts";
 * const hello = codecOf<Hello>(HelloTable);
 * const wire = new PassThrough();
 * const stream = new FramedStream<Hello, Hello>(wire, hello, hello);
 * const arrived = new Promise<Hello>((resolve) => stream.once("data", resolve));
 * stream.write({ $typeName: "blit.v1.Hello", protocolVersion: 6, clientName: "doc" });
 * strictEqual((await arrived).clientName, "doc");
 * stream.destroy();
 * ```
 */
export class FramedStream<Out extends object, In extends object> extends Duplex {
  readonly #carrier: FrameCarrier;
  readonly #peer: FrameCarrier;
  readonly #outCodec: MessageCodec<Out>;
  readonly #maxFrameBytes: number;
  readonly #reader: FrameReader;
  readonly #flow = new FlowWindow();
  #pending: Pending[] = [];
  #blocked: { frame: Uint8Array; callback: (error?: Error | null) => void } | null = null;
  #peerEnded = false;
  #endPushed = false;
  /** Whether the reader asked for more since a `push()` last said to stop. */
  #wanted = false;

  /**
   * Wraps a carrier, which the stream owns (and destroys) from now on.
   *
   * @param carrier The byte stream (the preface already consumed).
   * @param outCodec The codec of the messages this side writes.
   * @param inCodec The codec of the messages this side reads.
   * @param options The frame cap and where the peer's address is read.
   */
  constructor(
    carrier: FrameCarrier,
    outCodec: MessageCodec<Out>,
    inCodec: MessageCodec<In>,
    options: FramedStreamOptions = {},
  ) {
    super({ objectMode: true, allowHalfOpen: true, readableHighWaterMark: 1 });
    this.#carrier = carrier;
    this.#peer = options.peer ?? carrier;
    this.#outCodec = outCodec;
    this.#maxFrameBytes = options.maxFrameBytes ?? MAX_MESSAGE_BYTES;
    this.#reader = new FrameReader(inCodec, this.#maxFrameBytes);
    carrier.on("data", (chunk: Buffer) => this.#onData(chunk));
    carrier.on("end", () => this.#onPeerEnd());
    carrier.on("error", (error: Error) => this.destroy(error));
    carrier.on("close", () => {
      // Closed before either side ended: the peer went away (it died, or the network did).
      if (this.#peerEnded || this.writableFinished) this.destroy();
      else this.destroy(new Error("the peer closed the connection"));
    });
    carrier.resume();
  }

  /**
   * The peer as grpc-js names a call's peer (`address:port`), for logs and per-host caps.
   * @returns The peer's address and port.
   */
  getPeer(): string {
    return peerKey(this.#peer.remoteAddress ?? "unknown", this.#peer.remotePort ?? 0);
  }

  #onData(chunk: Buffer): void {
    // After this side ended, what still arrives is dropped until the peer hangs up.
    if (this.destroyed || this.writableEnded) return;
    try {
      for (const frame of this.#reader.push(chunk)) {
        if (frame.kind === "credit") {
          this.#flow.granted(frame.bytes);
          continue;
        }
        this.#flow.received(frame.bytes);
        this.#pending.push(frame);
      }
    } catch (error) {
      this.destroy(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.#unblock();
    this.#deliver();
  }

  /** Hands waiting messages to the reader while it takes them, crediting them back. */
  #deliver(): void {
    while (this.#wanted && this.#pending.length > 0 && !this.destroyed) {
      const { message, bytes } = this.#pending.shift() as Pending;
      const credit = this.#flow.delivered(bytes);
      if (credit > 0) this.#carrier.write(encodeWindowUpdate(credit));
      this.#wanted = this.push(message);
    }
    if (this.#peerEnded && !this.#endPushed && this.#pending.length === 0) {
      this.#endPushed = true;
      this.push(null);
    }
  }

  #onPeerEnd(): void {
    this.#peerEnded = true;
    this.#deliver();
    // The client ends its side only once the session is over: before that, it went away.
    if (!this.writableEnded && !this.destroyed) this.emit("cancelled");
  }

  /** The reader wants more. */
  override _read(): void {
    this.#wanted = true;
    this.#deliver();
  }

  /** Encodes one message after its length and writes it once the peer's window has room. */
  override _write(
    message: Out,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    let frame: Uint8Array;
    try {
      frame = encodeFrame(this.#outCodec, message, this.#maxFrameBytes);
    } catch (error) {
      return callback(error instanceof Error ? error : new Error(String(error)));
    }
    if (this.#flow.canSend(frame.length)) this.#send(frame, callback);
    else this.#blocked = { frame, callback };
  }

  #send(frame: Uint8Array, callback: (error?: Error | null) => void): void {
    this.#flow.sent(frame.length);
    if (this.#carrier.write(frame)) callback();
    else this.#carrier.once("drain", () => callback());
  }

  /** Sends the write that waited for credit, if the window has room now. */
  #unblock(): void {
    const blocked = this.#blocked;
    if (blocked === null || !this.#flow.canSend(blocked.frame.length)) return;
    this.#blocked = null;
    this.#send(blocked.frame, blocked.callback);
  }

  /**
   * Ends the carrier's writing side after the last frame, and destroys the carrier if the peer
   * has not closed its side within {@linkcode CLOSE_GRACE_MS} (the timer keeps no process
   * alive): a peer that never hangs up holds no descriptor.
   */
  override _final(callback: (error?: Error | null) => void): void {
    // Nothing is read after this side ended: what waits is dropped now, not when the peer closes.
    this.#pending = [];
    this.#reader.clear();
    this.#carrier.end();
    const timer = setTimeout(() => this.destroy(), CLOSE_GRACE_MS);
    Deno.unrefTimer(timer);
    this.once("close", () => clearTimeout(timer));
    callback();
  }

  /** Destroys the carrier; a write still waiting for credit fails. */
  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    this.#reader.clear();
    this.#pending = [];
    const blocked = this.#blocked;
    this.#blocked = null;
    blocked?.callback(error ?? new Error("Cannot send to the peer: the connection is closed"));
    this.#carrier.destroy();
    callback(error);
  }

  /** Ends the session at once (the client side's cancel of a gRPC call). */
  cancel(): void {
    this.destroy();
  }
}
