/**
 * The framed transfer stream (protocol 6): the codec's caps, flow control between the client's
 * `FrameConn` and the daemon's `FramedStream` over real loopback connections, a peer that ignores
 * its window, and the listener routing a connection by its first bytes however they are cut.
 */

import { deepStrictEqual as assertEquals, ok, rejects, throws } from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { type ClientFrame, ClientFrameSchema, type ServerFrame } from "../proto/gen/blit_pb.ts";
import {
  encodeFrame,
  FrameReader,
  INITIAL_WINDOW_BYTES,
  LENGTH_BYTES,
} from "../core/transport/frame_codec.ts";
import { FrameConn } from "../core/transport/frame_conn.ts";
import { FramedStream } from "../core/transport/frame_stream.ts";
import { type FilterSocket, listenFiltered } from "../core/transport/goaway_filter.ts";
import { streamFramePort } from "../core/transport/stream_port.ts";
import { MAX_MESSAGE_BYTES, TRANSFER_PREFACE } from "../core/transport/protocol.ts";
import { CLIENT_FRAME_CODEC, SERVER_FRAME_CODEC } from "../core/transport/frame_tables.ts";

const MIB = 1024 * 1024;

/** A ClientFrame carrying `bytes` of payload. */
function chunkFrame(bytes: number): ClientFrame {
  return create(ClientFrameSchema, {
    frame: {
      case: "dataChunk",
      value: { fileId: 1, offset: 0n, data: new Uint8Array(bytes).fill(7), last: false },
    },
  });
}

/** Resolves with `promise`, or with `fallback` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((resolve) => setTimeout(() => resolve(fallback), ms)),
  ]);
}

/** A listener whose transfer connections become `FramedStream`s, as blitd's do. */
async function framedServer(): Promise<{
  port: number;
  streams: FramedStream<ServerFrame, ClientFrame>[];
  arrived: () => Promise<FramedStream<ServerFrame, ClientFrame>>;
  close: () => void;
}> {
  const server = new grpc.Server();
  const streams: FramedStream<ServerFrame, ClientFrame>[] = [];
  const waiters: ((s: FramedStream<ServerFrame, ClientFrame>) => void)[] = [];
  const { listener, port } = await listenFiltered(server, grpc.ServerCredentials.createInsecure(), {
    hostname: "127.0.0.1",
    port: 0,
    idleTimeoutMs: 0,
    onTransfer: (stream: FilterSocket, socket: FilterSocket) => {
      const framed = new FramedStream<ServerFrame, ClientFrame>(
        stream,
        SERVER_FRAME_CODEC,
        CLIENT_FRAME_CODEC,
        { peer: socket },
      );
      framed.on("error", () => {});
      streams.push(framed);
      waiters.shift()?.(framed);
    },
  });
  return {
    port,
    streams,
    arrived: () =>
      new Promise((resolve) => {
        const next = streams.find((s) => !s.destroyed && !s.listenerCount("data"));
        if (next) resolve(next);
        else waiters.push(resolve);
      }),
    close: () => {
      for (const s of streams) s.destroy();
      listener.close();
      server.forceShutdown();
    },
  };
}

/** A client's framed connection to `port` (the preface goes first). */
async function dialFramed(port: number): Promise<FrameConn<ClientFrame, ServerFrame>> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  return new FrameConn<ClientFrame, ServerFrame>(conn, CLIENT_FRAME_CODEC, SERVER_FRAME_CODEC);
}

Deno.test("FrameReader refuses a length over the cap before allocating, and a body that does not decode", () => {
  const reader = new FrameReader(CLIENT_FRAME_CODEC);
  const head = new Uint8Array(LENGTH_BYTES);
  new DataView(head.buffer).setUint32(0, MAX_MESSAGE_BYTES + 1);
  throws(() => reader.push(head), /Cannot read a control frame of 16777217 bytes: the limit is/);
  const garbage = new Uint8Array([0, 0, 0, 3, 0xff, 0xff, 0xff]);
  throws(() => new FrameReader(CLIENT_FRAME_CODEC).push(garbage), /Cannot decode a control frame/);
  throws(
    () => encodeFrame(CLIENT_FRAME_CODEC, chunkFrame(4096), 1024),
    /Cannot send a control frame/,
  );
});

Deno.test("FrameReader reassembles frames cut anywhere", () => {
  const frames = [chunkFrame(10), chunkFrame(70_000), chunkFrame(0)];
  const bytes = new Uint8Array(
    frames.reduce((n, f) => n + encodeFrame(CLIENT_FRAME_CODEC, f).length, 0),
  );
  let at = 0;
  for (const f of frames) {
    const e = encodeFrame(CLIENT_FRAME_CODEC, f);
    bytes.set(e, at);
    at += e.length;
  }
  for (const cut of [1, 3, 4, 5, 4096, bytes.length]) {
    const reader = new FrameReader(CLIENT_FRAME_CODEC);
    const sizes: number[] = [];
    for (let i = 0; i < bytes.length; i += cut) {
      for (const read of reader.push(bytes.slice(i, i + cut))) {
        ok(read.kind === "message");
        const frame = (read.message as ClientFrame).frame;
        sizes.push(frame.case === "dataChunk" ? frame.value.data.length : -1);
      }
    }
    assertEquals(sizes, [10, 70_000, 0], `cut every ${cut} bytes`);
  }
});

Deno.test("the listener routes a transfer connection by its preface, however the bytes are cut", async (t) => {
  const server = await framedServer();
  try {
    const hello = encodeFrame(
      CLIENT_FRAME_CODEC,
      create(ClientFrameSchema, {
        frame: { case: "hello", value: { protocolVersion: 6, clientName: "t" } },
      }),
    );
    const whole = new Uint8Array(TRANSFER_PREFACE.length + hello.length * 2);
    whole.set(TRANSFER_PREFACE);
    whole.set(hello, TRANSFER_PREFACE.length);
    whole.set(hello, TRANSFER_PREFACE.length + hello.length);
    for (const cut of [whole.length, 1, 7, TRANSFER_PREFACE.length]) {
      await t.step(`in pieces of ${cut} bytes`, async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
        const names: string[] = [];
        const got = server.arrived().then((stream) =>
          new Promise<void>((resolve) => {
            stream.on("data", (m: ClientFrame) => {
              names.push(m.frame.case === "hello" ? m.frame.value.clientName : "?");
              if (names.length === 2) resolve();
            });
          })
        );
        for (let i = 0; i < whole.length; i += cut) {
          await conn.write(whole.slice(i, i + cut));
          if (cut < whole.length) await new Promise((resolve) => setTimeout(resolve, 2));
        }
        await within(got, 5_000, undefined);
        assertEquals(names, ["t", "t"]);
        conn.close();
      });
    }
    await t.step("a connection that is neither is closed", async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      await conn.write(new TextEncoder().encode("BLIT-OTHER/1\r\n\r\n" + "x".repeat(40)));
      const untilEnd = async (): Promise<boolean> => {
        try {
          while ((await conn.read(new Uint8Array(4096))) !== null) { /* its HTTP/2 greeting */ }
        } catch { /* reset */ }
        return true;
      };
      const closed = await within(untilEnd(), 5_000, false);
      ok(closed, "the daemon closed a connection that speaks neither protocol");
      conn.close();
    });
  } finally {
    server.close();
  }
});

Deno.test("flow control: a reader that stops holds the sender to its window, and credits let it go on", async () => {
  const server = await framedServer();
  try {
    const client = await dialFramed(server.port);
    const sender = streamFramePort<ClientFrame, ServerFrame>(client, CLIENT_FRAME_CODEC);
    const stream = await server.arrived();
    const receiver = streamFramePort<ServerFrame, ClientFrame>(stream, SERVER_FRAME_CODEC, {
      maxQueuedFrames: 1,
    });
    // Nobody reads: the daemon's side may hold its queue (one frame), one in the stream's
    // buffer, and the window's worth; then the sender must block.
    let sent = 0;
    for (let i = 0; i < 12; i++) {
      const wrote = await within(
        sender.sendRaw({ case: "dataChunk", value: chunkFrame(4 * MIB).frame.value as never })
          .then(() => true),
        1_000,
        false,
      );
      if (!wrote) break;
      sent++;
    }
    const bound = Math.ceil(INITIAL_WINDOW_BYTES / (4 * MIB)) + 3;
    ok(sent >= 2 && sent < 12 && sent <= bound, `sent ${sent} frames of 4 MiB (bound ${bound})`);
    // Reading everything lets the rest through, in order.
    const more = sender.sendRaw({ case: "dataChunk", value: chunkFrame(1).frame.value as never });
    let read = 0;
    for (;;) {
      const frame = await receiver.nextRaw(5_000);
      if (frame?.case !== "dataChunk") break;
      read++;
      if (frame.value.data.length === 1) break;
    }
    await more;
    ok(read > sent, `read ${read} after ${sent} were taken`);
    sender.close();
    receiver.close();
  } finally {
    server.close();
  }
});

Deno.test("a peer that sends beyond its window is cut off", async () => {
  const server = await framedServer();
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await conn.write(TRANSFER_PREFACE);
    const stream = await server.arrived();
    stream.pause();
    const failed = new Promise<Error>((resolve) => stream.once("error", resolve));
    const frame = encodeFrame(CLIENT_FRAME_CODEC, chunkFrame(8 * MIB));
    const writing = (async () => {
      try {
        for (let i = 0; i < 6; i++) {
          for (let at = 0; at < frame.length;) at += await conn.write(frame.subarray(at));
        }
      } catch { /* cut off */ }
    })();
    const error = await within(failed, 10_000, null);
    ok(error !== null, "the stream failed");
    ok(/without waiting for credit/.test(error.message), error.message);
    await writing;
    conn.close();
  } finally {
    server.close();
  }
});

Deno.test("the daemon's end hears a client that leaves mid-session as cancelled, at once", async () => {
  const server = await framedServer();
  try {
    const client = await dialFramed(server.port);
    const stream = await server.arrived();
    const port = streamFramePort<ServerFrame, ClientFrame>(stream, SERVER_FRAME_CODEC);
    const started = performance.now();
    const waiting = port.nextRaw(30_000);
    client.cancel();
    await rejects(waiting, /cancelled|closed/);
    ok(port.signal.aborted, "the session's signal is aborted");
    ok(performance.now() - started < 2_000, "within 2 s");
  } finally {
    server.close();
  }
});
