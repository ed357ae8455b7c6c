import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { ClientFrame, ServerFrame } from "../proto/gen/blit_pb.ts";
import { TimeoutError } from "../core/transport/deadline.ts";
import { type DuplexLike, streamFramePort } from "../core/transport/stream_port.ts";
import { InboundBudget } from "../core/transport/inbound_budget.ts";
import { recordWireSize } from "../core/transport/wire_size.ts";
import { SERVER_FRAME_CODEC } from "../core/transport/frame_tables.ts";

/** Just enough of a grpc-js duplex: frames come from `deliver()`, writes are recorded. */
class FakeDuplex extends EventEmitter {
  paused = false;
  pauses = 0;
  destroyed = false;
  writableEnded = false;
  /** What `write()` answers (`false`: wait for drain). */
  flowing = true;
  written: unknown[] = [];
  pause(): this {
    if (!this.paused) this.pauses++;
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
  write(message: unknown, callback?: (error?: Error | null) => void): boolean {
    this.written.push(message);
    callback?.();
    return this.flowing;
  }
  end(): this {
    this.writableEnded = true;
    return this;
  }
  /** Delivers one keepalive frame of `bytes` encoded bytes. */
  deliver(bytes = 10): void {
    const message = { frame: { case: "keepalive", value: {} } };
    recordWireSize(message, bytes);
    this.emit("data", message);
  }
}

function portOver(stream: FakeDuplex, options: Parameters<typeof streamFramePort>[2] = {}) {
  return streamFramePort<ServerFrame, ClientFrame>(
    stream as unknown as DuplexLike<ServerFrame, ClientFrame>,
    SERVER_FRAME_CODEC,
    options,
  );
}

Deno.test("streamFramePort(): back-pressure on what arrives", async (t) => {
  await t.step("pauses once maxQueuedFrames are queued, resumes as they are read", async () => {
    const stream = new FakeDuplex();
    const port = portOver(stream, { maxQueuedFrames: 3 });
    stream.deliver();
    stream.deliver();
    equal(stream.paused, false);
    stream.deliver();
    equal(stream.paused, true, "3 frames queued: the stream stops reading");
    deepStrictEqual(await port.nextRaw(), { case: "keepalive", value: {} });
    equal(stream.paused, false, "one read: below the cap again");
    port.close();
  });

  await t.step("pauses once maxQueuedBytes are queued", () => {
    const stream = new FakeDuplex();
    const port = portOver(stream, { maxQueuedBytes: 1000 });
    stream.deliver(600);
    equal(stream.paused, false);
    stream.deliver(600);
    equal(stream.paused, true);
    port.close();
  });

  await t.step(
    "a spent shared budget pauses a stream holding a frame, never an empty one",
    async () => {
      const budget = new InboundBudget(1000);
      const hog = new FakeDuplex();
      const hogPort = portOver(hog, { budget });
      hog.deliver(1500); // over the shared budget on its own: it holds its frame and stops
      equal(hog.paused, true);
      const other = new FakeDuplex();
      const otherPort = portOver(other, { budget });
      const waiting = otherPort.nextRaw();
      other.deliver(100); // an empty stream with a reader gets its frame at once
      deepStrictEqual(await waiting, { case: "keepalive", value: {} });
      other.deliver(100); // one frame queued while the budget is spent: it waits
      equal(other.paused, true);
      await otherPort.nextRaw();
      equal(other.paused, false, "its frame read, it may take one more");
      hogPort.close();
      equal(budget.held, 0, "closing the hog returned its bytes");
      otherPort.close();
    },
  );
});

Deno.test("streamFramePort(): a peer that goes away ends every wait at once", async (t) => {
  await t.step("a cancelled call fails receives and sends, and aborts the signal", async () => {
    const stream = new FakeDuplex();
    stream.flowing = false;
    const port = portOver(stream);
    const receiving = port.nextRaw();
    const sending = port.sendRaw({ case: "keepalive", value: {} });
    stream.emit("cancelled");
    await rejects(receiving, /the peer cancelled it/);
    await rejects(sending, /the peer cancelled it/);
    ok(port.signal.aborted);
    await rejects(port.sendRaw({ case: "keepalive", value: {} }), /the peer cancelled it/);
  });

  await t.step("a closed stream fails a send waiting for drain, and refuses new ones", async () => {
    const stream = new FakeDuplex();
    stream.flowing = false;
    const port = portOver(stream);
    const sending = port.sendRaw({ case: "keepalive", value: {} });
    stream.emit("close");
    await rejects(sending, /stream is closed/);
    await rejects(port.sendRaw({ case: "keepalive", value: {} }), /stream is closed/);
    equal(await port.nextRaw(), null, "a closed stream ends the frames");
  });

  await t.step("a send the peer never drains fails after sendTimeoutMs", async () => {
    const stream = new FakeDuplex();
    stream.flowing = false;
    const port = portOver(stream, { sendTimeoutMs: 100 });
    const started = performance.now();
    await rejects(port.sendRaw({ case: "keepalive", value: {} }), TimeoutError);
    ok(performance.now() - started >= 90);
    ok(port.signal.aborted, "the session is over");
  });

  await t.step("a drained send resolves", async () => {
    const stream = new FakeDuplex();
    stream.flowing = false;
    const port = portOver(stream, { sendTimeoutMs: 5000 });
    const sending = port.sendRaw({ case: "keepalive", value: {} });
    stream.emit("drain");
    await sending;
    equal(stream.written.length, 1);
    port.close();
  });
});
