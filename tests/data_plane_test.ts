import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import {
  type DataConn,
  DataPlaneListener,
  dialDataPlane,
  type PayloadSink,
  receivePayloads,
  type SendItem,
  sendPayloads,
  TOKEN_ACCEPTED,
  TOKEN_BYTES,
} from "../core/transport/data_plane.ts";
import { TimeoutError } from "../core/transport/deadline.ts";
import { localItem } from "./_helpers.ts";
import { encodeRecordHeader, ProtocolError } from "../core/transport/records.ts";

const HOST = "127.0.0.1";

/** A sink that writes each granted id to `dir/<id>` through a temporary sibling. */
function dirSink(dir: string, grants: Map<number, number>): PayloadSink & {
  failed: Map<number, string>;
  skippedIds: number[];
} {
  const failed = new Map<number, string>();
  const skippedIds: number[] = [];
  return {
    failed,
    skippedIds,
    expect: (id) => grants.has(id) ? { size: grants.get(id)! } : null,
    async writeFile(id, size, fill) {
      const tmp = `${dir}/.tmp-${id}`;
      try {
        {
          using file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
          await fill(file);
        }
        const info = await Deno.stat(tmp);
        if (info.size !== size) throw new Error(`Cannot verify file ${id}: wrong size`);
        await Deno.rename(tmp, `${dir}/${id}`);
      } catch (error) {
        await Deno.remove(tmp).catch(() => {});
        throw error;
      }
    },
    fileFailed: (id, message) => void failed.set(id, message),
    skipped: (id) => void skippedIds.push(id),
  };
}

function bytesOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 131 + seed * 7 + (i >> 12)) & 0xff;
  return out;
}

/** Writes raw bytes on a fresh data-plane connection and closes it. */
async function sendRaw(
  listener: DataPlaneListener,
  token: Uint8Array,
  bytes: Uint8Array,
  keepOpen = false,
): Promise<DataConn> {
  const conn = await dialDataPlane({ hostname: HOST, port: listener.port, token });
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
  if (!keepOpen) conn.close();
  return conn;
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

/** Resolves to `value` after `ms`. */
function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms));
}

/** Resolves when the peer closes `conn` (EOF or reset), with the bytes it sent meanwhile. */
async function readUntilClosed(conn: DataConn): Promise<number> {
  const buf = new Uint8Array(64);
  let total = 0;
  try {
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      total += n;
    }
  } catch { /* reset */ }
  conn.close();
  return total;
}

Deno.test("DataPlaneListener and dialDataPlane()", async (t) => {
  const listener = DataPlaneListener.listen(HOST, { tokenTimeoutMs: 150 });
  try {
    await t.step("binds an ephemeral port on the given address", () => {
      equal(listener.hostname, HOST);
      ok(listener.port > 0);
    });

    await t.step("delivers a connection presenting the session token", async () => {
      const session = listener.openSession();
      equal(session.token.length, TOKEN_BYTES);
      const conn = await dialDataPlane({
        hostname: HOST,
        port: listener.port,
        token: session.token,
      });
      const accepted = await session.accept(2000);
      ok(accepted);
      await conn.write(new Uint8Array([42]));
      const buf = new Uint8Array(1);
      equal(await accepted.read(buf), 1);
      equal(buf[0], 42, "the token is consumed, the next byte is the first record byte");
      conn.close();
      accepted.close();
      session.close();
    });

    await t.step("answers an accepted token with one byte before anything else", async () => {
      const session = listener.openSession();
      const conn = await Deno.connect({ hostname: HOST, port: listener.port });
      await conn.write(session.token);
      const answer = new Uint8Array(4);
      equal(await conn.read(answer), 1);
      equal(answer[0], TOKEN_ACCEPTED);
      const accepted = await session.accept(2000);
      ok(accepted);
      conn.close();
      accepted.close();
      session.close();
    });

    await t.step("refuses a wrong token without reply and delivers nothing", async () => {
      const session = listener.openSession();
      const before = listener.refusedConnections;
      const wrong = session.token.slice();
      wrong[31]! ^= 1;
      await rejects(
        dialDataPlane({ hostname: HOST, port: listener.port, token: wrong }),
        /Cannot use data plane 127\.0\.0\.1:\d+: the daemon closed the connection without accepting it/,
      );
      equal(listener.refusedConnections, before + 1);
      await rejects(session.accept(100), TimeoutError);
      session.close();
    });

    await t.step("closes a connection that sends no token after the timeout", async () => {
      const before = listener.refusedConnections;
      const conn = await Deno.connect({ hostname: HOST, port: listener.port });
      const started = performance.now();
      equal(await readUntilClosed(conn), 0);
      const waited = performance.now() - started;
      ok(waited >= 100 && waited < 3000, `closed after ${waited} ms`);
      equal(listener.refusedConnections, before + 1);
    });

    await t.step("closes a connection with a short token", async () => {
      const before = listener.refusedConnections;
      const conn = await Deno.connect({ hostname: HOST, port: listener.port });
      await conn.write(new Uint8Array(5));
      await conn.closeWrite();
      equal(await readUntilClosed(conn), 0);
      equal(listener.refusedConnections, before + 1);
    });

    await t.step("revokes the token when the session closes", async () => {
      const session = listener.openSession();
      session.close();
      equal(await session.accept(), null);
      const before = listener.refusedConnections;
      await rejects(
        dialDataPlane({ hostname: HOST, port: listener.port, token: session.token }),
        /without accepting it/,
      );
      equal(listener.refusedConnections, before + 1);
    });

    await t.step("a session takes at most its maxConnections", async () => {
      const session = listener.openSession({ maxConnections: 1 });
      const first = await dialDataPlane({
        hostname: HOST,
        port: listener.port,
        token: session.token,
      });
      await rejects(
        dialDataPlane({ hostname: HOST, port: listener.port, token: session.token }),
        /without accepting it/,
      );
      const accepted = await session.accept(2000);
      ok(accepted);
      first.close();
      accepted.close();
      session.close();
    });

    await t.step("routes each connection to its own session", async () => {
      const a = listener.openSession();
      const b = listener.openSession();
      const cb = await dialDataPlane({ hostname: HOST, port: listener.port, token: b.token });
      const ca = await dialDataPlane({ hostname: HOST, port: listener.port, token: a.token });
      const gotB = await b.accept(2000);
      const gotA = await a.accept(2000);
      ok(gotA && gotB);
      await ca.write(new Uint8Array([1]));
      await cb.write(new Uint8Array([2]));
      const buf = new Uint8Array(1);
      await gotA.read(buf);
      equal(buf[0], 1);
      await gotB.read(buf);
      equal(buf[0], 2);
      for (const c of [ca, cb, gotA, gotB]) c.close();
      a.close();
      b.close();
    });

    await t.step("dialDataPlane() reports a refused connection", async () => {
      const probe = Deno.listen({ hostname: HOST, port: 0 });
      const port = probe.addr.port;
      probe.close();
      await rejects(
        dialDataPlane({ hostname: HOST, port, token: new Uint8Array(32) }),
        /^Error: Cannot connect to data plane 127\.0\.0\.1:\d+: /,
      );
    });
  } finally {
    listener.close();
    await listener.finished;
  }
});

Deno.test("DataPlaneListener: silent connections cannot starve a session", async (t) => {
  await t.step("the oldest silent connection makes room for a new one", async () => {
    const listener = DataPlaneListener.listen(HOST, {
      tokenTimeoutMs: 10_000,
      maxPendingHandshakes: 8,
      maxPendingPerAddress: 100,
    });
    const silent: Deno.Conn[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        silent.push(await Deno.connect({ hostname: HOST, port: listener.port }));
      }
      const session = listener.openSession();
      const conn = await dialDataPlane({
        hostname: HOST,
        port: listener.port,
        token: session.token,
      });
      const accepted = await session.accept(2000);
      ok(accepted, "the session got its connection although 20 silent ones came first");
      // The 13 oldest silent connections were closed to make room; the newest wait their turn.
      const closed = await Promise.all(
        silent.map((c) => Promise.race([readUntilClosed(c).then(() => true), delay(300, false)])),
      );
      deepStrictEqual(closed.slice(0, 13), Array(13).fill(true));
      ok(listener.pendingHandshakes <= 8, `${listener.pendingHandshakes} pending`);
      conn.close();
      accepted.close();
      session.close();
    } finally {
      for (const c of silent) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      listener.close();
      await listener.finished;
    }
  });

  await t.step("an address's silent connections make room among themselves", async () => {
    const listener = DataPlaneListener.listen(HOST, {
      tokenTimeoutMs: 10_000,
      maxPendingHandshakes: 100,
      maxPendingPerAddress: 4,
    });
    const silent: Deno.Conn[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        silent.push(await Deno.connect({ hostname: HOST, port: listener.port }));
      }
      await delay(200, null);
      equal(listener.pendingHandshakes, 4);
      equal(listener.refusedConnections, 6);
    } finally {
      for (const c of silent) c.close();
      listener.close();
      await listener.finished;
    }
  });
});

Deno.test("sendPayloads() and receivePayloads()", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "blit-" });
  const src = `${root}/src`;
  await Deno.mkdir(src);
  const listener = DataPlaneListener.listen(HOST);
  let nextDst = 0;
  const freshDst = async (): Promise<string> => {
    const dir = `${root}/dst${nextDst++}`;
    await Deno.mkdir(dir);
    return dir;
  };

  /** Runs one session: the client pushes `items` over `streams` connections. */
  const push = async (
    items: SendItem[],
    grants: Map<number, number>,
    streams = 2,
  ) => {
    const dst = await freshDst();
    const sink = dirSink(dst, grants);
    const session = listener.openSession();
    const receiving = (async () => {
      const results = [];
      for (let i = 0; i < streams; i++) {
        const conn = await session.accept(5000);
        ok(conn);
        results.push(receivePayloads(conn, sink));
      }
      return await Promise.all(results);
    })();
    const shared = (async function* () {
      yield* items;
    })();
    const sent = await Promise.all(
      Array.from({ length: streams }, async () => {
        const conn = await dialDataPlane({
          hostname: HOST,
          port: listener.port,
          token: session.token,
        });
        return sendPayloads(conn, shared);
      }),
    );
    const received = await receiving;
    session.close();
    return { dst, sink, sent, received };
  };

  try {
    await t.step("round-trips many small and a few large files over 2 connections", async () => {
      const items: SendItem[] = [];
      const grants = new Map<number, number>();
      const sizes = [
        ...Array.from({ length: 600 }, (_, i) => (i * 977) % 65_537),
        3 * 1024 * 1024 + 5,
        65_537,
        8 * 1024 * 1024,
      ];
      for (const [id, size] of sizes.entries()) {
        const absPath = `${src}/f${id}`;
        await Deno.writeFile(absPath, bytesOf(size, id));
        items.push(localItem(id, absPath, size));
        grants.set(id, size);
      }
      const { dst, sink, sent, received } = await push(items, grants);
      equal(sent.reduce((n, r) => n + r.filesSent, 0), items.length);
      equal(received.reduce((n, r) => n + r.filesReceived, 0), items.length);
      const total = sizes.reduce((a, b) => a + b, 0);
      equal(sent.reduce((n, r) => n + r.bytesSent, 0), total);
      equal(received.reduce((n, r) => n + r.bytesReceived, 0), total);
      equal(sink.failed.size, 0);
      for (const { id, size } of items) {
        const got = await Deno.readFile(`${dst}/${id}`);
        equal(got.length, size);
        deepStrictEqual(got, bytesOf(size, id), `file ${id}`);
      }
      deepStrictEqual((await Array.fromAsync(Deno.readDir(dst))).length, items.length);
    });

    await t.step("turns unreadable and vanished files into error and skip records", async () => {
      await Deno.writeFile(`${src}/ok`, bytesOf(10, 1));
      const items: SendItem[] = [
        localItem(1, `${src}/gone-small`, 10),
        localItem(2, `${src}/gone-big`, 1 << 20),
        localItem(3, src, 10), // a directory: read fails
        localItem(4, src, 1 << 20),
        localItem(5, `${src}/ok`, 10),
        localItem(6, `${src}/ok`, 1 << 20), // already shorter than announced
      ];
      const grants = new Map(items.map((i) => [i.id, i.size]));
      const { dst, sink, sent, received } = await push(items, grants, 1);
      deepStrictEqual(sent[0]!.vanished.sort(), [1, 2]);
      deepStrictEqual(sink.skippedIds.sort(), [1, 2]);
      deepStrictEqual([...sink.failed.keys()].sort(), [3, 4, 6]);
      ok(/shrank to 10 bytes/.test(sink.failed.get(6) ?? ""), sink.failed.get(6) ?? "no failure");
      equal(received[0]!.filesReceived, 1);
      deepStrictEqual(await Array.fromAsync(Deno.readDir(dst), (e) => e.name), ["5"]);
    });

    await t.step("sends exactly the announced bytes of a file that grew", async () => {
      const big = bytesOf(3 << 20, 9);
      await Deno.writeFile(`${src}/grow-big`, big);
      await Deno.writeFile(`${src}/grow-small`, big.subarray(0, 5000));
      const items: SendItem[] = [
        localItem(1, `${src}/grow-big`, 2 << 20),
        localItem(2, `${src}/grow-small`, 1000),
      ];
      const grants = new Map(items.map((i) => [i.id, i.size]));
      const { dst, sent, received } = await push(items, grants, 1);
      deepStrictEqual(sent[0]!.grown.sort(), [1, 2]);
      equal(received[0]!.filesReceived, 2);
      deepStrictEqual(await Deno.readFile(`${dst}/1`), big.subarray(0, 2 << 20));
      deepStrictEqual(await Deno.readFile(`${dst}/2`), big.subarray(0, 1000));
    });

    await t.step("discards a file that shrinks while it is sent (status 1)", async () => {
      const size = 64 << 20;
      const path = `${src}/shrink`;
      await Deno.writeFile(path, new Uint8Array(size).fill(3));
      const dst = await freshDst();
      const base = dirSink(dst, new Map([[1, size]]));
      const sink: PayloadSink = {
        ...base,
        async writeFile(id, n, fill) {
          await Deno.truncate(path, 1000); // the header arrived: the sender is past its checks
          await base.writeFile(id, n, fill);
        },
      };
      const session = listener.openSession();
      const conn = await dialDataPlane({
        hostname: HOST,
        port: listener.port,
        token: session.token,
      });
      const accepted = await session.accept(2000);
      ok(accepted);
      const [sent, received] = await Promise.all([
        sendPayloads(conn, [localItem(1, path, size)]),
        receivePayloads(accepted, sink),
      ]);
      session.close();
      equal(sent.filesSent, 0);
      ok(
        /shrank while being sent/.test(sent.failures[0]?.message ?? ""),
        sent.failures[0]?.message ?? "no failure",
      );
      equal(received.filesReceived, 0);
      equal(base.failed.get(1), "Cannot copy file 1: the source changed while it was sent");
      deepStrictEqual(await Array.fromAsync(Deno.readDir(dst)), []);
    });

    await t.step("discards a hand-made payload flagged as changed", async () => {
      const dst = await freshDst();
      const sink = dirSink(dst, new Map([[7, 4]]));
      const session = listener.openSession();
      await sendRaw(
        listener,
        session.token,
        concat(
          encodeRecordHeader({ type: "file", id: 7, size: 4 }),
          new Uint8Array([1, 2, 0, 0, 1]),
          encodeRecordHeader({ type: "end" }),
        ),
      );
      const accepted = await session.accept(2000);
      ok(accepted);
      const result = await receivePayloads(accepted, sink);
      session.close();
      equal(result.failures.length, 1);
      ok(sink.failed.has(7));
      deepStrictEqual(await Array.fromAsync(Deno.readDir(dst)), []);
    });

    const violations: [string, Map<number, number>, Uint8Array, RegExp][] = [
      [
        "a 1 GiB shard header",
        new Map([[1, 3]]),
        (() => {
          const h = new Uint8Array(17);
          const v = new DataView(h.buffer);
          h[0] = 2;
          v.setUint32(9, 2 ** 30, true);
          v.setUint32(13, 1, true);
          return h;
        })(),
        /shard size 1073741824 exceeds/,
      ],
      [
        "a 100k-id shard header",
        new Map([[1, 3]]),
        (() => {
          const h = new Uint8Array(17);
          const v = new DataView(h.buffer);
          h[0] = 2;
          v.setUint32(9, 100, true);
          v.setUint32(13, 100_000, true);
          return h;
        })(),
        /lists 100000 file ids/,
      ],
      [
        "a 64 KiB error message",
        new Map([[1, 3]]),
        new Uint8Array([4, 1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]),
        /65535 bytes exceeds 4096/,
      ],
      [
        "an id that was not granted",
        new Map([[1, 3]]),
        encodeRecordHeader({ type: "file", id: 2, size: 3 }),
        /file id 2 was not granted/,
      ],
      [
        "a size other than the granted one",
        new Map([[1, 3]]),
        encodeRecordHeader({ type: "file", id: 1, size: 4 }),
        /file 1 announces 4 bytes, 3 were granted/,
      ],
      [
        "an id sent twice",
        new Map([[1, 3]]),
        concat(
          encodeRecordHeader({ type: "skip", id: 1 }),
          encodeRecordHeader({ type: "error", id: 1, message: "x" }),
        ),
        /file id 1 was already received/,
      ],
      [
        "a shard listing an id twice",
        new Map([[1, 3]]),
        encodeRecordHeader({ type: "shard", shardId: 0, size: 1024, fileIds: [1, 1] }),
        /file id 1 was already received/,
      ],
      [
        "a connection closed before the end record",
        new Map([[1, 3]]),
        encodeRecordHeader({ type: "skip", id: 1 }),
        /closed before the end record/,
      ],
      [
        "a connection closed inside a payload",
        new Map([[1, 3]]),
        concat(encodeRecordHeader({ type: "file", id: 1, size: 3 }), new Uint8Array([1])),
        /closed inside a payload/,
      ],
    ];
    for (const [name, grants, bytes, message] of violations) {
      await t.step(`receivePayloads() refuses ${name}`, async () => {
        const dst = await freshDst();
        const session = listener.openSession();
        await sendRaw(listener, session.token, bytes);
        const accepted = await session.accept(2000);
        ok(accepted);
        await rejects(receivePayloads(accepted, dirSink(dst, grants)), (error: unknown) => {
          ok(error instanceof ProtocolError, String(error));
          ok(message.test(error.message), error.message);
          return true;
        });
        session.close();
        deepStrictEqual(await Array.fromAsync(Deno.readDir(dst)), []);
      });
    }

    await t.step("receivePayloads() fails when the sender stalls mid-file", async () => {
      const dst = await freshDst();
      const session = listener.openSession();
      const stalled = await sendRaw(
        listener,
        session.token,
        concat(encodeRecordHeader({ type: "file", id: 1, size: 100 }), new Uint8Array(10)),
        true,
      );
      const accepted = await session.accept(2000);
      ok(accepted);
      const sink = dirSink(dst, new Map([[1, 100]]));
      const started = performance.now();
      await rejects(receivePayloads(accepted, sink, { idleTimeoutMs: 200 }), (error: unknown) => {
        ok(error instanceof TimeoutError, String(error));
        equal(error.message, "Cannot read data record: no progress for 0.2 s");
        return true;
      });
      ok(performance.now() - started < 3000);
      stalled.close();
      session.close();
      deepStrictEqual(await Array.fromAsync(Deno.readDir(dst)), [], "the partial file is removed");
    });

    await t.step("sendPayloads() fails when the receiver stops reading", async () => {
      const path = `${src}/stall-big`;
      await Deno.writeFile(path, bytesOf(32 << 20, 1));
      const session = listener.openSession();
      const conn = await dialDataPlane({
        hostname: HOST,
        port: listener.port,
        token: session.token,
      });
      const idle = await session.accept(2000); // accepted, never read
      ok(idle);
      await rejects(
        sendPayloads(conn, [localItem(1, path, 32 << 20)], { idleTimeoutMs: 200 }),
        /^TimeoutError: Cannot write data record: no progress for 0\.2 s$/,
      );
      idle.close();
      session.close();
    });

    await t.step("an abort signal ends a receive", async () => {
      const session = listener.openSession();
      const quiet = await sendRaw(listener, session.token, new Uint8Array(0), true);
      const accepted = await session.accept(2000);
      ok(accepted);
      const abort = new AbortController();
      const receiving = receivePayloads(accepted, dirSink(root, new Map()), {
        signal: abort.signal,
      });
      setTimeout(() => abort.abort(new Error("Cannot transfer: cancelled by the user")), 20);
      await rejects(receiving, /cancelled by the user/);
      quiet.close();
      session.close();
    });
  } finally {
    listener.close();
    await listener.finished;
    await Deno.remove(root, { recursive: true });
  }
});
