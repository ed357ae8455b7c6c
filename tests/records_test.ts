import { deepStrictEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { StallGuard, TimeoutError, withDeadline } from "../core/transport/deadline.ts";
import {
  type ByteSink,
  type DataRecord,
  encodeRecordHeader,
  ProtocolError,
  RECORD_CAPS,
  RecordReader,
  RecordWriter,
} from "../core/transport/records.ts";

/** A reader over fixed bytes, delivered in chunks of `chunk` bytes. */
function readerOf(bytes: Uint8Array, chunk = 7): RecordReader {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < bytes.length; i += chunk) controller.enqueue(bytes.slice(i, i + chunk));
      controller.close();
    },
  });
  return new RecordReader(stream.getReader());
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A raw header: type byte then little-endian fields given as [bytes, value] pairs. */
function raw(type: number, ...fields: [number, number | bigint][]): Uint8Array {
  const size = 1 + fields.reduce((n, [w]) => n + w, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = type;
  let off = 1;
  for (const [width, value] of fields) {
    if (width === 8) view.setBigUint64(off, BigInt(value), true);
    if (width === 4) view.setUint32(off, Number(value), true);
    if (width === 2) view.setUint16(off, Number(value), true);
    off += width;
  }
  return out;
}

Deno.test("encodeRecordHeader() and RecordReader", async (t) => {
  await t.step("round-trips every record type with its payload", async () => {
    const records: DataRecord[] = [
      { type: "file", id: 2 ** 40 + 3, size: 5 },
      { type: "shard", shardId: 9, size: 3, fileIds: [1, 2, Number.MAX_SAFE_INTEGER] },
      { type: "skip", id: 0 },
      { type: "error", id: 12, message: 'Cannot open file "é": denied' },
      { type: "end" },
    ];
    const bytes = concat(
      encodeRecordHeader(records[0]!),
      new Uint8Array([1, 2, 3, 4, 5, 0]),
      encodeRecordHeader(records[1]!),
      new Uint8Array([7, 8, 9]),
      encodeRecordHeader(records[2]!),
      encodeRecordHeader(records[3]!),
      encodeRecordHeader(records[4]!),
    );
    const reader = readerOf(bytes);
    deepStrictEqual(await reader.readRecord(), records[0]);
    deepStrictEqual([...await reader.readExact(5)], [1, 2, 3, 4, 5]);
    equal(await reader.readStatus(), 0);
    deepStrictEqual(await reader.readRecord(), records[1]);
    deepStrictEqual([...await reader.readExact(3)], [7, 8, 9]);
    deepStrictEqual(await reader.readRecord(), records[2]);
    deepStrictEqual(await reader.readRecord(), records[3]);
    deepStrictEqual(await reader.readRecord(), records[4]);
    reader.close();
  });

  await t.step("cuts a long error message at a character boundary", async () => {
    const message = "é".repeat(3000); // 6000 bytes
    const bytes = encodeRecordHeader({ type: "error", id: 1, message });
    const reader = readerOf(bytes, 1000);
    const record = await reader.readRecord();
    reader.close();
    ok(record.type === "error");
    equal(record.message, "é".repeat(2048));
  });

  await t.step("refuses to encode values beyond the caps", () => {
    throws(() => encodeRecordHeader({ type: "file", id: -1, size: 1 }), RangeError);
    throws(() => encodeRecordHeader({ type: "file", id: 1, size: 2 ** 53 }), RangeError);
    throws(
      () => encodeRecordHeader({ type: "shard", shardId: 1, size: 2 ** 30, fileIds: [1] }),
      RangeError,
    );
    throws(
      () => encodeRecordHeader({ type: "shard", shardId: 1, size: 1, fileIds: [] }),
      RangeError,
    );
  });

  const refusals: [string, Uint8Array, RegExp][] = [
    ["a 1 GiB shard", raw(2, [8, 1], [4, 2 ** 30], [4, 1]), /shard size 1073741824 exceeds/],
    ["100k file ids", raw(2, [8, 1], [4, 10], [4, 100_000]), /lists 100000 file ids/],
    ["an empty id list", raw(2, [8, 1], [4, 10], [4, 0]), /lists 0 file ids/],
    ["a 64 KiB error message", raw(4, [8, 1], [2, 65_535]), /65535 bytes exceeds 4096/],
    ["a file size beyond 2^53-1", raw(1, [8, 1], [8, 2n ** 63n]), /file size exceeds 2\^53-1/],
    ["an id beyond 2^53-1", raw(3, [8, 2n ** 53n]), /file id exceeds 2\^53-1/],
    ["an unknown type", raw(99), /unknown record type 99/],
    ["a truncated header", raw(1, [4, 1]), /closed inside a record/],
    ["no end record", new Uint8Array(0), /closed before the end record/],
    ["bad UTF-8", concat(raw(4, [8, 1], [2, 2]), new Uint8Array([0xc3, 0x28])), /UTF-8/],
  ];
  for (const [name, bytes, message] of refusals) {
    await t.step(`refuses ${name} with ProtocolError`, async () => {
      const reader = readerOf(bytes);
      await rejects(reader.readRecord(), (error: unknown) => {
        ok(error instanceof ProtocolError, String(error));
        ok(message.test(error.message), error.message);
        ok(error.message.startsWith("Cannot read data record: "), error.message);
        return true;
      });
      reader.close();
    });
  }

  await t.step("refuses a read larger than the cap without allocating it", async () => {
    const reader = readerOf(new Uint8Array(4));
    await rejects(reader.readExact(RECORD_CAPS.maxShardBytes + 1), ProtocolError);
    await rejects(reader.readExact(8), /closed 4 bytes before the end/);
    reader.close();
  });

  await t.step("refuses an unknown file status", async () => {
    const reader = readerOf(new Uint8Array([7]));
    await rejects(reader.readStatus(), /unknown file status 7/);
    reader.close();
  });

  await t.step("fails with TimeoutError when the source stalls", async () => {
    let cancelled = false;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array([1, 1, 0, 0, 0]));
      },
      cancel() {
        cancelled = true;
      },
    });
    const reader = new RecordReader(stream.getReader(), { idleTimeoutMs: 100 });
    const started = performance.now();
    await rejects(reader.readRecord(), (error: unknown) => {
      ok(error instanceof TimeoutError);
      equal(error.message, "Cannot read data record: no progress for 0.1 s");
      return true;
    });
    ok(performance.now() - started < 2000);
    ok(cancelled, "the stalled source is cancelled");
    reader.close();
  });

  await t.step("readChunk() returns at most the bytes asked for", async () => {
    const reader = readerOf(new Uint8Array(100).fill(3), 64);
    equal((await reader.readChunk(10)).length, 10);
    equal((await reader.readChunk(1000)).length, 54);
    equal((await reader.readChunk(1000)).length, 36);
    await reader.skip(0);
    reader.close();
  });
});

Deno.test("RecordWriter", async (t) => {
  const sinkOf = (): ByteSink & { writes: number[]; bytes: number[] } => {
    const sink = {
      writes: [] as number[],
      bytes: [] as number[],
      write(p: Uint8Array): Promise<number> {
        const n = Math.min(p.length, 100_000); // partial writes, like a socket
        sink.writes.push(n);
        sink.bytes.push(...p.subarray(0, n));
        return Promise.resolve(n);
      },
      close(): void {},
    };
    return sink;
  };

  await t.step("batches small records into one write", async () => {
    const sink = sinkOf();
    const writer = new RecordWriter(sink);
    for (let i = 0; i < 100; i++) await writer.writeRecord({ type: "skip", id: i });
    await writer.writeRecord({ type: "end" });
    equal(sink.writes.length, 0);
    await writer.flush();
    deepStrictEqual(sink.writes, [901]);
    equal(writer.bytesWritten, 901);
    writer.close();
  });

  await t.step("writes large payloads whole, after the batch, across partial writes", async () => {
    const sink = sinkOf();
    const writer = new RecordWriter(sink);
    const big = new Uint8Array(250_000).fill(9);
    await writer.writeRecord({ type: "file", id: 1, size: big.length });
    await writer.write(big);
    await writer.flush();
    deepStrictEqual(sink.writes, [17, 100_000, 100_000, 50_000]);
    equal(sink.bytes.length, 250_017);
    equal(sink.bytes[0], 1);
    equal(sink.bytes[17], 9);
    writer.close();
  });

  await t.step("fails with TimeoutError when the peer stops reading", async () => {
    let closed = false;
    const writer = new RecordWriter({
      write: () => new Promise<number>(() => {}),
      close: () => closed = true,
    }, { idleTimeoutMs: 80, batchBytes: 512 });
    await rejects(writer.write(new Uint8Array(4096)), /Cannot write data record: no progress/);
    ok(closed);
    writer.close();
  });
});

Deno.test("withDeadline() and StallGuard", async (t) => {
  await t.step("withDeadline() passes a result through and clears its timer", async () => {
    equal(await withDeadline(Promise.resolve(4), { timeoutMs: 1000, action: "wait" }), 4);
    await rejects(
      withDeadline(Promise.reject(new Error("boom")), { timeoutMs: 1000, action: "wait" }),
      /boom/,
    );
  });

  await t.step("withDeadline() calls onTimeout, then rejects", async () => {
    let hooked = false;
    await rejects(
      withDeadline(new Promise(() => {}), {
        timeoutMs: 20,
        action: "read session token",
        onTimeout: () => hooked = true,
      }),
      /^TimeoutError: Cannot read session token: no progress for 0\.02 s$/,
    );
    ok(hooked);
  });

  await t.step("StallGuard ignores the time between operations", async () => {
    const guard = new StallGuard({ idleTimeoutMs: 50, action: "read", onStall: () => {} });
    await guard.run(() => Promise.resolve(1));
    await new Promise((r) => setTimeout(r, 120));
    equal(await guard.run(() => new Promise((r) => setTimeout(() => r(2), 10))), 2);
    equal(guard.stalled, null);
    guard.stop();
  });
});
