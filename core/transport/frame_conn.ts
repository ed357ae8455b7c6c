/**
 * The client's end of a transfer session's control stream: frames (`frame_codec.ts`) over a
 * `Deno.Conn` (TCP, or TLS from `Deno.startTls`), with the events and methods of a grpc-js call
 * that the frame port (`stream_port.ts`) uses. No `node:` module: a client's transfer path loads
 * none (the compatibility layer costs tens of milliseconds at start-up).
 *
 * @module
 */

import { describeError } from "../errors.ts";
import { startTimer } from "../timer.ts";
import type { ByteConn } from "./conn_socket.ts";
import type { MessageCodec } from "./message_codec.ts";
import { finishBeforeExit } from "../pending_work.ts";
import { encodeFrame, encodeWindowUpdate, FlowWindow, FrameReader } from "./frame_codec.ts";
import { CLOSE_GRACE_MS, MAX_MESSAGE_BYTES, TRANSFER_PREFACE } from "./protocol.ts";

/** Bytes read from the connection at a time. */
const READ_BYTES = 64 * 1024;
/** Queued bytes above which `write()` says to wait for `drain`. */
const WRITE_HIGH_WATER = 256 * 1024;

type Listener = (...args: never[]) => void;

/** Options of {@linkcode FrameConn}. */
export interface FrameConnOptions {
  /**
   * Largest frame accepted or sent.
   * @default {MAX_MESSAGE_BYTES}
   */
  maxFrameBytes?: number;
}

/**
 * Protobuf messages over a connection, each after its length, starting with
 * {@linkcode TRANSFER_PREFACE}, with the framing's flow control. Writes are queued and written in
 * order as the daemon's window allows, coalesced into one system call when several wait;
 * `write()` returns `false` once more than 256 KiB wait, and `drain` follows when they are
 * written. Messages are credited back to the daemon as they are handed to the listener; reads
 * stop while paused. The daemon's end of stream is `end`; a failed connection is `error`; both
 * sides done, or a destroy, is `close`.
 *
 * @example Usage
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import type { Hello } from "../../proto/gen/blit_pb.ts";
 * import { FrameConn } from "./frame_conn.ts";
 * import { HelloTable } from "./frame_tables.ts";
 * import { codecOf } from "./message_codec.ts";
 * const hello = codecOf<Hello>(HelloTable);
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const client = new FrameConn<Hello, Hello>(
 *   await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
 *   hello,
 *   hello,
 * );
 * const server = await listener.accept();
 * client.write({ $typeName: "blit.v1.Hello", protocolVersion: 0, clientName: "doc" });
 * const bytes = new Uint8Array(64);
 * const n = (await server.read(bytes)) ?? 0;
 * strictEqual(new TextDecoder().decode(bytes.subarray(0, 4)), "BLIT");
 * strictEqual(n > 21, true);
 * client.cancel();
 * server.close();
 * listener.close();
 * ```
 */
export class FrameConn<Out extends object, In extends object> {
  readonly #conn: ByteConn & { closeWrite?: () => Promise<void> };
  readonly #outCodec: MessageCodec<Out>;
  readonly #reader: FrameReader;
  readonly #maxFrameBytes: number;
  readonly #listeners = new Map<string, Listener[]>();
  readonly #flow = new FlowWindow();
  /** Frames to write; `counts`: the frame uses the daemon's window (a message does). */
  #queue: { bytes: Uint8Array; counts: boolean; done?: (error?: Error | null) => void }[] = [];
  #queued = 0;
  #writing = false;
  #wantsDrain = false;
  #paused = false;
  #wake: (() => void) | null = null;
  #peerEnded = false;
  #writeClosed = false;
  #destroyed = false;
  #ended = false;
  /** Settles once this side is closed for writing (its frames written), or destroyed. */
  readonly #writeDone = Promise.withResolvers<void>();

  /**
   * Wraps a connection (owned from now on) and queues the preface.
   * @param conn The connection to the daemon's control port.
   * @param outCodec The codec of the messages written (`CLIENT_FRAME_CODEC`).
   * @param inCodec The codec of the messages read (`SERVER_FRAME_CODEC`).
   * @param options The frame cap.
   */
  constructor(
    conn: ByteConn,
    outCodec: MessageCodec<Out>,
    inCodec: MessageCodec<In>,
    options: FrameConnOptions = {},
  ) {
    this.#conn = conn;
    this.#outCodec = outCodec;
    this.#maxFrameBytes = options.maxFrameBytes ?? MAX_MESSAGE_BYTES;
    this.#reader = new FrameReader(inCodec, this.#maxFrameBytes);
    this.#enqueue(TRANSFER_PREFACE, false);
    // Started once the caller had a chance to listen.
    queueMicrotask(() => void this.#readLoop());
  }

  /** Whether the connection was destroyed. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Whether `end()` was called. */
  get writableEnded(): boolean {
    return this.#ended;
  }

  /**
   * Registers a listener: `data` (a message), `end`, `drain`, `close`, `error`.
   * @param event The event.
   * @param listener Its listener.
   * @returns This connection.
   */
  on(event: "data", listener: (message: In) => void): this;
  on(event: "end" | "drain" | "close" | "cancelled", listener: () => void): this;
  on(event: "error", listener: (error: Error) => void): this;
  on(event: string, listener: Listener): this {
    const list = this.#listeners.get(event) ?? [];
    list.push(listener);
    this.#listeners.set(event, list);
    return this;
  }

  #emit(event: string, ...args: unknown[]): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      (listener as (...a: unknown[]) => void)(...args);
    }
  }

  /**
   * Queues a message.
   * @param message The message.
   * @param callback Told when it was written, or why not.
   * @returns `false` when the caller should wait for `drain`.
   */
  write(message: Out, callback?: (error?: Error | null) => void): boolean {
    if (this.#destroyed || this.#ended) {
      const error = new Error("Cannot send to the daemon: the session's connection is closed");
      queueMicrotask(() => callback?.(error));
      return false;
    }
    let bytes: Uint8Array;
    try {
      bytes = encodeFrame(this.#outCodec, message, this.#maxFrameBytes);
    } catch (error) {
      queueMicrotask(() => callback?.(error as Error));
      return true;
    }
    return this.#enqueue(bytes, true, callback);
  }

  #enqueue(
    bytes: Uint8Array,
    counts: boolean,
    done?: (error?: Error | null) => void,
  ): boolean {
    this.#queue.push(done ? { bytes, counts, done } : { bytes, counts });
    this.#queued += bytes.length;
    if (!this.#writing) void this.#writeLoop();
    const flowing = this.#queued < WRITE_HIGH_WATER;
    if (!flowing) this.#wantsDrain = true;
    return flowing;
  }

  /** Ends the writing side once the queue is written; closes when the daemon ended too. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    // The frames queued so far still leave if the command ends its process (pending_work.ts).
    void finishBeforeExit(this.#writeDone.promise);
    this.#reader.clear();
    if (!this.#writing) void this.#writeLoop();
    // A daemon that never closes its side holds nothing for long. (The read still pending
    // keeps the process alive meanwhile anyway; the timer is let go of once the daemon closed.)
    const timer = startTimer(CLOSE_GRACE_MS, () => this.destroy());
    this.on("close", () => timer.cancel());
  }

  /** Stops reading (back-pressure). */
  pause(): void {
    this.#paused = true;
  }

  /** Reads again. */
  resume(): void {
    this.#paused = false;
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** Ends the session at once. */
  cancel(): void {
    this.destroy();
  }

  /**
   * Closes the connection; with an error, `error` is emitted first.
   * @param error Why, if it failed.
   */
  destroy(error?: Error): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#writeDone.resolve();
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    this.#reader.clear();
    const pending = this.#queue.splice(0);
    this.#queued = 0;
    const gone = error ??
      new Error("Cannot send to the daemon: the session's connection is closed");
    for (const item of pending) item.done?.(gone);
    this.resume();
    if (error) this.#emit("error", error);
    this.#emit("close");
  }

  async #readLoop(): Promise<void> {
    try {
      while (!this.#destroyed) {
        if (this.#paused) {
          await new Promise<void>((resolve) => this.#wake = resolve);
          continue;
        }
        // A buffer per read: decoded byte fields keep views of it.
        const buffer = new Uint8Array(READ_BYTES);
        const got = await this.#conn.read(buffer);
        if (this.#destroyed) return;
        if (got === null) {
          this.#peerEnded = true;
          this.#emit("end");
          if (this.#writeClosed) this.destroy();
          return;
        }
        // After this side ended, what still arrives is dropped until the daemon hangs up.
        if (this.#ended) continue;
        const chunk = got * 4 < READ_BYTES ? buffer.slice(0, got) : buffer.subarray(0, got);
        for (const frame of this.#reader.push(chunk)) {
          if (this.#destroyed) return;
          if (frame.kind === "credit") {
            this.#flow.granted(frame.bytes);
            if (!this.#writing) void this.#writeLoop();
            continue;
          }
          this.#flow.received(frame.bytes);
          const credit = this.#flow.delivered(frame.bytes);
          if (credit > 0) this.#enqueue(encodeWindowUpdate(credit), false);
          this.#emit("data", frame.message);
        }
      }
    } catch (error) {
      if (!this.#destroyed) this.destroy(connectionError(error));
    }
  }

  /** Takes the queued frames that may go now: in order, up to the first the window has no room for. */
  #sendable(): { bytes: Uint8Array; counts: boolean; done?: (error?: Error | null) => void }[] {
    let n = 0;
    for (const item of this.#queue) {
      if (item.counts) {
        if (!this.#flow.canSend(item.bytes.length)) break;
        this.#flow.sent(item.bytes.length);
      }
      n++;
    }
    return this.#queue.splice(0, n);
  }

  async #writeLoop(): Promise<void> {
    this.#writing = true;
    try {
      for (;;) {
        const batch = this.#sendable();
        if (batch.length === 0 || this.#destroyed) break;
        const bytes = batch.length === 1 ? batch[0]!.bytes : concat(batch.map((b) => b.bytes));
        let off = 0;
        while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
        this.#queued -= bytes.length;
        for (const item of batch) item.done?.();
        if (this.#wantsDrain && this.#queued < WRITE_HIGH_WATER) {
          this.#wantsDrain = false;
          this.#emit("drain");
        }
      }
      if (this.#ended && this.#queue.length === 0 && !this.#writeClosed && !this.#destroyed) {
        this.#writeClosed = true;
        await this.#conn.closeWrite?.().catch(() => {});
        this.#writeDone.resolve();
        if (this.#peerEnded) this.destroy();
      }
    } catch (error) {
      if (!this.#destroyed) this.destroy(connectionError(error));
    } finally {
      this.#writing = false;
    }
  }
}

/** The error a failed read or write becomes. */
function connectionError(error: unknown): Error {
  return new Error(`the connection to the daemon failed (${describeError(error)})`, {
    cause: error,
  });
}

/** Joins byte arrays. */
function concat(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
