/**
 * Adapts a grpc-js `Transfer` duplex stream (client or server side) into a session
 * {@linkcode FramePort}, with back-pressure on send and an idle deadline on receive.
 *
 * @module
 */

import { describeError } from "../errors.ts";
import {
  create,
  type DescMessage,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import type {
  ClientFrame,
  ClientFrameSchema,
  ServerFrame,
  ServerFrameSchema,
} from "../../proto/gen/blit_pb.ts";
import type { Frame, FramePort } from "../session/frames.ts";
import { frameFromWire, frameToWire, type WireFrame } from "../session/wire.ts";
import { TimeoutError } from "./deadline.ts";

/** The parts of a grpc-js duplex stream the port uses. */
export interface DuplexLike<Out, In> {
  /** Writes a message; `false` means "wait for drain". */
  write(message: Out): boolean;
  /** Registers listeners. */
  on(event: "data", listener: (message: In) => void): unknown;
  /** Registers the end and error listeners. */
  on(event: "end" | "drain" | "close", listener: () => void): unknown;
  /** Registers the error listener. */
  on(event: "error", listener: (error: Error) => void): unknown;
  /** Removes a listener. */
  off(event: "drain", listener: () => void): unknown;
  /** Ends the writable side. */
  end(): unknown;
}

/** Options of {@linkcode grpcFramePort}. */
export interface GrpcPortOptions {
  /**
   * Longest quiet time on the control stream while no payload is moving.
   * @default {60000}
   */
  idleTimeoutMs?: number;
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
export interface GrpcFramePort<In extends FrameMessage> extends FramePort {
  /** Receives the next raw frame (handshake frames included). */
  nextRaw(timeoutMs?: number): Promise<In["frame"] | null>;
  /** Sends a raw frame (handshake frames included). */
  sendRaw(frame: RawFrame): Promise<void>;
}

/**
 * Wraps a grpc-js duplex into a frame port.
 *
 * @param stream The call's duplex stream.
 * @param schema The schema of the frames this side writes (`ClientFrameSchema` on the client).
 * @param options Idle deadline.
 * @returns The port.
 */
export function grpcFramePort<Out extends FrameMessage, In extends FrameMessage>(
  stream: DuplexLike<Out, In>,
  schema: DescMessage,
  options: GrpcPortOptions = {},
): GrpcFramePort<In> {
  const { idleTimeoutMs = 60_000 } = options;
  const inbox: In["frame"][] = [];
  const waiters: { resolve: (f: In["frame"] | null) => void; reject: (e: Error) => void }[] = [];
  let ended = false;
  let failure: Error | null = null;

  stream.on("data", (message: In) => {
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(message.frame);
    else inbox.push(message.frame);
  });
  const finish = (): void => {
    ended = true;
    for (const w of waiters.splice(0)) w.resolve(null);
  };
  stream.on("end", finish);
  stream.on("close", finish);
  stream.on("error", (error: Error) => {
    failure = new Error(`Cannot continue the session: ${describeError(error)}`);
    for (const w of waiters.splice(0)) w.reject(failure);
  });

  const port: GrpcFramePort<In> = {
    busy: 0,
    batchEntries: WIRE_BATCH_ENTRIES,
    close(): void {
      try {
        stream.end();
      } catch { /* already closed */ }
    },
    sendRaw(frame): Promise<void> {
      if (failure) return Promise.reject(failure);
      const message = create(schema, { frame }) as MessageShape<DescMessage> as unknown as Out;
      if (stream.write(message)) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const onDrain = (): void => {
          stream.off("drain", onDrain);
          resolve();
        };
        stream.on("drain", onDrain);
      });
    },
    send(frame: Frame): Promise<void> {
      return port.sendRaw(frameToWire(frame));
    },
    nextRaw(timeoutMs = idleTimeoutMs): Promise<In["frame"] | null> {
      if (inbox.length > 0) return Promise.resolve(inbox.shift() as In["frame"]);
      if (failure) return Promise.reject(failure);
      if (ended) return Promise.resolve(null);
      return new Promise((resolve, reject) => {
        let last = performance.now();
        const waiter = {
          resolve: (f: In["frame"] | null) => {
            clearInterval(timer);
            resolve(f);
          },
          reject: (e: Error) => {
            clearInterval(timer);
            reject(e);
          },
        };
        // The deadline counts quiet time only while no payload is moving.
        const timer = setInterval(() => {
          if (port.busy > 0) last = performance.now();
          else if (performance.now() - last > timeoutMs) {
            const i = waiters.indexOf(waiter);
            if (i >= 0) waiters.splice(i, 1);
            waiter.reject(
              new TimeoutError("continue the session (the peer sent nothing)", timeoutMs),
            );
          }
        }, Math.min(1000, Math.max(50, timeoutMs / 4)));
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
