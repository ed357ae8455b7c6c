/**
 * Adapts a duplex stream of protobuf frames — a transfer's framed connection (`frame_conn.ts` on
 * the client, `frame_stream.ts` on the daemon) or a grpc-js call, which has the same events and
 * methods — into a session {@linkcode FramePort}, with back-pressure in both directions and a
 * deadline on every wait:
 *
 * - Receiving: frames that arrive while the session is busy elsewhere are queued, up to
 *   {@linkcode MAX_QUEUED_FRAMES} frames or {@linkcode MAX_QUEUED_BYTES} bytes (and, in the
 *   daemon, while all sessions together hold less than a shared {@linkcode InboundBudget});
 *   beyond that the stream is paused — the framed stream then stops crediting the peer's window
 *   (a grpc-js call stops reading its HTTP/2 stream), so flow control stops the peer — and resumed
 *   as the session reads. The stream's own read-ahead is cut to one message. A session with
 *   nothing queued may always take one frame, so a spent shared budget slows every session down
 *   but starves none.
 * - Sending: a write the peer does not drain within `sendTimeoutMs` fails the port with a
 *   `TimeoutError`.
 * - The peer going away (`cancelled`, a failed or closed stream) fails every pending and
 *   later receive and send at once, with an error that says so.
 *
 * @module
 */

import { describeError } from "../errors.ts";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  ClientFrame,
  ClientFrameSchema,
  ServerFrame,
  ServerFrameSchema,
} from "../../proto/gen/blit_pb.ts";
import type { Frame, FramePort } from "../session/frames.ts";
import { frameFromWire, frameToWire, type WireFrame } from "../session/wire.ts";
import { TimeoutError } from "./deadline.ts";
import { startRepeating, startTimer } from "../timer.ts";
import { wireSizeOf } from "./wire_size.ts";
import type { InboundBudget } from "./inbound_budget.ts";
import type { MessageCodec } from "./message_codec.ts";

/** The parts of a message stream (a framed connection, or a grpc-js call) the port uses. */
export interface DuplexLike<Out, In> {
  /** Writes a message; `false` means "wait for drain"; the callback hears of a failed write. */
  write(message: Out, callback?: (error?: Error | null) => void): boolean;
  /** Registers listeners. */
  on(event: "data", listener: (message: In) => void): unknown;
  /** Registers the end, drain, close and (server side) cancelled listeners. */
  on(event: "end" | "drain" | "close" | "cancelled", listener: () => void): unknown;
  /** Registers the error listener. */
  on(event: "error", listener: (error: Error) => void): unknown;
  /** Ends the writable side. */
  end(): unknown;
  /** Stops delivering `data` (back-pressure). */
  pause?(): unknown;
  /** Delivers `data` again. */
  resume?(): unknown;
  /** Whether the stream was destroyed. */
  readonly destroyed?: boolean;
  /** Whether `end()` was called. */
  readonly writableEnded?: boolean;
  /** Cancels the call (client side). */
  cancel?(): void;
}

/** Most frames a control stream queues before it stops reading. */
export const MAX_QUEUED_FRAMES = 64;

/**
 * Most bytes (encoded size) of queued frames before a control stream stops reading: the
 * per-session memory cap, overshot by at most one frame (≤ 16 MiB, `MAX_MESSAGE_BYTES`).
 */
export const MAX_QUEUED_BYTES = 32 * 1024 * 1024;

/** The size assumed for a frame whose encoded size is unknown (one made in this process). */
const UNKNOWN_FRAME_BYTES = 4096;

/** Options of {@linkcode streamFramePort}. */
export interface StreamPortOptions {
  /**
   * Longest quiet time on the control stream while no payload is moving.
   * @default {60000}
   */
  idleTimeoutMs?: number;
  /**
   * Longest time a send may wait for the peer to read (a `drain`); after it the port fails.
   * @default {idleTimeoutMs}
   */
  sendTimeoutMs?: number;
  /**
   * Frames queued (received, not yet read by the session) before the stream is paused.
   * @default {MAX_QUEUED_FRAMES}
   */
  maxQueuedFrames?: number;
  /**
   * Bytes of queued frames before the stream is paused.
   * @default {MAX_QUEUED_BYTES}
   */
  maxQueuedBytes?: number;
  /** A byte budget shared with the process's other streams (the daemon's cap). */
  budget?: InboundBudget;
}

type FrameMessage = ClientFrame | ServerFrame;

/** Any frame either side may send, as protobuf-es builds it. */
export type RawFrame =
  | WireFrame
  | MessageInitShape<typeof ClientFrameSchema>["frame"]
  | MessageInitShape<typeof ServerFrameSchema>["frame"];

/** Manifest entries batched into one frame on the network. */
export const WIRE_BATCH_ENTRIES = 2048;

/** A frame port plus the handshake frames only one side sends. */
export interface StreamFramePort<In extends FrameMessage> extends FramePort {
  /** Receives the next raw frame (handshake frames included). */
  nextRaw(timeoutMs?: number): Promise<In["frame"] | null>;
  /** Sends a raw frame (handshake frames included). */
  sendRaw(frame: RawFrame): Promise<void>;
  /**
   * Aborted (with the error) once the session cannot go on: the peer cancelled the call or went
   * away, the stream failed, or a send stalled past its deadline. Whatever else the session
   * waits on (its data connections) should end then too.
   */
  readonly signal: AbortSignal;
}

/** A receive waiting for a frame. */
interface Waiter<F> {
  resolve: (frame: F | null) => void;
  reject: (error: Error) => void;
}

/** A send waiting for the peer to drain the stream. */
interface Drain {
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * grpc-js builds its streams with Node's default object-mode read-ahead (16 messages of up to
 * 16 MiB each) and offers no option for it; a paused stream keeps reading until that much is
 * buffered. Cutting it to one message makes pausing bound the memory a stream holds.
 */
function limitReadAhead(stream: object): void {
  const state = (stream as { _readableState?: { highWaterMark?: unknown } })._readableState;
  if (state && typeof state.highWaterMark === "number") state.highWaterMark = 1;
}

/**
 * Wraps a message stream into a frame port.
 *
 * @example Usage
 * ```ts ignore
 * const stream = await openTransferStream(channel, 10_000); // core/session/remote.ts
 * const port = streamFramePort<ClientFrame, ServerFrame>(stream, CLIENT_FRAME_CODEC);
 * await port.sendRaw({ case: "hello", value: { protocolVersion: PROTOCOL_VERSION } });
 * const reply = await port.nextRaw(10_000);
 * ```
 *
 * @param stream The message stream (a framed connection, or a grpc-js call).
 * @param codec The codec of the frames this side writes (`CLIENT_FRAME_CODEC` on the client).
 * @param options Deadlines, queue caps and the shared budget.
 * @returns The port.
 */
export function streamFramePort<Out extends FrameMessage, In extends FrameMessage>(
  stream: DuplexLike<Out, In>,
  codec: MessageCodec<Out>,
  options: StreamPortOptions = {},
): StreamFramePort<In> {
  const {
    idleTimeoutMs = 60_000,
    maxQueuedFrames = MAX_QUEUED_FRAMES,
    maxQueuedBytes = MAX_QUEUED_BYTES,
    budget,
  } = options;
  const sendTimeoutMs = options.sendTimeoutMs ?? idleTimeoutMs;
  limitReadAhead(stream);
  const inbox: { frame: In["frame"]; bytes: number }[] = [];
  let queuedBytes = 0;
  let paused = false;
  const waiters: Waiter<In["frame"]>[] = [];
  const drains: Drain[] = [];
  let ended = false;
  let closed = false;
  let released = false;
  let failure: Error | null = null;

  /** Pauses the stream while the queue is over a cap, resumes it once it is not. */
  const flow = (): void => {
    const stop = failure === null && !closed && !released && (
      inbox.length >= maxQueuedFrames || queuedBytes >= maxQueuedBytes ||
      (inbox.length > 0 && budget !== undefined && budget.exhausted)
    );
    if (stop === paused) return;
    paused = stop;
    if (stop) stream.pause?.();
    else stream.resume?.();
  };
  const gone = new AbortController();
  const fail = (error: Error): void => {
    failure ??= error;
    if (!gone.signal.aborted) gone.abort(failure);
    for (const w of waiters.splice(0)) w.reject(failure);
    for (const d of drains.splice(0)) d.reject(failure);
  };
  /** Drops what is queued and returns its bytes to the shared budget. */
  const release = (): void => {
    if (released) return;
    released = true;
    budget?.give(queuedBytes);
    queuedBytes = 0;
    inbox.length = 0;
  };
  const take = (): In["frame"] => {
    const item = inbox.shift() as { frame: In["frame"]; bytes: number };
    queuedBytes -= item.bytes;
    budget?.give(item.bytes);
    flow();
    return item.frame;
  };

  stream.on("data", (message: In) => {
    if (released) return;
    const waiter = waiters.shift();
    if (waiter) return waiter.resolve(message.frame);
    const bytes = wireSizeOf(message) ?? UNKNOWN_FRAME_BYTES;
    inbox.push({ frame: message.frame, bytes });
    queuedBytes += bytes;
    budget?.take(bytes);
    flow();
  });
  const finish = (): void => {
    ended = true;
    for (const w of waiters.splice(0)) w.resolve(null);
  };
  stream.on("end", finish);
  stream.on("close", () => {
    closed = true;
    finish();
    for (const d of drains.splice(0)) {
      d.reject(new Error("Cannot send to the peer: the session's stream is closed"));
    }
  });
  stream.on("cancelled", () => {
    fail(new Error("Cannot continue the session: the peer cancelled it (it went away)"));
  });
  stream.on("error", (error: Error) => {
    fail(new Error(`Cannot continue the session: ${describeError(error)}`));
  });
  stream.on("drain", () => {
    for (const d of drains.splice(0)) d.resolve();
  });

  const port: StreamFramePort<In> = {
    busy: 0,
    batchEntries: WIRE_BATCH_ENTRIES,
    signal: gone.signal,
    close(): void {
      release();
      try {
        stream.end();
      } catch { /* already closed */ }
    },
    sendRaw(frame): Promise<void> {
      if (failure) return Promise.reject(failure);
      if (closed || stream.destroyed === true || stream.writableEnded === true) {
        return Promise.reject(new Error("Cannot send to the peer: the session's stream is closed"));
      }
      const message = { $typeName: codec.typeName, frame } as unknown as Out;
      let flowing: boolean;
      try {
        flowing = stream.write(message, (error) => {
          if (error) fail(new Error(`Cannot send to the peer: ${describeError(error)}`));
        });
      } catch (error) {
        return Promise.reject(new Error(`Cannot send to the peer: ${describeError(error)}`));
      }
      if (flowing) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = startTimer(sendTimeoutMs, () => {
          const i = drains.indexOf(drain);
          if (i >= 0) drains.splice(i, 1);
          const error = new TimeoutError(
            "send to the peer (it stopped reading the session's stream)",
            sendTimeoutMs,
          );
          fail(error);
          stream.cancel?.();
          reject(error);
        });
        const drain: Drain = {
          resolve: () => {
            timer.cancel();
            resolve();
          },
          reject: (error) => {
            timer.cancel();
            reject(error);
          },
        };
        drains.push(drain);
      });
    },
    send(frame: Frame): Promise<void> {
      return port.sendRaw(frameToWire(frame));
    },
    nextRaw(timeoutMs = idleTimeoutMs): Promise<In["frame"] | null> {
      if (inbox.length > 0) return Promise.resolve(take());
      if (failure) return Promise.reject(failure);
      if (ended || released) return Promise.resolve(null);
      // Nothing queued: a stream paused for the shared budget may always take one frame.
      flow();
      return new Promise((resolve, reject) => {
        let last = performance.now();
        const waiter: Waiter<In["frame"]> = {
          resolve: (f) => {
            timer.cancel();
            resolve(f);
          },
          reject: (e) => {
            timer.cancel();
            reject(e);
          },
        };
        // The deadline counts quiet time only while no payload is moving.
        const timer = startRepeating(Math.min(1000, Math.max(50, timeoutMs / 4)), () => {
          if (port.busy > 0) last = performance.now();
          else if (performance.now() - last > timeoutMs) {
            const i = waiters.indexOf(waiter);
            if (i >= 0) waiters.splice(i, 1);
            waiter.reject(
              new TimeoutError("continue the session (the peer sent nothing)", timeoutMs),
            );
          }
        });
        waiters.push(waiter);
      });
    },
    async next(timeoutMs?: number): Promise<Frame | null> {
      const frame = await port.nextRaw(timeoutMs);
      if (frame === null || frame === undefined) return null;
      if (frame.case === undefined) return port.next(timeoutMs);
      return frameFromWire(frame);
    },
  };
  return port;
}
