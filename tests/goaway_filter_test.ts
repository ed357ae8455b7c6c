import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { Buffer } from "node:buffer";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { GoawayFilter, listenFiltered } from "../core/transport/goaway_filter.ts";
import { generateServerCertificate } from "../core/tls_cert.ts";

/** Just enough of a socket for GoawayFilter: data comes from emit("data"). */
class FakeSocket extends EventEmitter {
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
  written: Buffer[] = [];
  write(chunk: Buffer, callback: () => void): boolean {
    this.written.push(chunk);
    callback();
    return true;
  }
  end(callback?: () => void): this {
    callback?.();
    return this;
  }
  destroy(): this {
    return this;
  }
}

function frame(type: number, length: number, streamId: number): Buffer {
  const bytes = Buffer.alloc(9 + length, type + 1);
  bytes.writeUIntBE(length, 0, 3);
  bytes[3] = type;
  bytes[4] = 0;
  bytes.writeUInt32BE(streamId, 5);
  return bytes;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const FRAMES = [
  frame(0x4, 6, 0), // SETTINGS
  frame(0x1, 20, 1), // HEADERS
  frame(0x0, 40_000, 1), // DATA, bigger than a chunk
  frame(0x7, 8, 0), // GOAWAY
  frame(0x6, 8, 0), // PING
  frame(0x7, 0, 0), // GOAWAY without payload
  frame(0x7, 12, 0), // GOAWAY with debug data
  frame(0x0, 5, 3), // DATA
];
const INPUT = Buffer.concat([PREFACE, ...FRAMES]);
const EXPECTED = Buffer.concat([PREFACE, ...FRAMES.filter((f) => f[3] !== 0x7)]);

async function run(chunkSizes: () => number): Promise<{ output: Buffer; dropped: number }> {
  const socket = new FakeSocket();
  const filter = new GoawayFilter(socket as unknown as Socket);
  const parts: Buffer[] = [];
  filter.on("data", (chunk: Buffer) => parts.push(chunk));
  for (let pos = 0; pos < INPUT.length;) {
    const n = Math.max(1, chunkSizes());
    socket.emit("data", INPUT.subarray(pos, pos + n));
    pos += n;
  }
  await new Promise((resolve) => setTimeout(resolve, 0)); // the filter emits on a later tick
  return { output: Buffer.concat(parts), dropped: filter.dropped };
}

Deno.test("GoawayFilter", async (t) => {
  await t.step("drops GOAWAY frames and passes everything else unchanged", async () => {
    const { output, dropped } = await run(() => INPUT.length);
    assertEquals(output.equals(EXPECTED), true);
    assertEquals(dropped, 3);
  });

  await t.step("handles frames split at every byte", async () => {
    const { output, dropped } = await run(() => 1);
    assertEquals(output.equals(EXPECTED), true);
    assertEquals(dropped, 3);
  });

  await t.step("handles random chunk boundaries", async () => {
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed;
    };
    for (let i = 0; i < 200; i++) {
      const max = 1 + (i % 50) * 40;
      const { output, dropped } = await run(() => random() % max);
      assertEquals(output.equals(EXPECTED), true);
      assertEquals(dropped, 3);
    }
  });

  await t.step("drops the server's GOAWAY frames on the way to the client", async () => {
    const socket = new FakeSocket();
    const filter = new GoawayFilter(socket as unknown as Socket);
    const server = Buffer.concat(FRAMES);
    for (let pos = 0; pos < server.length; pos += 7) {
      await new Promise<void>((resolve) =>
        filter.write(server.subarray(pos, pos + 7), () => resolve())
      );
    }
    const sent = Buffer.concat(socket.written);
    assertEquals(sent.equals(Buffer.concat(FRAMES.filter((f) => f[3] !== 0x7))), true);
    assertEquals(filter.droppedOutbound, 3);
  });
});

/** A frame header and payload with flags. */
function flagged(type: number, flags: number, length: number, streamId: number): Buffer {
  const bytes = frame(type, length, streamId);
  bytes[4] = flags;
  return bytes;
}

Deno.test("GoawayFilter counts the streams (calls) in flight", async () => {
  const socket = new FakeSocket();
  const counts: number[] = [];
  const filter = new GoawayFilter(socket as unknown as Socket, {
    onStreams: (open) => counts.push(open),
  });
  filter.on("data", () => {});
  socket.emit("data", Buffer.concat([PREFACE, frame(0x4, 0, 0), flagged(0x1, 0x4, 10, 1)]));
  socket.emit("data", flagged(0x1, 0x4, 10, 3)); // a second call
  socket.emit("data", flagged(0x0, 0x1, 5, 1)); // the client's END_STREAM: still in flight
  socket.emit("data", frame(0x3, 4, 3)); // the client resets call 3
  assertEquals(filter.openStreams, 1);
  // The server's trailers end call 1.
  await new Promise<void>((resolve) => filter.write(flagged(0x1, 0x5, 6, 1), () => resolve()));
  assertEquals(filter.openStreams, 0);
  assertEquals(counts, [1, 2, 1, 0]);
});

Deno.test({
  name: "listenFiltered() closes connections without a call in flight, with and without TLS",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const { certPem, keyPem } = await generateServerCertificate();
    for (const tls of [null, { cert: certPem, key: keyPem }]) {
      const server = new grpc.Server();
      const { listener, port } = await listenFiltered(
        server,
        grpc.ServerCredentials.createInsecure(),
        { hostname: "127.0.0.1", port: 0, tls, idleTimeoutMs: 300 },
      );
      try {
        const silent = await Deno.connect({ hostname: "127.0.0.1", port });
        const started = performance.now();
        const closed = await Promise.race([
          (async () => {
            // The server speaks first (its SETTINGS); the connection is closed at the deadline.
            try {
              while ((await silent.read(new Uint8Array(1024))) !== null) { /* discard */ }
            } catch { /* a reset counts as closed */ }
            return true;
          })(),
          new Promise<false>((resolve) => setTimeout(() => resolve(false), 3000)),
        ]);
        assertEquals(closed, true, `a silent connection (tls: ${tls !== null}) was closed`);
        const waited = performance.now() - started;
        assertEquals(waited >= 250 && waited < 3000, true, `closed after ${waited} ms`);
        assertEquals(listener.idleClosed, 1);
        silent.close();
      } finally {
        listener.close();
        server.forceShutdown();
      }
    }
  },
});
