/**
 * 10,000 random and mutated frames at each of the daemon's ports, through a real `blitd`:
 *
 * - control port: transfer connections (the preface, then length-prefixed frames) whose frames
 *   are raw bytes — random bytes, well-formed `ClientFrame`s of every kind with random fields
 *   (after a valid Hello and Open, so that the session states past the Open are reached), and
 *   those frames mutated (bits flipped, cut short, bytes inserted) — and now and then a random
 *   length word (over the cap, a window update with a random credit, a length that lies);
 * - data port: connections that present a valid session token (taken from real Opens) or a
 *   wrong one, then random records, well-formed records with absurd fields, and mutations.
 *
 * The daemon runs with `tls = false` so that the bytes reach blit's own decoders instead of
 * stopping at the TLS layer (which gets its own round of garbage at the end, against a TLS
 * daemon). What must hold: the same server process serves a real push afterwards, byte for
 * byte; its memory stays bounded; its descriptors come back to the baseline.
 *
 * The generator is seeded (`BLIT_FUZZ_SEED`, default 1): a failure names its seed.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  ClientFrameSchema,
  EntryKind,
  Operation,
  Role,
  type ServerFrame,
} from "../../proto/gen/blit_pb.ts";
import { PROTOCOL_VERSION, TRANSFER_PREFACE } from "../../core/transport/protocol.ts";
import { FrameReader, LENGTH_BYTES } from "../../core/transport/frame_codec.ts";
import { startDaemon, type TestDaemon } from "../_daemon.ts";
import { runBlit, withTempDir } from "../_helpers.ts";
import { fdCount, findServerPid, isAlive, rssBytes, settle } from "../hostile/_process.ts";
import { SERVER_FRAME_CODEC } from "../../core/transport/frame_tables.ts";

const FRAMES_PER_PORT = 10_000;
const SEED = Number(Deno.env.get("BLIT_FUZZ_SEED") ?? "1");
const MiB = 1024 * 1024;

/** A small seeded generator (mulberry32): the same seed gives the same frames. */
class Random {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(below: number): number {
    return Math.floor(this.next() * below);
  }
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  /** Numbers that break code: 0, 1, limits, huge. */
  edgeNumber(): number {
    return this.pick([0, 1, 2, 255, 65_535, 2 ** 31 - 1, 2 ** 32 - 1, 2 ** 53 - 1, this.int(1e6)]);
  }
  text(): string {
    return this.pick([
      "",
      "a",
      "../x",
      "/abs",
      "a/../../b",
      "\0nul",
      "\u001b[31m",
      "x".repeat(5000),
      "d/".repeat(300),
      "ok.txt",
      String.fromCharCode(...this.bytes(12)),
    ]);
  }
}

/** The `frame` field of a client frame, as `create()` takes it. */
type FrameInit = NonNullable<MessageInitShape<typeof ClientFrameSchema>["frame"]>;

/** A well-formed client frame of a random kind with random, often absurd, fields. */
function randomFrame(random: Random): FrameInit {
  const entry = () => ({
    id: random.edgeNumber() >>> 0,
    path: random.text(),
    kind: random.pick([EntryKind.FILE, EntryKind.DIR, EntryKind.SYMLINK, 0, 99]),
    size: BigInt(random.edgeNumber()),
    mtimeNs: BigInt(random.edgeNumber()),
    mode: random.pick([0o644, 0o6777, 0xffffffff, 0]),
    linkTarget: random.text(),
  });
  switch (random.int(10)) {
    case 0:
      return { case: "hello", value: { protocolVersion: random.edgeNumber() >>> 0 } };
    case 1:
      return {
        case: "open",
        value: { role: random.int(4), module: random.text(), path: random.text() },
      };
    case 2:
      return { case: "sourceRoot", value: { entry: entry(), name: random.text() } };
    case 3: {
      const groups = Array.from({ length: random.int(4) }, () => ({
        dir: random.text(),
        entries: Array.from({ length: random.int(8) }, entry),
        complete: random.int(2) === 0,
      }));
      return { case: "manifestBatch", value: { groups } };
    }
    case 4:
      return {
        case: "manifestEnd",
        value: { scanComplete: random.int(2) === 0, totalEntries: BigInt(random.edgeNumber()) },
      };
    case 5:
      return {
        case: "dataChunk",
        value: {
          fileId: random.edgeNumber() >>> 0,
          path: random.text(),
          offset: BigInt(random.edgeNumber()),
          data: random.bytes(random.int(4096)),
          last: random.int(2) === 0,
        },
      };
    case 6:
      return {
        case: "dataEnd",
        value: {
          filesSent: BigInt(random.edgeNumber()),
          failures: [{ path: random.text(), message: random.text() }],
        },
      };
    case 7:
      return {
        case: "needBatch",
        value: { needs: Array.from({ length: random.int(20) }, () => ({ id: random.int(1e6) })) },
      };
    case 8:
      return { case: "summary", value: { filesExamined: BigInt(random.edgeNumber()) } };
    default:
      return { case: "keepalive", value: {} };
  }
}

function encode(frame: FrameInit): Uint8Array {
  return toBinary(ClientFrameSchema, create(ClientFrameSchema, { frame }));
}

/** Flips bits, cuts, or inserts bytes. */
function mutate(random: Random, bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes);
  switch (random.int(3)) {
    case 0:
      for (let i = 0; i < 1 + random.int(4) && out.length > 0; i++) {
        const at = random.int(out.length);
        out[at] = (out[at] ?? 0) ^ (1 << random.int(8));
      }
      return out;
    case 1:
      return out.subarray(0, random.int(out.length + 1));
    default: {
      const at = random.int(out.length + 1);
      const extra = random.bytes(1 + random.int(16));
      return Uint8Array.from([...out.subarray(0, at), ...extra, ...out.subarray(at)]);
    }
  }
}

/** The bytes of the `index`-th fuzz message. */
function fuzzMessage(random: Random): Uint8Array {
  const kind = random.int(3);
  if (kind === 0) return random.bytes(random.int(1024));
  const valid = encode(randomFrame(random));
  return kind === 1 ? valid : mutate(random, valid);
}

/** How the daemon ended fuzz connections: `answered` (it sent a decodable frame) or not. */
const outcomes = new Map<string, number>();

/** The port of `127.0.0.1:PORT`. */
function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(":") + 1));
}

/** Raw message bytes after a length word (`length`: the true one unless told). */
function frameOf(message: Uint8Array, length = message.length): Uint8Array {
  const out = new Uint8Array(LENGTH_BYTES + message.length);
  new DataView(out.buffer).setUint32(0, length >>> 0);
  out.set(message, LENGTH_BYTES);
  return out;
}

/** A message as a frame, or now and then with a random length word (the framing's own fuzz). */
function framed(random: Random, message: Uint8Array): Uint8Array {
  if (random.int(40) !== 0) return frameOf(message);
  return frameOf(
    message,
    random.pick([
      2 ** 32 - 1,
      2 ** 31,
      2 ** 31 + random.int(2 ** 31),
      16 * MiB + 1,
      random.int(2 ** 24),
    ]),
  );
}

/** Writes all of `bytes`. */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/**
 * One transfer connection carrying raw messages; resolves when the daemon closed it (or 1.5 s
 * after the last message, as an impatient peer gives up).
 */
async function rawCall(address: string, messages: Uint8Array[], random: Random): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: portOf(address) });
  let answered = false;
  const reading = (async () => {
    const reader = new FrameReader(SERVER_FRAME_CODEC);
    try {
      for (;;) {
        const buffer = new Uint8Array(65_536);
        const n = await conn.read(buffer);
        if (n === null) return;
        if (reader.push(buffer.subarray(0, n)).some((f) => f.kind === "message")) answered = true;
      }
    } catch { /* reset, or a frame this side cannot decode */ }
  })();
  try {
    await writeAll(conn, TRANSFER_PREFACE);
    for (const message of messages) await writeAll(conn, framed(random, message));
    await conn.closeWrite();
  } catch { /* the daemon closed the connection on a bad frame: what it should do */ }
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  }, 1500);
  await reading;
  clearTimeout(timer);
  try {
    conn.close();
  } catch { /* closed */ }
  const outcome = answered ? "answered" : "silent";
  outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
}

const VALID_OPEN = (path: string): Uint8Array[] => [
  encode({ case: "hello", value: { protocolVersion: PROTOCOL_VERSION, clientName: "fuzz" } }),
  encode({
    case: "open",
    value: { role: Role.DESTINATION, module: "mod", path, operation: Operation.COPY },
  }),
];

/** Sends FRAMES_PER_PORT messages over calls of 1–60 messages, four calls at a time. */
async function fuzzControl(address: string, random: Random): Promise<number> {
  let sent = 0;
  let calls = 0;
  while (sent < FRAMES_PER_PORT) {
    const batch: Promise<void>[] = [];
    for (let i = 0; i < 4 && sent < FRAMES_PER_PORT; i++) {
      const count = 1 + random.int(60);
      const messages = random.int(2) === 0 ? VALID_OPEN(`fz${calls}/`) : [];
      for (let j = 0; j < count; j++) messages.push(fuzzMessage(random));
      sent += messages.length;
      calls++;
      batch.push(rawCall(address, messages, random));
    }
    await Promise.all(batch);
  }
  return calls;
}

/** A well-formed data-plane record with random fields (see core/transport/records.ts). */
function randomRecord(random: Random): Uint8Array {
  const out: number[] = [];
  const u64 = (n: number) => {
    for (let i = 0; i < 8; i++) out.push(Math.floor(n / 2 ** (8 * i)) & 0xff);
  };
  const u32 = (n: number) => {
    for (let i = 0; i < 4; i++) out.push((n >>> (8 * i)) & 0xff);
  };
  const type = random.pick([1, 2, 3, 4, 5, 0, 6, 255]);
  out.push(type);
  if (type === 1) {
    u64(random.edgeNumber());
    const size = random.int(3) === 0 ? random.edgeNumber() : random.int(2048);
    u64(size);
    if (size < 4096) out.push(...random.bytes(size), random.int(4));
  } else if (type === 2) {
    u64(random.edgeNumber());
    const size = random.int(3) === 0 ? random.edgeNumber() >>> 0 : random.int(4096);
    const count = random.int(3) === 0 ? random.edgeNumber() >>> 0 : random.int(4);
    u32(size);
    u32(count);
    for (let i = 0; i < Math.min(count, 8); i++) u64(random.edgeNumber());
    if (size < 8192) out.push(...random.bytes(size));
  } else if (type === 3) u64(random.edgeNumber());
  else if (type === 4) {
    u64(random.edgeNumber());
    const length = random.pick([0, 5, 4096, 65_535]);
    out.push(length & 0xff, length >> 8, ...random.bytes(Math.min(length, 200)));
  }
  return Uint8Array.from(out);
}

/** A data-plane grant of a real session: Hello, Open (anonymous push), Accept. */
async function grant(address: string, path: string): Promise<{ port: number; token: Uint8Array }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: portOf(address) });
  await writeAll(conn, TRANSFER_PREFACE);
  for (const message of VALID_OPEN(path)) await writeAll(conn, frameOf(message));
  const reader = new FrameReader(SERVER_FRAME_CODEC);
  let result: { port: number; token: Uint8Array } | null = null;
  while (result === null) {
    const buffer = new Uint8Array(65_536);
    const n = await conn.read(buffer);
    if (n === null) throw new Error("the daemon closed the session before its Accept");
    for (const read of reader.push(buffer.subarray(0, n))) {
      if (read.kind !== "message") continue;
      const frame = (read.message as ServerFrame).frame;
      if (frame.case === "accept") {
        result = { port: frame.value.dataPort, token: frame.value.sessionToken };
      } else if (frame.case === "refuse") throw new Error(`refused: ${frame.value.message}`);
    }
  }
  // Leave the session open a little while its data connections are fuzzed, then drop it.
  setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  }, 3000);
  return result;
}

/** Sends FRAMES_PER_PORT records over connections of 1–80 records each. */
async function fuzzData(address: string, random: Random): Promise<number> {
  let sent = 0;
  let connections = 0;
  let current = await grant(address, "dp0/");
  while (sent < FRAMES_PER_PORT) {
    if (connections % 25 === 0) current = await grant(address, `dp${connections}/`);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: current.port });
    const parts: Uint8Array[] = [];
    const token = random.int(4) === 0 ? random.bytes(32) : current.token;
    if (random.int(10) !== 0) parts.push(token);
    const count = 1 + random.int(80);
    for (let i = 0; i < count; i++) {
      const record = randomRecord(random);
      parts.push(random.int(4) === 0 ? mutate(random, record) : record);
    }
    sent += count;
    connections++;
    try {
      for (const part of parts) {
        let offset = 0;
        while (offset < part.byteLength) offset += await conn.write(part.subarray(offset));
      }
    } catch {
      // The daemon closed the connection on a bad record: what it should do.
    }
    try {
      conn.close();
    } catch { /* closed by the daemon */ }
  }
  return connections;
}

async function healthyPush(daemon: TestDaemon, dir: string, name: string): Promise<void> {
  const src = `${dir}/src-${name}`;
  await Deno.mkdir(src, { recursive: true });
  const bytes = new Uint8Array(3 * MiB).map((_, i) => (i * 7) & 0xff);
  await Deno.writeFile(`${src}/data.bin`, bytes);
  const result = await runBlit(["copy", "--no-tls", `${src}/`, `${daemon.address}:/mod/${name}/`]);
  equal(result.code, 0, result.stderr);
  const back = await Deno.readFile(`${dir}/mod/${name}/data.bin`);
  ok(back.length === bytes.length && back.every((b, i) => b === bytes[i]), "byte for byte");
}

Deno.test({
  name: `fuzz: ${FRAMES_PER_PORT} random and mutated frames at each port (seed ${SEED})`,
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/mod`);
    const daemon = await startDaemon(
      dir,
      [{ name: "mod", path: `${dir}/mod`, users: null, anonymousWrite: true }],
      ["tls = false"],
    );
    try {
      const server = await findServerPid(daemon.pid);
      await healthyPush(daemon, dir, "before");
      const baseRss = rssBytes(server);
      const baseFds = fdCount(server);
      const random = new Random(SEED);
      await t.step("control port", async () => {
        const calls = await fuzzControl(daemon.address, random);
        console.log(
          `control port: ${FRAMES_PER_PORT} messages in ${calls} connections; ` +
            JSON.stringify(Object.fromEntries(outcomes)),
        );
        ok((outcomes.get("answered") ?? 0) > calls / 8, "the connections reached the session");
        ok(isAlive(server), `the server died (seed ${SEED})`);
      });
      await t.step("data port", async () => {
        const connections = await fuzzData(daemon.address, random);
        console.log(`data port: ${FRAMES_PER_PORT} records over ${connections} connections`);
        ok(isAlive(server), `the server died (seed ${SEED})`);
      });
      await t.step("the same server still serves, memory and descriptors bounded", async () => {
        equal(await findServerPid(daemon.pid), server, "not restarted");
        await healthyPush(daemon, dir, "after");
        const rss = rssBytes(server);
        console.log(`server RSS ${Math.round(baseRss / MiB)} → ${Math.round(rss / MiB)} MiB`);
        ok(rss < baseRss + 256 * MiB, `memory grew by ${Math.round((rss - baseRss) / MiB)} MiB`);
        const fds = await settle(() => fdCount(server), (n) => n <= baseFds + 4, 30_000);
        ok(fds <= baseFds + 4, `descriptors ${baseFds} → ${fds}`);
      });
    } finally {
      await daemon.stop();
    }
  });
});

Deno.test({
  name: "fuzz: garbage at the TLS ports of a TLS daemon",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/mod`);
    const daemon = await startDaemon(dir, [{ name: "mod", path: `${dir}/mod` }]);
    try {
      const server = await findServerPid(daemon.pid);
      const random = new Random(SEED + 1);
      for (let i = 0; i < 300; i++) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: daemon.port });
        try {
          // A TLS record header now and then, so the handshake parser sees plausible starts.
          const head = random.int(2) === 0 ? [0x16, 0x03, random.int(4), ...random.bytes(2)] : [];
          await conn.write(Uint8Array.from([...head, ...random.bytes(random.int(2048))]));
        } catch { /* refused */ }
        try {
          conn.close();
        } catch { /* closed */ }
      }
      ok(isAlive(server));
      await healthyPushTls(daemon, dir);
    } finally {
      await daemon.stop();
    }
  });
});

async function healthyPushTls(daemon: TestDaemon, dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/src`, { recursive: true });
  await Deno.writeTextFile(`${dir}/src/a.txt`, "still serving\n");
  const result = await runBlit(["copy", `${dir}/src/`, `${daemon.address}:/mod/after/`]);
  equal(result.code, 0, result.stderr);
  equal(await Deno.readTextFile(`${dir}/mod/after/a.txt`), "still serving\n");
}
